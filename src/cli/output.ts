/** Output of the admin CLI: the API's JSON as-is (`--format json`) or a readable rendering (`text`). */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export type Format = 'json' | 'text';

export interface Column {
  header: string;
  /** Dotted path into the row (`gatewayConfig.gatewayType`), or a function of the row. */
  value: string | ((row: JsonObject) => string);
}

export interface Streams {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** The value at a dotted path, or undefined. */
export function pick(obj: Json | undefined, path: string): Json | undefined {
  let cur: Json | undefined = obj;
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function scalar(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A left-aligned table with an upper-case header row, two spaces between columns (gcloud's list style). */
export function formatTable(rows: readonly JsonObject[], columns: readonly Column[]): string {
  const cells = rows.map((row) => columns.map((c) => (typeof c.value === 'string' ? scalar(pick(row, c.value)) : c.value(row))));
  const all = [columns.map((c) => c.header), ...cells];
  const widths = columns.map((_c, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd() + '\n').join('');
}

const PLAIN = /^[A-Za-z0-9_./@:+-][A-Za-z0-9_ ./@:+=,-]*$/;
const RESERVED = new Set(['true', 'false', 'null', 'yes', 'no', 'on', 'off', '~']);

function yamlString(s: string): string {
  if (s !== '' && PLAIN.test(s) && !s.endsWith(' ') && !s.includes(': ') && !RESERVED.has(s.toLowerCase()) && !/^[-+.]?[0-9]/.test(s)) {
    return s;
  }
  return `'${s.replace(/'/g, "''")}'`;
}

function yamlKey(k: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(k) ? k : yamlString(k);
}

/**
 * A YAML rendering of a JSON document, as `gcloud ... describe` prints resources: nested maps
 * indented by two, lists with `- `, multi-line strings (PEM keys) as `|` blocks.
 */
export function formatYaml(value: Json): string {
  const lines: string[] = [];
  emit(value, 0, lines);
  return lines.join('\n') + '\n';
}

function isEmptyContainer(v: Json): boolean {
  return typeof v === 'object' && v !== null && (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);
}

function inline(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return '[]';
  if (typeof v === 'object') return '{}';
  if (typeof v === 'string') return yamlString(v);
  return String(v);
}

function block(s: string, pad: string): string[] {
  const body = s.endsWith('\n') ? s.slice(0, -1) : s;
  return [`|${s.endsWith('\n') ? '' : '-'}`, ...body.split('\n').map((l) => (l === '' ? '' : pad + l))];
}

/** Lines for `value` at `indent`; the caller prefixes the first line with `key:` or `- `. */
function emit(value: Json, indent: number, lines: string[], prefix = ''): void {
  const pad = ' '.repeat(indent);
  if (typeof value === 'string' && value.includes('\n')) {
    const [head, ...rest] = block(value, pad + '  ');
    lines.push(`${prefix}${head!}`, ...rest);
    return;
  }
  if (value === null || typeof value !== 'object' || isEmptyContainer(value)) {
    lines.push(`${prefix}${inline(value)}`);
    return;
  }
  if (prefix !== '') lines.push(prefix.trimEnd());
  if (Array.isArray(value)) {
    for (const item of value) {
      const sub: string[] = [];
      emit(item, indent + 2, sub, '');
      // Put the item's first line right after the dash.
      lines.push(`${pad}- ${sub[0]!.trimStart()}`, ...sub.slice(1));
    }
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const childPad = typeof v === 'object' && v !== null && !isEmptyContainer(v) ? indent + 2 : indent;
    emit(v, childPad, lines, `${pad}${yamlKey(k)}: `);
  }
}

/** Where commands send their results; one instance per invocation. */
export class Printer {
  constructor(
    readonly format: Format,
    private readonly streams: Streams = { stdout: process.stdout, stderr: process.stderr },
  ) {}

  /** One API document: JSON verbatim, or YAML. */
  resource(doc: JsonObject): void {
    this.streams.stdout.write(this.format === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : formatYaml(doc));
  }

  /** A list: JSON document verbatim, or a table of `rows` (or a note when there are none). */
  list(doc: JsonObject, rows: readonly JsonObject[], columns: readonly Column[], noun: string): void {
    if (this.format === 'json') {
      this.streams.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else if (rows.length === 0) {
      this.streams.stderr.write(`Listed 0 ${noun}.\n`);
    } else {
      this.streams.stdout.write(formatTable(rows, columns));
    }
  }

  /** A human status line (`Created device [d1].`): stderr, text format only, so stdout stays parseable. */
  status(message: string): void {
    if (this.format === 'text') this.streams.stderr.write(`${message}\n`);
  }

  /** A bare value (a JWT, a path) in text; `json` is printed instead in JSON format. */
  value(text: string, json: JsonObject): void {
    this.streams.stdout.write(this.format === 'json' ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
  }
}

/** Readable form of a base64 payload: the UTF-8 text if printable, else the base64 itself. */
export function previewData(b64: Json | undefined, max = 40): string {
  if (typeof b64 !== 'string' || b64 === '') return '';
  const bytes = Buffer.from(b64, 'base64');
  const text = bytes.toString('utf8');
  // eslint-disable-next-line no-control-regex
  const printable = !text.includes('\uFFFD') && !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text);
  const shown = printable ? text.replace(/\r?\n/g, '\\n') : b64;
  return shown.length > max ? `${shown.slice(0, max - 3)}...` : shown;
}
