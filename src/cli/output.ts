import { evaluate, type FilterNode } from './filter.js';

/**
 * Output of the admin CLI, gcloud's `--format`: the API's JSON as-is (`json`), YAML (`yaml`, and
 * `text` for single resources), `value(FIELD,...)` lines, `table(FIELD,...)` columns, or the
 * command's own table (`text` for lists).
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export type Format = 'json' | 'yaml' | 'text' | 'value' | 'table';

/** One field of a `value(...)`/`table(...)` projection: `path[.basename()][:label=LABEL]`. */
export interface Projection {
  path: string;
  basename: boolean;
  label?: string;
}

export interface OutputFormat {
  kind: Format;
  /** Empty unless the format named fields. */
  fields: Projection[];
}

export const FORMAT_HELP = "json|yaml|text|value(FIELD[,FIELD...])|table(FIELD[,FIELD...]), e.g. --format 'value(id)'";

export class FormatSyntaxError extends Error {}

/** Parses `--format`; the error text says what was wrong and shows an example. */
export function parseFormat(text: string): OutputFormat {
  const m = /^\s*([a-z]+)\s*(?:\((.*)\))?\s*$/s.exec(text);
  const kind = m?.[1] as Format | undefined;
  if (!m || kind === undefined || !['json', 'yaml', 'text', 'value', 'table'].includes(kind)) {
    throw new FormatSyntaxError(`--format must be ${FORMAT_HELP}; got "${text}".`);
  }
  if (m[2] === undefined || (m[2].trim() === '' && kind !== 'text')) {
    if (kind === 'value' || kind === 'table') throw new FormatSyntaxError(`--format ${kind} needs fields, e.g. --format '${kind}(id,numId)'; got "${text}".`);
    return { kind, fields: [] };
  }
  if (kind === 'text') throw new FormatSyntaxError(`--format text takes no fields; for chosen fields use value(...) or table(...), e.g. --format 'value(id)'; got "${text}".`);
  const fields = m[2].split(',').map((f) => f.trim());
  if (fields.some((f) => f === '')) throw new FormatSyntaxError(`--format ${kind}(...) has an empty field, e.g. --format '${kind}(id,numId)'; got "${text}".`);
  return { kind, fields: fields.map((f) => parseProjection(f, text)) };
}

function parseProjection(field: string, whole: string): Projection {
  const m = /^([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*?)(\.basename\(\))?(?::label=(.*))?$/.exec(field);
  if (!m) throw new FormatSyntaxError(`--format: "${field}" is not a field path, e.g. --format 'value(gatewayConfig.gatewayType,name.basename())'; got "${whole}".`);
  const p: Projection = { path: m[1]!, basename: m[2] !== undefined };
  if (m[3] !== undefined) p.label = m[3];
  return p;
}

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

/** A value as `value(...)` prints it: lists joined with `;`, maps as `k=v;...`, booleans True/False (gcloud's Python rendering). */
export function valueText(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' && x !== null ? JSON.stringify(x) : valueText(x))).join(';');
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${typeof x === 'object' && x !== null ? JSON.stringify(x) : valueText(x)}`).join(';');
  return String(v);
}

function projected(row: JsonObject, p: Projection): Json | undefined {
  const v = pick(row, p.path);
  if (!p.basename) return v;
  return typeof v === 'string' ? (v.split('/').pop() ?? '') : v;
}

/** One tab-separated line per resource. */
export function formatValues(rows: readonly JsonObject[], fields: readonly Projection[]): string {
  return rows.map((row) => fields.map((f) => valueText(projected(row, f))).join('\t') + '\n').join('');
}

/** `gatewayConfig.gatewayType` -> `GATEWAY_TYPE`, as gcloud heads a table column. */
export function columnHeader(p: Projection): string {
  if (p.label !== undefined) return p.label;
  const last = p.path.split('.').pop()!;
  return last.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/-/g, '_').toUpperCase();
}

export function projectionColumns(fields: readonly Projection[]): Column[] {
  return fields.map((f) => ({ header: columnHeader(f), value: (row: JsonObject) => valueText(projected(row, f)) }));
}

/** `yaml(a.b,c)` / `json(...)`: a copy holding only those paths. */
export function project(row: JsonObject, fields: readonly Projection[]): JsonObject {
  if (fields.length === 0) return row;
  const out: JsonObject = {};
  for (const f of fields) {
    const v = projected(row, f);
    if (v === undefined) continue;
    const parts = f.path.split('.');
    let cur = out;
    for (const part of parts.slice(0, -1)) {
      const next = cur[part];
      cur = (cur[part] = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {}) as JsonObject;
    }
    cur[parts[parts.length - 1]!] = v;
  }
  return out;
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

/*
 * Every string must read back as the same string in YAML 1.1 (PyYAML, gcloud's) and 1.2 parsers.
 * Plain only when nothing in it is YAML syntax and no resolver would take it for another type;
 * single quotes otherwise; double quotes with escapes when it holds characters a YAML stream may not
 * carry raw or that quotes would fold (line breaks, controls).
 */
const PLAIN = /^[A-Za-z0-9_/][A-Za-z0-9_ ./@:+=,-]*$|^[-+.][A-Za-z_/][A-Za-z0-9_ ./@:+=,-]*$/;
/** Booleans and nulls of YAML 1.1 and 1.2, compared lower-cased. */
const RESERVED = new Set(['true', 'false', 'null', 'yes', 'no', 'on', 'off', 'y', 'n', '~']);
/** Numbers, timestamps (a digit after an optional sign or dot) and .inf/.nan. */
const NUMERIC = /^[-+.]?[0-9]|^[-+]?\.(inf|nan)$/i;
/** Line breaks (YAML 1.1 also breaks at NEL, LS and PS), tabs, and what YAML does not allow raw. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const ESCAPE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]/u;
// eslint-disable-next-line no-control-regex -- as above
const ESCAPE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]|\p{Surrogate}/gu;

function doubleQuoted(s: string): string {
  const escaped = s
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(ESCAPE_ALL, (c) => {
      const named: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r' };
      return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    });
  return `"${escaped}"`;
}

function yamlString(s: string): string {
  if (ESCAPE.test(s)) return doubleQuoted(s);
  const plain =
    PLAIN.test(s) &&
    !s.endsWith(' ') &&
    !s.endsWith(':') &&
    !s.includes(': ') &&
    !s.startsWith('---') &&
    !RESERVED.has(s.toLowerCase()) &&
    !NUMERIC.test(s);
  return plain ? s : `'${s.replace(/'/g, "''")}'`;
}

/** Keys go through the same rules: `yes:` or `1:` would be a boolean or a number key. */
const yamlKey = yamlString;

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

/**
 * A `|` block keeps a string whole when it has text and at most one final line break (a second one
 * would need `|+`, whose trailing lines some emitters trim); not with characters only escapes carry.
 */
const blockable = (s: string): boolean => s.includes('\n') && !ESCAPE.test(s.replace(/\n/g, '')) && /\S/.test(s) && !s.endsWith('\n\n');

/**
 * The block's lines, its content two columns in from the node that holds it. When the first line
 * starts with a space or is empty, a parser would take its indentation from the wrong line, so the
 * indentation is given (`|2`).
 */
function block(s: string, pad: string): string[] {
  const body = s.endsWith('\n') ? s.slice(0, -1) : s;
  const indicator = /^[ \n]/.test(body) ? '2' : '';
  return [`|${indicator}${s.endsWith('\n') ? '' : '-'}`, ...body.split('\n').map((l) => (l === '' ? '' : pad + l))];
}

/** Lines for `value` at `indent`; the caller prefixes the first line with `key:` or `- `. */
function emit(value: Json, indent: number, lines: string[], prefix = ''): void {
  const pad = ' '.repeat(indent);
  if (typeof value === 'string' && blockable(value)) {
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
      // A block's content sits two columns in from the dash, where `|2` says it is.
      emit(item, typeof item === 'string' ? indent : indent + 2, sub, '');
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

/** What `--filter` and `--limit` do to a list before it is printed. */
export interface ListShaping {
  filter?: FilterNode;
  limit?: number;
}

/** The API list document with its item array replaced by `shown` (the array `rows` came from). */
function withItems(doc: JsonObject, rows: readonly JsonObject[], shown: JsonObject[]): JsonObject {
  const keys = Object.keys(doc).filter((k) => Array.isArray(doc[k]));
  const key = keys.find((k) => doc[k] === rows) ?? keys.find((k) => (doc[k] as Json[]).length === rows.length);
  return key === undefined ? doc : { ...doc, [key]: shown };
}

/** Where commands send their results; one instance per invocation. */
export class Printer {
  readonly spec: OutputFormat;
  /** The format's name; commands compare it with 'json' to decide whether to print a document at all. */
  readonly format: Format;

  constructor(
    format: Format | OutputFormat,
    private readonly streams: Streams = { stdout: process.stdout, stderr: process.stderr },
    private readonly shaping: ListShaping = {},
  ) {
    this.spec = typeof format === 'string' ? { kind: format, fields: [] } : format;
    this.format = this.spec.kind;
  }

  private write(s: string): void {
    this.streams.stdout.write(s);
  }

  private json(doc: Json): void {
    this.write(`${JSON.stringify(doc, null, 2)}\n`);
  }

  /** One API document: JSON verbatim, YAML (text, yaml), or the projection's line/table. */
  resource(doc: JsonObject): void {
    const { kind, fields } = this.spec;
    if (kind === 'json') this.json(project(doc, fields));
    else if (kind === 'value') this.write(formatValues([doc], fields));
    else if (kind === 'table') this.write(formatTable([doc], projectionColumns(fields)));
    else this.write(formatYaml(project(doc, fields)));
  }

  /** The rows `--filter` keeps, up to `--limit`. */
  shape(rows: readonly JsonObject[]): JsonObject[] {
    const { filter, limit } = this.shaping;
    const out: JsonObject[] = [];
    for (const row of rows) {
      if (limit !== undefined && out.length >= limit) break;
      if (filter === undefined || evaluate(filter, row)) out.push(row);
    }
    return out;
  }

  /**
   * A list: in json the API document (items filtered and limited), in yaml one `---` document per
   * resource, value/table per the projection, in text the command's table of `rows`.
   */
  list(doc: JsonObject, rows: readonly JsonObject[], columns: readonly Column[], noun: string): void {
    const { kind, fields } = this.spec;
    const shown = this.shape(rows);
    if (kind === 'json') {
      const shaped = shown.length === rows.length && fields.length === 0 ? doc : withItems(doc, rows, shown.map((r) => project(r, fields)));
      this.json(shaped);
      return;
    }
    if (shown.length === 0) {
      this.streams.stderr.write(`Listed 0 ${noun}.\n`);
      return;
    }
    if (kind === 'yaml') this.write(shown.map((r) => `---\n${formatYaml(project(r, fields))}`).join(''));
    else if (kind === 'value') this.write(formatValues(shown, fields));
    else if (kind === 'table') this.write(formatTable(shown, projectionColumns(fields)));
    else this.write(formatTable(shown, columns));
  }

  /** A human status line (`Created device [d1].`): stderr, so stdout stays parseable; not with json. */
  status(message: string): void {
    if (this.format !== 'json') this.streams.stderr.write(`${message}\n`);
  }

  /** A bare value (a JWT, a path) in text; `json` is printed (or projected) in the other formats. */
  value(text: string, json: JsonObject): void {
    if (this.format === 'text') this.write(`${text}\n`);
    else this.resource(json);
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
