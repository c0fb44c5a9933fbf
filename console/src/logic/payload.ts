/** How a message payload is shown. */
export type PayloadView = 'text' | 'json' | 'hex';

/** Bytes of a base64 string (the API's `bytes` fields); an empty array for none. */
export function fromBase64(b64: string | undefined): Uint8Array {
  if (!b64) return new Uint8Array();
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The UTF-8 text of the bytes, or undefined when they are not valid UTF-8. */
export function asText(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Rows of 16 bytes: offset, hex, and the printable ASCII beside it. */
export function asHex(bytes: Uint8Array): string {
  const rows: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const chunk = bytes.subarray(off, off + 16);
    const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    rows.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return rows.join('\n');
}

/** The payload as asked: JSON pretty-printed (or the reason it is not JSON), text, or hex rows. */
export function formatPayload(bytes: Uint8Array, view: PayloadView): { text: string; note?: string } {
  if (view === 'hex') return { text: asHex(bytes) };
  const text = asText(bytes);
  if (text === undefined) return { text: asHex(bytes), note: 'Not UTF-8 text: shown as hex.' };
  if (view === 'text') return { text };
  try {
    return { text: JSON.stringify(JSON.parse(text) as unknown, null, 2) };
  } catch {
    return { text, note: 'Not JSON: shown as text.' };
  }
}

/** The view that shows a payload best: JSON if it parses, text if it is UTF-8, hex otherwise. */
export function bestView(bytes: Uint8Array): PayloadView {
  const text = asText(bytes);
  if (text === undefined) return 'hex';
  try {
    JSON.parse(text);
    return 'json';
  } catch {
    return 'text';
  }
}
