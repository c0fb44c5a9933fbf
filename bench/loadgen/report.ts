/** Rendering of the MQTT comparison table: metric | Bridgehead | Mosquitto | ratio | target [| Node floor | floor ratio]. */

export type TargetName = 'Bridgehead' | 'Mosquitto' | 'Node floor';

/** How a metric reads: which direction is better decides nothing here but the legend. */
export interface MetricDef {
  key: string;
  label: string;
  unit: 'rate' | 'ms' | 'kb' | 'cores' | 'fraction' | 'count';
  /** Design target, checked on the Bridgehead value. */
  target?: { kind: 'ratio-at-least'; value: number } | { kind: 'ratio-at-most'; value: number } | { kind: 'at-most'; value: number };
  /** No ratio: the two columns do not measure the same thing. */
  noRatio?: boolean;
}

export interface Cell {
  value: number | null;
  /** Shown after the value, e.g. "(3 failed)". */
  note?: string;
}

export type Results = Map<TargetName, Map<string, Cell>>;

export function formatValue(value: number | null, unit: MetricDef['unit']): string {
  if (value === null || !Number.isFinite(value)) return '—';
  switch (unit) {
    case 'rate':
      return Math.round(value).toLocaleString('en-US');
    case 'count':
      return Math.round(value).toLocaleString('en-US');
    case 'ms':
      return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
    case 'kb':
      return value.toFixed(1);
    case 'cores':
      return value.toFixed(2);
    case 'fraction':
      return `${(value * 100).toFixed(0)}%`;
  }
}

const UNIT_SUFFIX: Record<MetricDef['unit'], string> = { rate: '/s', ms: ' ms', kb: ' KB', cores: ' cores', fraction: '', count: '' };

/** Ratio Bridgehead / Mosquitto, or null when either side is missing or zero. */
export function ratio(bridgehead: number | null, mosquitto: number | null): number | null {
  if (bridgehead === null || mosquitto === null || !Number.isFinite(bridgehead) || !Number.isFinite(mosquitto) || mosquitto === 0) return null;
  return bridgehead / mosquitto;
}

function targetCheck(def: MetricDef, bh: number | null, r: number | null, floor: number | null, floorRatio: number | null): string {
  const t = def.target;
  if (t === undefined) return '';
  // A target the Node floor misses too is out of reach of any Node server doing that work.
  const missed = (floorMisses: boolean): string => `MISSED${floorMisses ? ' (so does the Node floor)' : ''}`;
  if (t.kind === 'at-most') {
    const goal = `≤ ${t.value}${UNIT_SUFFIX[def.unit]}`;
    return bh === null ? goal : `${goal} ${bh <= t.value ? 'met' : missed(floor !== null && floor > t.value)}`;
  }
  if (t.kind === 'ratio-at-most') {
    const goal = `≤ ${t.value.toFixed(1)}×`;
    return r === null ? goal : `${goal} ${r <= t.value ? 'met' : missed(floorRatio !== null && floorRatio > t.value)}`;
  }
  const goal = `≥ ${t.value.toFixed(1)}×`;
  return r === null ? goal : `${goal} ${r >= t.value ? 'met' : missed(floorRatio !== null && floorRatio < t.value)}`;
}

/**
 * A fixed-width text table; rows with no value on either side are left out. When the results
 * hold a Node floor (the least any Node server doing the same work costs), its figure and its
 * ratio to Mosquitto get columns of their own.
 */
export function renderTable(defs: readonly MetricDef[], results: Results): string {
  const bhMap = results.get('Bridgehead');
  const mqMap = results.get('Mosquitto');
  const floorMap = results.get('Node floor');
  const header = ['metric', 'Bridgehead', 'Mosquitto', 'ratio BH/MQ', 'target'];
  if (floorMap !== undefined) header.push('Node floor', 'floor/MQ');
  const rows: string[][] = [header];
  const cell = (c: Cell | undefined, unit: MetricDef['unit']): string => (c === undefined ? 'n/a' : `${formatValue(c.value, unit)}${c.note === undefined ? '' : ` ${c.note}`}`);
  for (const def of defs) {
    const bh = bhMap?.get(def.key);
    const mq = mqMap?.get(def.key);
    if (bh === undefined && mq === undefined) continue;
    const r = def.noRatio === true ? null : ratio(bh?.value ?? null, mq?.value ?? null);
    const floor = floorMap?.get(def.key);
    const fr = def.noRatio === true ? null : ratio(floor?.value ?? null, mq?.value ?? null);
    const row = [
      `${def.label}${UNIT_SUFFIX[def.unit] === '' ? '' : ` (${UNIT_SUFFIX[def.unit].trim()})`}`,
      cell(bh, def.unit),
      cell(mq, def.unit),
      r === null ? (def.noRatio === true && mq !== undefined ? 'n/a' : '—') : `${r.toFixed(2)}×`,
      targetCheck(def, bh?.value ?? null, r, floor?.value ?? null, fr),
    ];
    if (floorMap !== undefined) row.push(floor === undefined ? '' : cell(floor, def.unit), fr === null ? '' : `${fr.toFixed(2)}×`);
    rows.push(row);
  }
  const widths = header.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  const line = (row: string[]): string =>
    row
      .map((c, col) => (col === 0 ? c.padEnd(widths[col] ?? 0) : c.padStart(widths[col] ?? 0)))
      .join(' | ')
      .trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(header), sep, ...rows.slice(1).map(line)].join('\n');
}

/**
 * The same table for one server only (metric | <column>), for figures with nothing to compare
 * against; rows without a value are left out.
 */
export function renderSingleTable(defs: readonly MetricDef[], cells: ReadonlyMap<string, Cell>, column = 'Bridgehead'): string {
  const rows: string[][] = [['metric', column]];
  for (const def of defs) {
    const c = cells.get(def.key);
    if (c === undefined) continue;
    rows.push([
      `${def.label}${UNIT_SUFFIX[def.unit] === '' ? '' : ` (${UNIT_SUFFIX[def.unit].trim()})`}`,
      `${formatValue(c.value, def.unit)}${c.note === undefined ? '' : ` ${c.note}`}`,
    ]);
  }
  const widths = [0, 1].map((col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  const line = (row: string[]): string =>
    row
      .map((c, col) => (col === 0 ? c.padEnd(widths[col] ?? 0) : c.padStart(widths[col] ?? 0)))
      .join(' | ')
      .trimEnd();
  return [line(rows[0] ?? []), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.slice(1).map(line)].join('\n');
}
