/** What a scan of the ReadyQueue does with one seq. */
export type ReadyVerdict = 'take' | 'keep' | 'drop' | 'stop';

/**
 * The seqs of a subscription's messages that wait for a consumer, ascending, so a redelivery goes
 * before newer messages (and before a later message of its ordering key). Taking from the front
 * only moves a head index: delivering a page costs nothing per message kept.
 */
export class ReadyQueue {
  private seqs: number[] = [];
  private head = 0;

  get size(): number {
    return this.seqs.length - this.head;
  }

  /** A seq above every seq ever queued (a new message from the log). */
  append(seq: number): void {
    this.seqs.push(seq);
  }

  /** A seq anywhere in order (a redelivery). */
  insert(seq: number): void {
    let lo = this.head;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    this.seqs.splice(lo, 0, seq);
  }

  /**
   * Visits seqs from the front until `visit` says 'stop' or the queue ends: 'take' and 'drop'
   * remove the seq, 'keep' leaves it in place, 'stop' leaves it and everything after it.
   */
  scan(visit: (seq: number) => ReadyVerdict): void {
    const kept: number[] = [];
    let i = this.head;
    for (; i < this.seqs.length; i++) {
      const verdict = visit(this.seqs[i]!);
      if (verdict === 'stop') break;
      if (verdict === 'keep') kept.push(this.seqs[i]!);
    }
    if (kept.length === 0) {
      this.head = i;
    } else {
      this.seqs = kept.concat(this.seqs.slice(i));
      this.head = 0;
    }
    if (this.head === this.seqs.length) this.clear();
    else if (this.head > 1024 && this.head * 2 > this.seqs.length) {
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.seqs = [];
    this.head = 0;
  }
}
