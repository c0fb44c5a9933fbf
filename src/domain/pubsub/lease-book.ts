import { DeadlineHeap, type TimedEntry } from './deadline-heap.js';
import { messageBytes, retryBackoffMs, type DeliveryRules } from './delivery-rules.js';
import type { AckState, PsMessage } from './pubsub-model.js';
import { ReadyQueue } from './ready-queue.js';

/**
 * The delivery state of one subscription, as a pure state machine over injected time: what was
 * read from the log and not yet acknowledged (ready, leased, waiting out a retry backoff, on its
 * way to the dead-letter topic), what was acknowledged above the floor, the consumers' flow
 * control and the ordering-key gates. The service reads the log, carries leases to consumers,
 * commits `drainCommit()` to the store and wakes `advance()` at `nextWake()`; nothing here waits.
 *
 * Memory is bounded by what was read and not acknowledged (the service reads ahead a bounded
 * amount, docs/compat.md C-PS-READ-AHEAD) and the acked seqs above the floor; time-driven work
 * lives in one heap per subscription, never a timer per message.
 */

/** 0 = no limit for the two maxima. */
export interface ConsumerLimits {
  ackDeadlineMs: number;
  maxMessages: number;
  maxBytes: number;
}

export interface Lease {
  seq: number;
  generation: number;
  message: PsMessage;
  /** 1 for the first delivery. */
  attempt: number;
}

type Phase = 'ready' | 'leased' | 'backoff' | 'dead-letter';

interface Entry {
  message: PsMessage;
  bytes: number;
  phase: Phase;
  attempts: number;
  generation: number;
  deadline: number;
  /** Changes whenever a timed event for this entry is superseded (see DeadlineHeap). */
  token: number;
  consumer: number | undefined;
}

interface Consumer {
  limits: ConsumerLimits;
  messages: number;
  bytes: number;
}

/** How long to wait before a dead-letter publish that failed is tried again. */
const DEAD_LETTER_RETRY_MS = 1000;

export class LeaseBook {
  private floor: number;
  /** Highest seq read from the log: every seq up to it is acked, skipped or an entry. */
  private cursorSeq: number;
  /** Acked seqs above the floor, committed or not. */
  private acked: Set<number>;
  private uncommitted: number[] = [];
  /** Unacknowledged messages read from the log; insertion order is seq order (reads only ascend). */
  private readonly entries = new Map<number, Entry>();
  private readonly ready = new ReadyQueue();
  private readonly heap = new DeadlineHeap();
  /** Ordering key -> entries of it that block the key (leased, in backoff, dead-lettering). */
  private readonly held = new Map<string, number>();
  private readonly consumers = new Map<number, Consumer>();
  private deadLetterQueue: number[] = [];
  private nextConsumer = 1;
  private nextGeneration: number;
  private nextToken = 1;

  constructor(
    state: AckState,
    private rules: DeliveryRules,
    /** Start of lease generations; the service passes the clock so IDs issued before a restart go stale. */
    generationSeed: number,
  ) {
    this.floor = state.floor;
    this.cursorSeq = state.floor;
    this.acked = new Set(state.acked.filter((s) => s > state.floor));
    this.nextGeneration = Math.max(1, Math.floor(generationSeed));
  }

  get cursor(): number {
    return this.cursorSeq;
  }

  get readyCount(): number {
    return this.ready.size;
  }

  /** Read and not acknowledged (ready, leased, in backoff, dead-lettering). */
  get unackedCount(): number {
    return this.entries.size;
  }

  setRules(rules: DeliveryRules): void {
    this.rules = rules;
  }

  addConsumer(limits: ConsumerLimits): number {
    const id = this.nextConsumer++;
    this.consumers.set(id, { limits, messages: 0, bytes: 0 });
    return id;
  }

  setLimits(id: number, limits: ConsumerLimits): void {
    const c = this.consumers.get(id);
    if (c) c.limits = limits;
  }

  /** Its leases stay and run out on their own; they no longer count against anyone. */
  removeConsumer(id: number): void {
    this.consumers.delete(id);
  }

  /** How many more messages the consumer may take now (Infinity when unlimited). */
  room(id: number): number {
    const c = this.consumers.get(id);
    if (!c) return 0;
    if (c.limits.maxBytes > 0 && c.bytes >= c.limits.maxBytes) return 0;
    return c.limits.maxMessages > 0 ? Math.max(0, c.limits.maxMessages - c.messages) : Infinity;
  }

  outstanding(id: number): { messages: number; bytes: number } {
    const c = this.consumers.get(id);
    return c ? { messages: c.messages, bytes: c.bytes } : { messages: 0, bytes: 0 };
  }

  /**
   * Messages of the topic read after the cursor, ascending. Acked ones (after a restart or seek),
   * ones the filter rejects and ones past retention are skipped: they count as done.
   */
  ingest(messages: readonly PsMessage[], now: number): void {
    for (const m of messages) {
      if (m.seq <= this.cursorSeq) continue;
      this.cursorSeq = m.seq;
      if (this.acked.has(m.seq) || this.tooOld(m, now) || !this.rules.matches(m.attributes)) continue;
      const entry: Entry = { message: m, bytes: messageBytes(m), phase: 'ready', attempts: 0, generation: 0, deadline: 0, token: 0, consumer: undefined };
      this.entries.set(m.seq, entry);
      this.ready.append(m.seq);
    }
  }

  /**
   * Leases up to `max` ready messages to `consumer` (within its flow control) or, for a Pull,
   * to nobody in particular (`consumer` undefined, leased for `pullAckDeadlineMs`).
   */
  take(consumer: number | undefined, max: number, now: number, pullAckDeadlineMs: number): Lease[] {
    const c = consumer === undefined ? undefined : this.consumers.get(consumer);
    if (consumer !== undefined && !c) return [];
    const leases: Lease[] = [];
    this.ready.scan((seq) => {
      if (leases.length >= max) return 'stop';
      const e = this.entries.get(seq)!;
      if (this.tooOld(e.message, now)) {
        // Past retention: dropped unacknowledged, as Pub/Sub drops it.
        this.entries.delete(seq);
        return 'drop';
      }
      if (this.blocked(e)) return 'keep';
      if (c && !this.fits(c, e.bytes)) return 'stop';
      this.lease(seq, e, consumer, c, now, c ? c.limits.ackDeadlineMs : pullAckDeadlineMs);
      leases.push({ seq, generation: e.generation, message: e.message, attempt: e.attempts });
      return 'take';
    });
    return leases;
  }

  /** True if the ack named a current lease (a stale, unknown or repeated ack is ignored). */
  ack(seq: number, generation: number): boolean {
    const e = this.entries.get(seq);
    if (!e || e.phase !== 'leased' || e.generation !== generation) return false;
    this.release(e);
    this.unhold(e);
    this.resolve(seq);
    return true;
  }

  /** `extendMs` 0 = nack: the lease ends now and the message waits out its retry backoff. */
  modify(seq: number, generation: number, extendMs: number, now: number): boolean {
    const e = this.entries.get(seq);
    if (!e || e.phase !== 'leased' || e.generation !== generation) return false;
    if (extendMs <= 0) {
      this.endLease(seq, e, now);
    } else {
      e.deadline = now + extendMs;
      this.schedule(seq, e, e.deadline);
    }
    return true;
  }

  /** Runs every timed event due at `now`: expired leases end, backoffs end, dead-letter retries. */
  advance(now: number): void {
    for (let top = this.heap.peek(); top !== undefined && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      const e = this.entries.get(top.seq);
      if (!e || e.token !== top.token) continue;
      if (e.phase === 'leased') this.endLease(top.seq, e, now);
      else if (e.phase === 'backoff') this.toReady(top.seq, e);
      else if (e.phase === 'dead-letter') this.deadLetterQueue.push(top.seq);
    }
  }

  /** When `advance` next has work, or undefined. */
  nextWake(): number | undefined {
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (this.entries.get(top.seq)?.token === top.token) return top.at;
      this.heap.pop();
    }
    return undefined;
  }

  /** Messages that reached maxDeliveryAttempts, each handed out once; settle or fail each. */
  takeDeadLetters(): PsMessage[] {
    const out: PsMessage[] = [];
    for (const seq of this.deadLetterQueue) {
      const e = this.entries.get(seq);
      if (e?.phase === 'dead-letter') out.push(e.message);
    }
    this.deadLetterQueue = [];
    return out;
  }

  /** Published to the dead-letter topic: acknowledged here. */
  deadLettered(seq: number): void {
    const e = this.entries.get(seq);
    if (e?.phase !== 'dead-letter') return;
    this.unhold(e);
    this.resolve(seq);
  }

  /** The dead-letter publish failed: tried again later (never redelivered to subscribers). */
  deadLetterFailed(seq: number, now: number): void {
    const e = this.entries.get(seq);
    if (e?.phase === 'dead-letter') this.schedule(seq, e, now + DEAD_LETTER_RETRY_MS);
  }

  /** The dead-letter policy was removed meanwhile: the message is delivered again instead. */
  returnDeadLetter(seq: number): void {
    const e = this.entries.get(seq);
    if (e?.phase === 'dead-letter') this.toReady(seq, e);
  }

  /**
   * The acks to commit and the floor to raise to: every seq at or below it is acked or skipped.
   * Hands each ack out once; `requeue` them if the commit failed.
   */
  drainCommit(): { acked: number[]; floor: number } {
    const floor = this.currentFloor();
    if (floor > this.floor) {
      this.floor = floor;
      for (const s of this.acked) if (s <= floor) this.acked.delete(s);
    }
    const acked = this.uncommitted.filter((s) => s > floor);
    this.uncommitted = [];
    return { acked, floor };
  }

  requeue(acked: readonly number[]): void {
    this.uncommitted.push(...acked);
  }

  get hasUncommitted(): boolean {
    return this.uncommitted.length > 0;
  }

  /** The ack state as a snapshot captures it (uncommitted acks included). */
  state(): AckState {
    const floor = this.currentFloor();
    return { floor, acked: [...this.acked].filter((s) => s > floor).sort((a, b) => a - b) };
  }

  /** Seek: this ack state replaces everything; leases and delivery attempt counts are dropped. */
  reset(state: AckState): void {
    this.floor = state.floor;
    this.cursorSeq = state.floor;
    this.acked = new Set(state.acked.filter((s) => s > state.floor));
    this.uncommitted = [];
    this.entries.clear();
    this.ready.clear();
    this.heap.clear();
    this.held.clear();
    this.deadLetterQueue = [];
    for (const c of this.consumers.values()) {
      c.messages = 0;
      c.bytes = 0;
    }
  }

  private currentFloor(): number {
    const first = this.entries.keys().next();
    const below = first.done === true ? this.cursorSeq : Math.min(this.cursorSeq, first.value - 1);
    return Math.max(this.floor, below);
  }

  /** C-PS-RETENTION. */
  private tooOld(m: PsMessage, now: number): boolean {
    return now - m.publishTime > this.rules.retentionMs;
  }

  /** One outstanding message per ordering key (C-PS-ORDERING). */
  private blocked(e: Entry): boolean {
    return this.rules.ordering && e.message.orderingKey !== '' && (this.held.get(e.message.orderingKey) ?? 0) > 0;
  }

  /** A consumer with nothing outstanding takes one message of any size, or it would never get it (C-PS-FLOW). */
  private fits(c: Consumer, bytes: number): boolean {
    if (c.limits.maxMessages > 0 && c.messages >= c.limits.maxMessages) return false;
    return c.limits.maxBytes <= 0 || c.bytes === 0 || c.bytes + bytes <= c.limits.maxBytes;
  }

  private lease(seq: number, e: Entry, id: number | undefined, c: Consumer | undefined, now: number, deadlineMs: number): void {
    e.phase = 'leased';
    e.attempts++;
    e.generation = this.nextGeneration++;
    e.deadline = now + deadlineMs;
    e.consumer = id;
    if (c) {
      c.messages++;
      c.bytes += e.bytes;
    }
    this.hold(e);
    this.schedule(seq, e, e.deadline);
  }

  private endLease(seq: number, e: Entry, now: number): void {
    this.release(e);
    const max = this.rules.maxDeliveryAttempts;
    if (max !== undefined && e.attempts >= max) {
      e.phase = 'dead-letter';
      e.token = this.nextToken++;
      // Attempt counts live here, in memory only (C-PS-ATTEMPTS).
      this.deadLetterQueue.push(seq);
      return;
    }
    const backoff = retryBackoffMs(this.rules.retryPolicy, e.attempts);
    if (backoff <= 0) {
      this.unhold(e);
      this.toReady(seq, e);
      return;
    }
    e.phase = 'backoff';
    this.schedule(seq, e, now + backoff);
  }

  private toReady(seq: number, e: Entry): void {
    if (e.phase !== 'leased' && e.phase !== 'ready') this.unhold(e);
    e.phase = 'ready';
    e.token = this.nextToken++;
    this.ready.insert(seq);
  }

  private release(e: Entry): void {
    if (e.consumer === undefined) return;
    const c = this.consumers.get(e.consumer);
    e.consumer = undefined;
    if (!c) return;
    c.messages--;
    c.bytes -= e.bytes;
  }

  private resolve(seq: number): void {
    this.entries.delete(seq);
    this.acked.add(seq);
    this.uncommitted.push(seq);
  }

  private hold(e: Entry): void {
    const key = e.message.orderingKey;
    if (this.rules.ordering && key !== '') this.held.set(key, (this.held.get(key) ?? 0) + 1);
  }

  private unhold(e: Entry): void {
    const key = e.message.orderingKey;
    const n = this.held.get(key);
    if (n === undefined) return;
    if (n <= 1) this.held.delete(key);
    else this.held.set(key, n - 1);
  }

  private schedule(seq: number, e: Entry, at: number): void {
    e.token = this.nextToken++;
    this.heap.push({ at, seq, token: e.token } satisfies TimedEntry);
    // Extensions and settled leases leave stale entries behind; rebuild before they outnumber live ones.
    if (this.heap.size > 2 * this.entries.size + 1024) this.heap.compact((t) => this.entries.get(t.seq)?.token === t.token);
  }
}
