import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One line a child printed: a JSON object, or the raw text of a line that was not one. */
export type ChildLine = Record<string, unknown>;

interface Waiter {
  match: (line: ChildLine) => boolean;
  resolve: (line: ChildLine) => void;
  reject: (e: Error) => void;
}

/**
 * A child process that reports as JSON lines on stdout and may be told to go on through stdin
 * (the key-file backends): the parent awaits the line it needs as soon as it is printed, and a
 * child that exits, crashes or outlives `timeoutMs` fails every wait with its output attached.
 */
export class JsonLinesChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: ChildLine[] = [];
  private waiters: Waiter[] = [];
  private err = '';
  private ended: Error | undefined;
  /** The exit code (null when killed), once the child has exited and its output is all in. */
  readonly exited: Promise<number | null>;

  constructor(command: string, args: readonly string[], opts: { env: NodeJS.ProcessEnv; timeoutMs: number }) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    createInterface({ input: this.child.stdout }).on('line', (text) => this.add(parse(text)));
    const timer = setTimeout(() => {
      this.finish(new Error(`the child did not finish within ${opts.timeoutMs} ms`));
      this.child.kill('SIGKILL');
    }, opts.timeoutMs);
    this.exited = new Promise((resolve, reject) => {
      this.child.on('error', (e) => {
        clearTimeout(timer);
        this.finish(e);
        reject(e);
      });
      this.child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.finish(new Error(`the child exited (code ${code}, signal ${signal})`));
        resolve(code);
      });
    });
  }

  /** The first line, printed or still to come, that `match` accepts. */
  next(match: (line: ChildLine) => boolean, what: string): Promise<ChildLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    if (this.ended) return Promise.reject(this.failure(what, this.ended));
    return new Promise((resolve, reject) => this.waiters.push({ match, resolve, reject: (e) => reject(this.failure(what, e)) }));
  }

  /** Writes one line to the child's stdin. */
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  stderr(): string {
    return this.err;
  }

  /** Kills the child if it is still running and waits for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited.catch(() => undefined);
  }

  private add(line: ChildLine): void {
    this.lines.push(line);
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.match(line)) w.resolve(line);
      else still.push(w);
    }
    this.waiters = still;
  }

  private finish(reason: Error): void {
    if (this.ended) return;
    this.ended = reason;
    for (const w of this.waiters) w.reject(reason);
    this.waiters = [];
  }

  private failure(what: string, reason: Error): Error {
    return new Error(`no ${what}: ${reason.message}\nstdout:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.err}`);
  }
}

function parse(text: string): ChildLine {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as ChildLine;
  } catch {
    // not JSON: kept as text, for the failure message
  }
  return { text };
}
