import { echo } from '../echo.js';
import { invalidArgument } from '../errors.js';
import { checkFilterSize } from './pubsub-fields.js';

/**
 * Pub/Sub's subscription filter language (cloud.google.com/pubsub/docs/subscription-message-filter):
 *
 *   filter     := expr?                          (empty: every message)
 *   expr       := unary (AND unary)* | unary (OR unary)*
 *   unary      := (NOT | '-') unary | '(' expr ')' | condition
 *   condition  := attributes ':' key             (the key is present)
 *               | attributes '.' key ('=' | '!=') string
 *               | hasPrefix '(' attributes '.' key ',' string ')'
 *   key        := [A-Za-z0-9_-]+ | string         (other characters need a string literal)
 *
 * AND and OR are upper case and may not be mixed without parentheses, as Pub/Sub documents. String
 * literals are double- or single-quoted with C-style escapes (\n, \", \\, \xHH, \uHHHH,
 * \UHHHHHHHH, octal \ooo). Keys and values compare exactly (case-sensitive). `attributes.k != "v"`
 * holds when k is absent too: it is `NOT attributes.k = "v"` (docs/compat.md C-PS-FILTER-NE).
 * A filter is at most 256 bytes.
 */

export type FilterExpr =
  | { kind: 'has'; key: string }
  | { kind: 'equals'; key: string; value: string }
  | { kind: 'prefix'; key: string; prefix: string }
  | { kind: 'not'; expr: FilterExpr }
  | { kind: 'and' | 'or'; exprs: FilterExpr[] };

export type AttributePredicate = (attributes: Readonly<Record<string, string>>) => boolean;

const MATCH_ALL: AttributePredicate = () => true;

/** The parsed filter, or undefined for an empty one. INVALID_ARGUMENT naming `field`, with the position, otherwise. */
export function parseFilter(text: string, field = 'filter'): FilterExpr | undefined {
  checkFilterSize(text, field);
  return new Parser(text, field).parse();
}

/** A predicate over a message's attributes; throws like parseFilter. */
export function compileFilter(text: string, field = 'filter'): AttributePredicate {
  const expr = parseFilter(text, field);
  return expr === undefined ? MATCH_ALL : compile(expr);
}

function compile(e: FilterExpr): AttributePredicate {
  switch (e.kind) {
    case 'has':
      return (a) => Object.hasOwn(a, e.key);
    case 'equals':
      return (a) => Object.hasOwn(a, e.key) && a[e.key] === e.value;
    case 'prefix':
      return (a) => Object.hasOwn(a, e.key) && a[e.key]!.startsWith(e.prefix);
    case 'not': {
      const inner = compile(e.expr);
      return (a) => !inner(a);
    }
    case 'and': {
      const parts = e.exprs.map(compile);
      return (a) => parts.every((p) => p(a));
    }
    case 'or': {
      const parts = e.exprs.map(compile);
      return (a) => parts.some((p) => p(a));
    }
  }
}

const KEY_CHAR = /[A-Za-z0-9_-]/;
const WORD_CHAR = /[A-Za-z0-9_]/;
const SPACE = /[ \t\r\n\f\v]/;

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '`': '`',
  '?': '?',
};

class Parser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly field: string,
  ) {}

  parse(): FilterExpr | undefined {
    this.skipSpace();
    if (this.pos === this.text.length) return undefined;
    const expr = this.expr();
    this.skipSpace();
    if (this.pos < this.text.length) {
      if (this.peek() === ')') this.fail('unbalanced ")"');
      this.fail(`expected AND, OR or the end of the filter, found ${this.found()}`);
    }
    return expr;
  }

  private expr(): FilterExpr {
    const first = this.unary();
    const exprs = [first];
    let op: 'AND' | 'OR' | undefined;
    for (;;) {
      this.skipSpace();
      const at = this.pos;
      const next = this.keyword('AND') ? 'AND' : this.keyword('OR') ? 'OR' : undefined;
      if (next === undefined) {
        const word = this.peekWord();
        if (word === 'and' || word === 'or' || word === 'And' || word === 'Or') this.fail(`operators are upper case: write ${word.toUpperCase()}`);
        break;
      }
      if (op !== undefined && op !== next) {
        this.fail('AND and OR cannot be mixed without parentheses; group them, e.g. "a AND (b OR c)"', at);
      }
      op = next;
      exprs.push(this.unary());
    }
    if (op === undefined) return first;
    return { kind: op === 'AND' ? 'and' : 'or', exprs };
  }

  private unary(): FilterExpr {
    this.skipSpace();
    if (this.keyword('NOT')) return { kind: 'not', expr: this.unary() };
    if (this.peek() === '-') {
      this.pos++;
      return { kind: 'not', expr: this.unary() };
    }
    if (this.peek() === '(') {
      this.pos++;
      const inner = this.expr();
      this.skipSpace();
      this.expect(')', 'to close "("');
      return inner;
    }
    return this.condition();
  }

  private condition(): FilterExpr {
    const word = this.peekWord();
    if (word === 'hasPrefix') {
      this.pos += word.length;
      this.skipSpace();
      this.expect('(', 'after hasPrefix');
      this.skipSpace();
      this.attributesWord();
      this.expect('.', 'after "attributes" in hasPrefix(attributes.KEY, "prefix")');
      const key = this.key();
      this.skipSpace();
      this.expect(',', 'after the key in hasPrefix(attributes.KEY, "prefix")');
      this.skipSpace();
      const prefix = this.string('the prefix of hasPrefix');
      this.skipSpace();
      this.expect(')', 'to close hasPrefix(');
      return { kind: 'prefix', key, prefix };
    }
    this.attributesWord();
    const sep = this.peek();
    if (sep === ':') {
      this.pos++;
      return { kind: 'has', key: this.key() };
    }
    if (sep !== '.') this.fail(`expected ":" or "." after "attributes", found ${this.found()}`);
    this.pos++;
    const key = this.key();
    this.skipSpace();
    let negate = false;
    if (this.text.startsWith('!=', this.pos)) {
      negate = true;
      this.pos += 2;
    } else if (this.peek() === '=') {
      this.pos++;
    } else {
      this.fail(`expected "=" or "!=" after attributes.${echo(key)}, found ${this.found()}`);
    }
    this.skipSpace();
    const value = this.string('the value compared with');
    const equals: FilterExpr = { kind: 'equals', key, value };
    return negate ? { kind: 'not', expr: equals } : equals;
  }

  private attributesWord(): void {
    const word = this.peekWord();
    if (word !== 'attributes') {
      this.fail(`expected attributes:KEY, attributes.KEY = "value", hasPrefix(attributes.KEY, "prefix"), NOT or "(", found ${this.found()}`);
    }
    this.pos += word.length;
  }

  private key(): string {
    const c = this.peek();
    if (c === '"' || c === "'") {
      const key = this.string('an attribute key');
      if (key === '') this.fail('an attribute key must not be empty');
      return key;
    }
    const start = this.pos;
    while (this.pos < this.text.length && KEY_CHAR.test(this.text[this.pos]!)) this.pos++;
    if (this.pos === start) this.fail(`expected an attribute key, found ${this.found()} (keys with other characters than letters, digits, - and _ are written as string literals)`);
    return this.text.slice(start, this.pos);
  }

  private string(what: string): string {
    const quote = this.peek();
    if (quote !== '"' && quote !== "'") this.fail(`expected a string literal as ${what}, found ${this.found()}`);
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string literal', start);
      const c = this.text[this.pos]!;
      if (c === quote) {
        this.pos++;
        return out;
      }
      if (c !== '\\') {
        out += c;
        this.pos++;
        continue;
      }
      out += this.escape();
    }
  }

  /** At a backslash: the character it stands for. */
  private escape(): string {
    const at = this.pos;
    const c = this.text[this.pos + 1];
    if (c === undefined) this.fail('unterminated string literal', at);
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) {
      this.pos += 2;
      return simple;
    }
    const hex = (digits: number): string => {
      const h = this.text.slice(this.pos + 2, this.pos + 2 + digits);
      if (!new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(h)) this.fail(`invalid escape: \\${c} needs ${digits} hex digits`, at);
      const code = parseInt(h, 16);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail('invalid escape: not a Unicode code point', at);
      this.pos += 2 + digits;
      return String.fromCodePoint(code);
    };
    if (c === 'x' || c === 'X') return hex(2);
    if (c === 'u') return hex(4);
    if (c === 'U') return hex(8);
    const octal = this.text.slice(this.pos + 1, this.pos + 4);
    if (/^[0-3][0-7][0-7]$/.test(octal)) {
      this.pos += 4;
      return String.fromCharCode(parseInt(octal, 8));
    }
    this.fail(`invalid escape "\\${c}"`, at);
  }

  /** Consumes `word` when it stands alone here (not the start of a longer word). */
  private keyword(word: string): boolean {
    if (!this.text.startsWith(word, this.pos)) return false;
    const after = this.text[this.pos + word.length];
    if (after !== undefined && WORD_CHAR.test(after)) return false;
    this.pos += word.length;
    return true;
  }

  private peekWord(): string {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos, this.pos + 64));
    return m ? m[0] : '';
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private expect(c: string, why: string): void {
    if (this.peek() !== c) this.fail(`expected "${c}" ${why}, found ${this.found()}`);
    this.pos++;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && SPACE.test(this.text[this.pos]!)) this.pos++;
  }

  private found(): string {
    if (this.pos >= this.text.length) return 'the end of the filter';
    return `"${echo(this.text.slice(this.pos, this.pos + 16), 16)}"`;
  }

  private fail(what: string, at = this.pos): never {
    throw invalidArgument(this.field, `Invalid ${this.field} at position ${at + 1}: ${what}.`);
  }
}
