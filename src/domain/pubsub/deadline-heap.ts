/**
 * The one ordered structure of timed events a subscription has (lease deadlines, ends of retry
 * backoff): a binary min-heap on `at`. Entries are never removed early; each carries the token
 * its subject had when it was pushed, and the owner drops popped entries whose token is stale
 * (a lease acked or extended meanwhile). `compact` rebuilds it when stale entries pile up.
 */
export interface TimedEntry {
  at: number;
  seq: number;
  token: number;
}

export class DeadlineHeap {
  private items: TimedEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  push(entry: TimedEntry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.at <= entry.at) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  peek(): TimedEntry | undefined {
    return this.items[0];
  }

  pop(): TimedEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const r = l + 1;
      const child = r < items.length && items[r]!.at < items[l]!.at ? r : l;
      if (items[child]!.at >= last.at) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }

  /** Keeps only the entries `live` accepts. */
  compact(live: (entry: TimedEntry) => boolean): void {
    const kept = this.items.filter(live);
    this.items = [];
    for (const e of kept) this.push(e);
  }

  clear(): void {
    this.items = [];
  }
}
