/**
 * The device IDs of a `devices:connections` request, split so that each request is accepted: at
 * most `maxIds` IDs (the API allows 500) and at most `maxChars` characters of encoded query,
 * well under the 16 KiB Node allows a request line and its headers (the bearer token included).
 * One request for a gateway's hundreds of bound devices would be refused whole.
 */
export function idChunks(ids: readonly string[], maxChars = 6000, maxIds = 100): string[][] {
  const chunks: string[][] = [];
  let chunk: string[] = [];
  let chars = 0;
  for (const id of ids) {
    // As the query string carries it: the ID encoded, and the encoded comma before it (%2C).
    const cost = new URLSearchParams({ x: id }).toString().length - 2 + 3;
    if (chunk.length > 0 && (chunk.length >= maxIds || chars + cost > maxChars)) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(id);
    chars += cost;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
