import { echo } from '../../domain/echo.js';
import { ApiError } from '../../domain/errors.js';
import type { Json } from './json-read.js';

/**
 * Request body decoding with the limits of protobuf's JSON parsers, which Google's front end
 * applied before any method saw the request (docs/compat.md C-JSON-DEPTH, C-JSON-STRICT): UTF-8
 * only, nesting at most MAX_JSON_DEPTH deep, no name twice in one object. JSON.parse does the
 * parsing; a single non-recursive scan before it enforces what JSON.parse cannot see (it keeps the
 * last of two equal names) or would only discover by exhausting the stack of whatever walks its
 * result.
 */

/** protobuf's JSON parsers refuse deeper nesting (their recursion limit is 100). */
export const MAX_JSON_DEPTH = 100;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes of a request body to its JSON value; undefined for an empty (or blank) body. */
export function parseJsonBody(bytes: Uint8Array): Json | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError('INVALID_ARGUMENT', 'Invalid JSON payload received. The request body is not valid UTF-8.', { reason: 'INVALID_BODY' });
  }
  if (text.trim() === '') return undefined;
  scanJson(text);
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new ApiError('INVALID_ARGUMENT', 'The request body is not valid JSON.', { reason: 'INVALID_BODY' });
  }
}

/** One open object or array of the scan. */
interface Frame {
  /** Names seen so far; undefined for an array. */
  names: Set<string> | undefined;
  /** True right after `{` or `,` of an object: the next string is a name. */
  expectName: boolean;
  /** The member being read: its name, or its index in an array. */
  at: string | number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * Refuses nesting deeper than MAX_JSON_DEPTH, repeated names and unpaired surrogate escapes, in one
 * pass over the text with an explicit stack. Syntax errors are left to JSON.parse: the scan only has to be right about valid
 * JSON, and stops where a string never ends.
 */
function scanJson(text: string): void {
  const stack: Frame[] = [];
  // Valid UTF-8 text holds no unpaired surrogate; only a \uD8xx-style escape can make one.
  const surrogateEscapes = SURROGATE_ESCAPE.test(text);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) return;
      if (surrogateEscapes) checkSurrogates(text, i, end);
      const top = stack[stack.length - 1];
      if (top?.names && top.expectName) {
        const name = decodeName(text, i, end);
        if (name === undefined) return;
        if (top.names.has(name)) {
          throw new ApiError('INVALID_ARGUMENT', `Invalid JSON payload received. Duplicate name "${echo(name)}"${where(stack)}.`, { reason: 'INVALID_BODY' });
        }
        top.names.add(name);
        top.at = name;
        top.expectName = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length === MAX_JSON_DEPTH) {
        throw new ApiError('INVALID_ARGUMENT', `Invalid JSON payload received. Nesting deeper than ${MAX_JSON_DEPTH} levels.`, { reason: 'INVALID_BODY' });
      }
      stack.push(c === 0x7b ? { names: new Set(), expectName: true, at: '' } : { names: undefined, expectName: false, at: 0 });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === COMMA) {
      const top = stack[stack.length - 1];
      if (top?.names) top.expectName = true;
      else if (top) top.at = (top.at as number) + 1;
    }
  }
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** protobuf's parser refuses a string that is not valid Unicode, such as "\uD800" alone. */
function checkSurrogates(text: string, start: number, end: number): void {
  if (!SURROGATE_ESCAPE.test(text.slice(start + 1, end))) return;
  let value: string;
  try {
    value = JSON.parse(text.slice(start, end + 1)) as string;
  } catch {
    return; // a bad escape: JSON.parse refuses the whole body
  }
  if (UNPAIRED_SURROGATE.test(value)) {
    throw new ApiError('INVALID_ARGUMENT', 'Invalid JSON payload received. A string holds an unpaired UTF-16 surrogate (\\uD800-\\uDFFF).', { reason: 'INVALID_BODY' });
  }
}

/** Index of the quote that closes the string opening at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let j = start;
  for (;;) {
    j = text.indexOf('"', j + 1);
    if (j < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return j;
  }
}

/** A name's value: `"a"` and `"\u0061"` are the same name. Undefined for a bad escape (JSON.parse will say so). */
function decodeName(text: string, start: number, end: number): string | undefined {
  const raw = text.slice(start + 1, end);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(text.slice(start, end + 1)) as string;
  } catch {
    return undefined;
  }
}

/** Where in the body, as a path of the names given (` at 'a.b[2]'`), for the duplicate-name message. */
function where(stack: Frame[]): string {
  let path = '';
  for (const f of stack.slice(0, -1)) path += typeof f.at === 'number' ? `[${f.at}]` : `${path === '' ? '' : '.'}${echo(f.at)}`;
  return path === '' ? '' : ` at '${path}'`;
}
