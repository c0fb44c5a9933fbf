/**
 * gcloud's `--filter` language, the subset a `gcloud iot ... list` user types: `key=v`, `key!=v`,
 * `key:v` (has; `key:*` exists), `key~re`, `key!~re`, `<`, `<=`, `>`, `>=`, AND/OR/NOT (and `-`
 * for NOT), parentheses, adjacency as AND, quoted values, bare words matching anywhere. Parsed
 * once into a tree, evaluated client-side on API resources (plain JSON).
 */

export type FilterJson = null | boolean | number | string | FilterJson[] | { [k: string]: FilterJson };

export type Op = '=' | '!=' | ':' | '~' | '!~' | '<' | '<=' | '>' | '>=';

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'term'; key: string; op: Op; values: string[]; regex?: RegExp }
  | { kind: 'word'; value: string };

/** A syntax error; `position` is 1-based, counted in characters of the expression. */
export class FilterSyntaxError extends Error {
  constructor(
    readonly position: number,
    readonly detail: string,
    readonly expression: string,
  ) {
    super(`invalid --filter at position ${position}: ${detail} in '${expression}'.`);
    this.name = 'FilterSyntaxError';
  }
}

const OPS: readonly Op[] = ['!=', '!~', '<=', '>=', '=', ':', '~', '<', '>'];
const KEY_START = /[A-Za-z_]/;
const KEY_CHAR = /[A-Za-z0-9_.-]/;

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  fail(detail: string, at = this.pos): never {
    throw new FilterSyntaxError(at + 1, detail, this.text);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.text.length;
  }

  /** An upper-case keyword standing alone (followed by space, a parenthesis or the end). */
  private keyword(word: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(word, this.pos)) return false;
    const after = this.text[this.pos + word.length];
    if (after !== undefined && !/[\s(]/.test(after)) return false;
    this.pos += word.length;
    return true;
  }

  parse(): FilterNode {
    if (this.atEnd()) this.fail('the expression is empty');
    const node = this.or();
    if (!this.atEnd()) this.fail(this.text[this.pos] === ')' ? 'unmatched ")"' : `unexpected "${this.text[this.pos]!}"`);
    return node;
  }

  private or(): FilterNode {
    let left = this.and();
    while (this.keyword('OR')) {
      if (this.atEnd()) this.fail('expected a term after OR');
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): FilterNode {
    let left = this.unary();
    for (;;) {
      if (this.keyword('AND')) {
        if (this.atEnd()) this.fail('expected a term after AND');
        left = { kind: 'and', left, right: this.unary() };
        continue;
      }
      // Adjacent terms are ANDed, as in gcloud.
      if (this.atEnd() || this.text[this.pos] === ')' || this.peekKeyword('OR')) return left;
      left = { kind: 'and', left, right: this.unary() };
    }
  }

  private peekKeyword(word: string): boolean {
    const save = this.pos;
    const found = this.keyword(word);
    this.pos = save;
    return found;
  }

  private unary(): FilterNode {
    if (this.keyword('NOT')) {
      if (this.atEnd()) this.fail('expected a term after NOT');
      return { kind: 'not', operand: this.unary() };
    }
    this.skipSpace();
    if (this.text[this.pos] === '-' && this.pos + 1 < this.text.length && /[A-Za-z_(]/.test(this.text[this.pos + 1]!)) {
      this.pos++;
      return { kind: 'not', operand: this.unary() };
    }
    return this.primary();
  }

  private primary(): FilterNode {
    this.skipSpace();
    const start = this.pos;
    const c = this.text[this.pos];
    if (c === '(') {
      this.pos++;
      if (this.atEnd()) this.fail('expected a term after "("');
      if (this.text[this.pos] === ')') this.fail('empty parentheses');
      const inner = this.or();
      this.skipSpace();
      if (this.text[this.pos] !== ')') this.fail(`"(" at position ${start + 1} is not closed`);
      this.pos++;
      return inner;
    }
    if (c === ')') this.fail('unexpected ")"');
    if (c === '"' || c === "'") return { kind: 'word', value: this.quoted() };
    if (c === undefined || !KEY_START.test(c)) this.fail(`expected a field name, got "${c ?? ''}"`);
    while (this.pos < this.text.length && KEY_CHAR.test(this.text[this.pos]!)) this.pos++;
    const key = this.text.slice(start, this.pos);
    if (key.endsWith('.') || key.includes('..')) this.fail(`"${key}" is not a field path`, start);
    this.skipSpace();
    const op = OPS.find((o) => this.text.startsWith(o, this.pos));
    if (op === undefined) {
      // A bare word: gcloud matches it against every value of the resource.
      const next = this.text[this.pos];
      if (next !== undefined && !/[\s()]/.test(next)) this.fail(`unknown operator "${next}" after "${key}"`);
      return { kind: 'word', value: key };
    }
    const opAt = this.pos;
    this.pos += op.length;
    this.skipSpace();
    const values = this.operand(op);
    const term: FilterNode = { kind: 'term', key, op, values };
    if (op === '~' || op === '!~') {
      try {
        term.regex = new RegExp(values[0]!);
      } catch (e) {
        this.fail(`bad regular expression after "${op}": ${e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e)}`, opAt + op.length);
      }
    }
    return term;
  }

  /** The value after an operator: a quoted string, a `(a OR b)` list, or a run up to the next space. */
  private operand(op: Op): string[] {
    const c = this.text[this.pos];
    if (c === undefined) this.fail(`expected a value after "${op}"`);
    if (c === '"' || c === "'") return [this.quoted()];
    if (c === '(' && op !== '~' && op !== '!~') return this.valueList(op);
    if (c === ')') this.fail(`expected a value after "${op}"`);
    const start = this.pos;
    let depth = 0;
    // A regex may hold parentheses; they are part of the value while balanced.
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!;
      if (depth === 0 && /\s/.test(ch)) break;
      if (ch === '(') depth++;
      else if (ch === ')') {
        if (depth === 0) break;
        depth--;
      }
      this.pos++;
    }
    return [this.text.slice(start, this.pos)];
  }

  private valueList(op: Op): string[] {
    const open = this.pos;
    this.pos++;
    const values: string[] = [];
    for (;;) {
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === undefined) this.fail(`"(" at position ${open + 1} is not closed`);
      if (c === ')') {
        if (values.length === 0) this.fail(`expected a value after "${op}"`);
        this.pos++;
        return values;
      }
      if (values.length > 0 && this.keyword('OR')) continue;
      if (c === '"' || c === "'") {
        values.push(this.quoted());
        continue;
      }
      const start = this.pos;
      while (this.pos < this.text.length && !/[\s()]/.test(this.text[this.pos]!)) this.pos++;
      if (this.pos === start) this.fail(`unexpected "${c}"`);
      values.push(this.text.slice(start, this.pos));
    }
  }

  private quoted(): string {
    const quote = this.text[this.pos]!;
    const start = this.pos;
    this.pos++;
    let out = '';
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!;
      if (ch === '\\' && this.pos + 1 < this.text.length) {
        out += this.text[this.pos + 1]!;
        this.pos += 2;
        continue;
      }
      if (ch === quote) {
        this.pos++;
        return out;
      }
      out += ch;
      this.pos++;
    }
    return this.fail(`unterminated string (${quote}) starting`, start);
  }
}

export function parseFilter(text: string): FilterNode {
  return new Parser(text).parse();
}

/** The field paths a filter reads (for the fieldMask of a list request). */
export function filterFields(node: FilterNode): string[] {
  const out = new Set<string>();
  const walk = (n: FilterNode): void => {
    if (n.kind === 'term') out.add(n.key);
    else if (n.kind === 'not') walk(n.operand);
    else if (n.kind === 'and' || n.kind === 'or') {
      walk(n.left);
      walk(n.right);
    }
  };
  walk(node);
  return [...out];
}

/** Every value at a dotted path; lists along the way are looked through (`credentials.publicKey.format`). */
export function valuesAt(obj: FilterJson | undefined, path: string): FilterJson[] {
  let current: FilterJson[] = obj === undefined ? [] : [obj];
  for (const part of path.split('.')) {
    const next: FilterJson[] = [];
    for (const v of current.flatMap((x) => (Array.isArray(x) ? x : [x]))) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, part)) next.push(v[part]!);
    }
    current = next;
  }
  return current.flatMap((x) => (Array.isArray(x) ? x : [x]));
}

function text(v: FilterJson): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `*` matches any run of characters; with a `*` the whole value must match, as in gcloud. */
function glob(pattern: string, flags: string): RegExp {
  return new RegExp(`^${pattern.split('*').map(escapeRe).join('.*')}$`, flags);
}

const NUMERIC = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)?$/;

/** Numbers as numbers (numId is a string in JSON), timestamps as instants, else strings. */
function compare(a: string, b: string): number {
  if (NUMERIC.test(a) && NUMERIC.test(b)) return Number(a) - Number(b);
  if (TIMESTAMP.test(a) && TIMESTAMP.test(b)) {
    const ta = Date.parse(a);
    const tb = Date.parse(b);
    if (!Number.isNaN(ta) && !Number.isNaN(tb)) return ta - tb;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function equals(v: FilterJson, pattern: string): boolean {
  if (typeof v === 'boolean') return pattern.toLowerCase() === String(v);
  if (typeof v === 'number') return NUMERIC.test(pattern) && Number(pattern) === v;
  const s = text(v);
  if (pattern.includes('*')) return glob(pattern, '').test(s);
  return s === pattern || (NUMERIC.test(s) && NUMERIC.test(pattern) && Number(s) === Number(pattern));
}

function has(v: FilterJson, pattern: string): boolean {
  const s = text(v);
  if (pattern.includes('*')) return glob(pattern, 'i').test(s);
  return s.toLowerCase().includes(pattern.toLowerCase());
}

function matchesTerm(obj: FilterJson, term: Extract<FilterNode, { kind: 'term' }>): boolean {
  const values = valuesAt(obj, term.key).filter((v) => v !== null);
  const anyValue = (test: (v: FilterJson, p: string) => boolean): boolean => values.some((v) => term.values.some((p) => test(v, p)));
  switch (term.op) {
    case ':':
      if (term.values.length === 1 && term.values[0] === '*') return values.some((v) => !(v === '' || (typeof v === 'object' && v !== null && Object.keys(v).length === 0)));
      return anyValue(has);
    case '=':
      return anyValue(equals);
    case '!=':
      return !anyValue(equals);
    case '~':
      return values.some((v) => term.regex!.test(text(v)));
    case '!~':
      return !values.some((v) => term.regex!.test(text(v)));
    case '<':
      return anyValue((v, p) => compare(text(v), p) < 0);
    case '<=':
      return anyValue((v, p) => compare(text(v), p) <= 0);
    case '>':
      return anyValue((v, p) => compare(text(v), p) > 0);
    case '>=':
      return anyValue((v, p) => compare(text(v), p) >= 0);
  }
}

function containsWord(v: FilterJson, word: string): boolean {
  if (v === null) return false;
  if (Array.isArray(v)) return v.some((x) => containsWord(x, word));
  if (typeof v === 'object') return Object.values(v).some((x) => containsWord(x, word));
  return String(v).toLowerCase().includes(word.toLowerCase());
}

export function evaluate(node: FilterNode, obj: FilterJson): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, obj) && evaluate(node.right, obj);
    case 'or':
      return evaluate(node.left, obj) || evaluate(node.right, obj);
    case 'not':
      return !evaluate(node.operand, obj);
    case 'word':
      return containsWord(obj, node.value);
    case 'term':
      return matchesTerm(obj, node);
  }
}
