import { echo, ECHO_MAX_PATH_CHARS } from './echo.js';
import { invalidArgument } from './errors.js';
import { LIMITS } from './limits.js';

/** ID and value rules of spec §2.1. */

const RESOURCE_ID = /^[a-zA-Z][-a-zA-Z0-9._+~%]{2,254}$/;

export function checkResourceId(id: unknown, field: string, what: 'registry' | 'device'): string {
  if (typeof id !== 'string' || id === '') throw invalidArgument(field, `The ${what} ID (${field}) is required.`, 'REQUIRED_FIELD');
  if (!RESOURCE_ID.test(id)) {
    throw invalidArgument(
      field,
      `Invalid ${what} ID "${echo(id)}" (${field}): it must be 3-255 characters, start with a letter, and contain only letters, digits and - . _ + ~ %.`,
    );
  }
  if (id.startsWith('goog')) throw invalidArgument(field, `Invalid ${what} ID "${echo(id)}" (${field}): it must not start with "goog".`);
  return id;
}

export const isResourceId = (id: string): boolean => RESOURCE_ID.test(id) && !id.startsWith('goog');

const METADATA_KEY = /^[a-zA-Z][a-zA-Z0-9\-_.+~%]*$/;

export function checkMetadata(metadata: Record<string, string>, field: string): void {
  const keys = Object.keys(metadata);
  if (keys.length > LIMITS.maxMetadataPairs) {
    throw invalidArgument(field, `Too many metadata entries (${keys.length}); at most ${LIMITS.maxMetadataPairs} are allowed.`);
  }
  let total = 0;
  for (const key of keys) {
    const value = metadata[key]!;
    if (key.length > LIMITS.maxMetadataKeyChars || !METADATA_KEY.test(key)) {
      throw invalidArgument(
        `${field}.${echo(key, ECHO_MAX_PATH_CHARS)}`,
        `Invalid metadata key "${echo(key)}": 1-${LIMITS.maxMetadataKeyChars} characters, starting with a letter, letters, digits and - _ . + ~ % only.`,
      );
    }
    const bytes = utf8Length(value);
    if (bytes > LIMITS.maxMetadataValueBytes) {
      throw invalidArgument(`${field}.${echo(key, ECHO_MAX_PATH_CHARS)}`, `Metadata value of "${echo(key)}" is ${bytes} bytes; at most ${LIMITS.maxMetadataValueBytes} are allowed.`);
    }
    total += utf8Length(key) + bytes;
  }
  if (total >= LIMITS.maxMetadataTotalBytes) {
    throw invalidArgument(field, `Metadata keys and values total ${total} bytes; they must stay under ${LIMITS.maxMetadataTotalBytes}.`);
  }
}

/** UTF-8 byte length without a TextEncoder allocation. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const SUBFOLDER_MATCH = /^[a-zA-Z][-a-zA-Z0-9._+~%/]*$/;

export function checkSubfolderMatches(value: string, field: string): void {
  if (value === '') return;
  if (utf8Length(value) > 256 || !SUBFOLDER_MATCH.test(value)) {
    throw invalidArgument(field, `Invalid ${field} "${echo(value)}": up to 256 bytes, starting with a letter, letters, digits and - . _ + ~ % / only.`);
  }
}

export function checkCommandSubfolder(value: string, field: string): void {
  if (value.length > LIMITS.maxCommandSubfolderChars || /[+#]/.test(value) || value.includes('\0') || value.startsWith('/')) {
    throw invalidArgument(field, `Invalid ${field}: at most ${LIMITS.maxCommandSubfolderChars} characters, no leading "/", no "+", "#" or NUL.`);
  }
}
