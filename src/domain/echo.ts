/**
 * Client input quoted back in an error message (docs/compat.md C-ERROR-ECHO). A hostile caller can
 * send a 2 MiB ID; the error must not grow with it (nor copy it into every log line), so at most
 * ECHO_MAX_CHARS characters are kept and an ellipsis marks the cut.
 */
export const ECHO_MAX_CHARS = 64;

/** `max` is larger only for paths (request paths, field paths), longer than one ID when legitimate. */
export function echo(s: string, max: number = ECHO_MAX_CHARS): string {
  if (s.length <= max) return s;
  // Never cut a surrogate pair in half: the message would carry a lone surrogate.
  const high = s.charCodeAt(max - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? max - 1 : max;
  return `${s.slice(0, end)}…`;
}

/** The cut for a request path, a resource name from one, or a field path naming a user key. */
export const ECHO_MAX_PATH_CHARS = 256;

/** Any JSON value as it appears in a message: strings quoted and cut, containers named, not dumped. */
export function echoJson(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(echo(v));
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}
