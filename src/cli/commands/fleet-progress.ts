/**
 * Progress of a long fleet command on stderr: a bar redrawn in place on a terminal, otherwise one
 * line every few seconds (logs and CI), each with the rate so far. stdout stays for results.
 */
export class Progress {
  private readonly tty: boolean;
  private started = Date.now();
  private lastDraw = 0;
  private phase = '';
  private total = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private unit = 'devices',
    private readonly quiet = false,
  ) {
    this.tty = out.isTTY === true;
  }

  /** A new phase of `total` items; the rate restarts with it. */
  begin(phase: string, total: number, unit = this.unit): void {
    this.finishLine();
    this.unit = unit;
    this.phase = phase;
    this.total = total;
    this.started = Date.now();
    this.lastDraw = this.started;
  }

  update(done: number): void {
    if (this.quiet) return;
    const now = Date.now();
    if (now - this.lastDraw < (this.tty ? 100 : 2000)) return;
    this.lastDraw = now;
    this.draw(done, now);
  }

  /** The phase's last figure, always shown; returns the rate (items/s). */
  end(done: number): number {
    const now = Date.now();
    const rate = this.rate(done, now);
    // A phase too short to watch (nothing to compare in an empty data directory) shows nothing.
    if (!this.quiet && (this.drawn || now - this.started >= (this.tty ? 100 : 1000))) this.draw(done, now, true);
    this.finishLine();
    this.phase = '';
    return rate;
  }

  private rate(done: number, now: number): number {
    return done / Math.max((now - this.started) / 1000, 0.001);
  }

  private draw(done: number, now: number, _final = false): void {
    const rate = Math.round(this.rate(done, now)).toLocaleString('en-US');
    const frac = this.total > 0 ? Math.min(done / this.total, 1) : 1;
    const counts = `${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} ${this.unit}, ${rate}/s`;
    if (this.tty) {
      const width = 30;
      const filled = Math.round(frac * width);
      this.out.write(`\r${this.phase} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round(frac * 100)}% ${counts}\x1b[K`);
      this.drawn = true;
    } else {
      this.out.write(`${this.phase}: ${Math.round(frac * 100)}% ${counts}\n`);
    }
  }

  private drawn = false;

  private finishLine(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
