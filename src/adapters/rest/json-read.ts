import { echo, ECHO_MAX_PATH_CHARS, echoJson } from '../../domain/echo.js';
import { invalidArgument } from '../../domain/errors.js';
import { ENUM_NUMBERS } from '../../domain/model.js';
import { isNumId } from '../../domain/names.js';

/**
 * Typed readers for proto3 JSON request values (spec §1.9). Each names the field it reads in
 * errors, in the proto's snake_case path, and accepts every encoding Google's front end accepted.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function readObject(v: Json | undefined, field: string): JsonObject | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(field, `Invalid value at '${field}': expected an object.`);
  return v;
}

export function readArray(v: Json | undefined, field: string): Json[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalidArgument(field, `Invalid value at '${field}': expected a list.`);
  return v;
}

export function readString(v: Json | undefined, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidArgument(field, `Invalid value at '${field}': expected a string.`);
  return v;
}

export function readBool(v: Json | undefined, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw invalidArgument(field, `Invalid value at '${field}': expected true or false.`);
}

/** int64/int32 as a JSON string or number; must be a safe integer. */
export function readInt(v: Json | undefined, field: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw invalidArgument(field, `Invalid value at '${field}': expected an integer, got ${echoJson(v)}.`);
  return n;
}

/** uint64 kept as its decimal string. */
export function readUint64String(v: Json | undefined, field: string): string {
  const s = typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : v;
  if (typeof s !== 'string' || !isNumId(s)) throw invalidArgument(field, `Invalid value at '${field}': expected an unsigned integer.`);
  return s.replace(/^0+(?=\d)/, '');
}

/** An enum by name or number. */
export function readEnum<T extends string>(v: Json | undefined, enumName: string, field: string): T | undefined {
  return readEnumIn<T>(v, ENUM_NUMBERS[enumName]!, field);
}

/** An enum of the given name → number table, by name or number. */
export function readEnumIn<T extends string>(v: Json | undefined, table: Readonly<Record<string, number>>, field: string): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' && Object.hasOwn(table, v)) return v as T;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  for (const [name, num] of Object.entries(table)) if (num === n) return name as T;
  throw invalidArgument(field, `Invalid value at '${field}': ${echoJson(v)} is not one of ${Object.keys(table).join(', ')}.`);
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;
const BASE64_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The value of one base64 character of either alphabet (the caller checked the alphabet). */
const sextet = (c: string): number => (c === '+' || c === '-' ? 62 : c === '/' || c === '_' ? 63 : BASE64_DIGITS.indexOf(c));

/** A length base64 can have, and no bits set in the last character past the last whole byte. */
function canonicalEnd(v: string): boolean {
  let end = v.length;
  while (end > 0 && v[end - 1] === '=') end--;
  const rest = end % 4;
  if (rest === 1) return false;
  // 2 characters left hold one byte (12 bits, 4 spare); 3 hold two (18 bits, 2 spare).
  const spare = rest === 2 ? 0x0f : rest === 3 ? 0x03 : 0;
  return spare === 0 || (sextet(v[end - 1]!) & spare) === 0;
}

/**
 * bytes: standard or URL-safe base64, padded or not. As Google's decoder (spec §3.10: `"123"` is
 * refused), the last character may not carry bits past the last byte: otherwise they would be
 * dropped, and what is stored would not be what the client sent.
 */
export function readBytes(v: Json | undefined, field: string): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !BASE64.test(v) || !canonicalEnd(v)) {
    throw invalidArgument(field, `Invalid value at '${field}' (TYPE_BYTES): Base64 decoding failed.`);
  }
  const b = Buffer.from(v, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** google.protobuf.Timestamp: RFC 3339 with Z or an offset; returns epoch ms. */
export function readTimestamp(v: Json | undefined, field: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const ms = typeof v === 'string' && RFC3339.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw invalidArgument(field, `Invalid value at '${field}': expected an RFC 3339 timestamp.`);
  return ms;
}

/** map<string,string>. */
export function readStringMap(v: Json | undefined, field: string): Record<string, string> | undefined {
  const o = readObject(v, field);
  if (!o) return undefined;
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') throw invalidArgument(`${field}.${echo(k, ECHO_MAX_PATH_CHARS)}`, `Invalid value at '${field}.${echo(k)}': expected a string.`);
  }
  // fromEntries defines own properties: a `__proto__` key stays a key (and fails the key rules)
  // instead of being assigned through the prototype setter and silently dropped.
  return Object.fromEntries(Object.entries(o)) as Record<string, string>;
}

/** Repeated query parameter: a single value or several. */
export function queryList(v: unknown): string[] {
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.flatMap((s) => (typeof s === 'string' ? s.split(',') : [])).filter((s) => s !== '');
}

export function queryString(v: unknown): string | undefined {
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : undefined;
  return typeof v === 'string' ? v : undefined;
}
