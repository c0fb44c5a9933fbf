/**
 * What a V8 heap snapshot (.heapsnapshot, from `--heapsnapshot-signal` or v8.writeHeapSnapshot)
 * holds, by kind and constructor: count and self size. Two of them subtracted show what a number
 * of connections added each. Pure: the caller reads the files.
 */

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export type HeapCensus = Map<string, { count: number; bytes: number }>;

/** Self size and count per `kind:name` (objects by constructor, strings, closures by function name, native by class). */
export function heapCensus(raw: RawSnapshot): HeapCensus {
  const fields = raw.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = raw.snapshot.meta.node_types[0];
  const census: HeapCensus = new Map();
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + typeAt]!] ?? '?';
    // Strings are told apart by kind only: their texts are the devices' own.
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number' ? '' : (raw.strings[raw.nodes[i + nameAt]!] ?? '?');
    const key = `${type}:${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
    const entry = census.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += raw.nodes[i + sizeAt]!;
    census.set(key, entry);
  }
  return census;
}

/** Lines: what `after` holds more than `before`, largest first, per `units` (e.g. connections added). */
export function censusDiff(before: HeapCensus, after: HeapCensus, units: number, rows = 40): string[] {
  const diff: Array<[string, number, number]> = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    if (a.bytes !== b.bytes) diff.push([key, (a.count - b.count) / units, (a.bytes - b.bytes) / units]);
  }
  diff.sort((x, y) => y[2] - x[2]);
  const total = diff.reduce((n, d) => n + d[2], 0);
  return [
    `heap growth per unit: ${total.toFixed(0)} bytes (self sizes)`,
    ...diff.slice(0, rows).map(([key, count, bytes]) => `${bytes.toFixed(0).padStart(7)} B ${count.toFixed(2).padStart(7)} ×  ${key}`),
  ];
}
