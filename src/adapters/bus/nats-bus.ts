import { connect, RequestError, TimeoutError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ApiError } from '../../domain/errors.js';
import type { Bus, BusEvent, BusReply, BusRequest } from '../../services/ports.js';
import { DEFAULT_SUBJECT_PREFIX, subjectToken } from '../jetstream/jetstream-names.js';
import { decodeEvent, decodeRequest, decodeReply, encodeEvent, encodeFailure, encodeReply, encodeRequest } from './nats-bus-wire.js';

export type BusStatus = 'connected' | 'disconnected' | 'reconnecting';

export interface NatsBusOptions {
  servers: string | string[];
  /** Subject prefix, so several installations can share one NATS account. */
  prefix?: string;
  /** The client name the NATS server's monitoring shows. */
  name?: string;
  onStatus?: (status: BusStatus) => void;
  /** A message from another node that could not be read (a bug or a foreign publisher): dropped. */
  onError?: (err: unknown) => void;
  /** Bound on the first connect (TCP + handshake). Default 5 s. */
  connectTimeoutMs?: number;
  /** What `publish` may buffer while disconnected before it refuses with UNAVAILABLE. Default 8 MiB. */
  maxBufferedBytes?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Reconnect backoff: doubles from the first delay up to the cap, plus jitter, forever. */
const RECONNECT_FIRST_MS = 100;
const RECONNECT_CAP_MS = 2000;
const RECONNECT_JITTER_MS = 100;
/** Pauses before asking again when no responder was there: 175 ms in all before BUS_NO_RESPONDER. */
const NO_RESPONDER_RETRY_MS = [25, 50, 100];
/** A server that stops answering pings (a partition, not a closed socket) is left after 3 x 5 s. */
const PING_INTERVAL_MS = 5000;
const MAX_PINGS_OUT = 3;

/**
 * Addresses served by any NatsBus of this process, per server set and prefix. A NATS server
 * cannot answer synchronously whether a subject already has a responder, so the "one responder
 * per address" rule is enforced here within a process; across processes it rests on node IDs
 * being unique (random UUIDs).
 */
const servedInProcess = new Set<string>();

/** Rejects when `p` has not settled within `ms`: the client's flush has no timeout of its own. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const unavailable = (message: string, cause?: unknown): ApiError => new ApiError('UNAVAILABLE', message, { cause });

/**
 * The bus between nodes over core NATS: every event on one subject that every node subscribes to
 * (its own events come back to it, so delivery is never inline and every node sees one order per
 * publisher), and requests on a subject per node address with NATS request/reply, whose "no
 * responders" status tells a missing node from a slow one. Wire format: nats-bus-wire.ts.
 */
export class NatsBus implements Bus {
  private readonly handlers = new Set<(e: BusEvent) => void>();
  /** Told after a reconnect that events may have been missed (Bus.subscribe). */
  private readonly gapHandlers = new Set<() => void>();
  /** Address -> the subscription serving it on this client. */
  private readonly responders = new Map<string, { sub: Subscription; handler: (r: BusRequest) => Promise<BusReply> }>();
  private readonly eventsSubject: string;
  private readonly servedKey: string;
  private connected = true;
  private closing = false;
  /** Events published while disconnected, sent in order once connected again. */
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  private status: BusStatus = 'connected';

  private constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    servers: string[],
    private readonly opts: NatsBusOptions,
    private readonly backoff: ReconnectBackoff,
  ) {
    this.eventsSubject = `${prefix}.bus.events`;
    this.servedKey = `${[...servers].sort().join(',')}|${prefix}|`;
    nc.subscribe(this.eventsSubject, { callback: (err, msg) => this.onEventMessage(err, msg) });
    void this.followStatus();
  }

  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const servers = Array.isArray(opts.servers) ? opts.servers : [opts.servers];
    const backoff = new ReconnectBackoff();
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        name: opts.name,
        timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        maxReconnectAttempts: -1,
        reconnectDelayHandler: () => backoff.next(),
        pingInterval: PING_INTERVAL_MS,
        maxPingOut: MAX_PINGS_OUT,
        // No Error objects with stack traces built up front for each request (cross-node commands).
        noAsyncTraces: true,
      });
    } catch (e) {
      throw unavailable(`Could not connect to NATS at ${servers.join(', ')}: ${e instanceof Error ? e.message : String(e)}.`, e);
    }
    const bus = new NatsBus(nc, opts.prefix ?? DEFAULT_SUBJECT_PREFIX, servers, opts, backoff);
    try {
      // Once the server has the events subscription, nothing published after connect is missed.
      await within(nc.flush(), opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    } catch (e) {
      await bus.close();
      throw unavailable(`Could not subscribe on NATS at ${servers.join(', ')}.`, e);
    }
    return bus;
  }

  /** Whether the client holds a connection to a server right now. */
  isConnected(): boolean {
    return this.connected && !this.closing;
  }

  /** Resolves once the server has processed everything sent before (subscriptions included). */
  async flush(timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<void> {
    if (!this.isConnected()) throw unavailable('The NATS bus is disconnected.');
    try {
      await within(this.nc.flush(), timeoutMs);
    } catch (e) {
      throw unavailable('The NATS server did not answer a flush.', e);
    }
  }

  async publish(event: BusEvent): Promise<void> {
    if (this.closing) return;
    const bytes = encodeEvent(event);
    if (!this.connected || !this.socketUp()) {
      // The client discards what it holds on each reconnect attempt, so events wait here.
      if (this.bufferedBytes + bytes.length > (this.opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES)) {
        throw unavailable('The NATS bus is disconnected and its send buffer is full.');
      }
      this.buffered.push(bytes);
      this.bufferedBytes += bytes.length;
      return;
    }
    try {
      this.nc.publish(this.eventsSubject, bytes);
    } catch (e) {
      throw unavailable('The NATS bus refused an event.', e);
    }
  }

  subscribe(handler: (e: BusEvent) => void, onGap?: () => void): () => void {
    // A wrapper per call, so that subscribing one function twice gives two subscriptions.
    const h = (e: BusEvent): void => handler(e);
    this.handlers.add(h);
    const g = onGap && ((): void => onGap());
    if (g) this.gapHandlers.add(g);
    return () => {
      this.handlers.delete(h);
      if (g) this.gapHandlers.delete(g);
    };
  }

  async request(address: string, request: BusRequest, timeoutMs: number): Promise<BusReply> {
    if (this.closing) throw unavailable('The NATS bus is closed.');
    // A request would wait in the client's buffer for its whole timeout; say now that it cannot go.
    if (!this.connected) throw unavailable('The NATS bus is disconnected.');
    const subject = this.nodeSubject(address);
    const payload = encodeRequest(request);
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now();
      let msg: Msg;
      try {
        msg = await this.nc.request(subject, payload, { timeout: Math.max(1, Math.ceil(left)) });
      } catch (e) {
        if (e instanceof TimeoutError) {
          throw new ApiError('DEADLINE_EXCEEDED', `No reply from "${address}" within ${timeoutMs} ms.`, { reason: 'BUS_TIMEOUT', cause: e });
        }
        if (e instanceof RequestError && e.isNoResponders()) {
          // A responder that has just subscribed (at its start, or re-subscribing after a
          // reconnect) may not be known to the server yet: look again a few times, briefly.
          const pause = NO_RESPONDER_RETRY_MS[attempt];
          if (pause !== undefined && deadline - Date.now() > pause) {
            await new Promise((r) => setTimeout(r, pause));
            continue;
          }
          throw new ApiError('UNAVAILABLE', `Nothing answers at "${address}".`, { reason: 'BUS_NO_RESPONDER', cause: e });
        }
        throw unavailable(`The request to "${address}" failed on the NATS bus.`, e);
      }
      return decodeReply(msg.data);
    }
  }

  respond(address: string, handler: (r: BusRequest) => Promise<BusReply>): () => void {
    const key = this.servedKey + address;
    if (this.responders.has(address) || servedInProcess.has(key)) throw new Error(`bus: "${address}" is already served`);
    servedInProcess.add(key);
    const sub = this.nc.subscribe(this.nodeSubject(address), { callback: (err, msg) => void (err || this.onRequestMessage(address, sub, msg)) });
    this.responders.set(address, { sub, handler });
    return () => {
      if (this.responders.get(address)?.sub !== sub) return;
      this.responders.delete(address);
      servedInProcess.delete(key);
      this.stopServing(sub);
    };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const [address, { sub }] of this.responders) {
      servedInProcess.delete(this.servedKey + address);
      sub.unsubscribe();
    }
    this.responders.clear();
    this.handlers.clear();
    await this.nc.close().catch(() => undefined);
  }

  // ---- internals ----

  /**
   * The client's own flag, read before its status report arrives: the socket closes a few
   * microtasks earlier, and what is published in between is discarded on the first reconnect
   * attempt. It is not public API, so its absence counts as connected.
   */
  private socketUp(): boolean {
    return (this.nc as unknown as { protocol?: { connected?: boolean } }).protocol?.connected !== false;
  }

  private nodeSubject(address: string): string {
    return `${this.prefix}.bus.node.${subjectToken(address)}`;
  }

  private onEventMessage(err: Error | null, msg: Msg): void {
    if (err) return;
    let event: BusEvent;
    try {
      event = decodeEvent(msg.data);
    } catch (e) {
      this.opts.onError?.(e);
      return;
    }
    const handlers = [...this.handlers];
    handlers.forEach((h, i) => {
      try {
        // Each subscriber its own copy, as LocalBus does; the last may keep the decoded one.
        h(i === handlers.length - 1 ? event : structuredClone(event));
      } catch {
        // A handler's failure is its own; the others still get the event.
      }
    });
  }

  private onRequestMessage(address: string, sub: Subscription, msg: Msg): void {
    const serving = this.responders.get(address);
    if (serving?.sub !== sub) {
      // Stopped and draining: answer as NATS itself will once the server has the unsubscribe,
      // rather than leave the requester to time out. A newer responder of the address answers instead.
      if (!serving) msg.respond(encodeFailure(new ApiError('UNAVAILABLE', `Nothing answers at "${address}".`, { reason: 'BUS_NO_RESPONDER' })));
      return;
    }
    let request: BusRequest;
    try {
      request = decodeRequest(msg.data);
    } catch (e) {
      this.opts.onError?.(e);
      msg.respond(encodeFailure(new ApiError('INVALID_ARGUMENT', 'The bus request could not be read.')));
      return;
    }
    serving.handler(request).then(
      (reply) => msg.respond(encodeReply(reply)),
      (e: unknown) => msg.respond(encodeFailure(e)),
    );
  }

  /**
   * Drains rather than unsubscribes while connected: the server stops routing to us first, and
   * requests already on their way still get an answer (onRequestMessage), so a requester sees
   * BUS_NO_RESPONDER at once, never a timeout.
   */
  private stopServing(sub: Subscription): void {
    if (this.connected) sub.drain().catch(() => sub.unsubscribe());
    else sub.unsubscribe();
  }

  /** The client has re-sent its subscriptions by now, so the node sees its own buffered events too. */
  private sendBuffered(): void {
    const pending = this.buffered;
    this.buffered = [];
    this.bufferedBytes = 0;
    for (const bytes of pending) this.nc.publish(this.eventsSubject, bytes);
  }

  private async followStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closing) return;
      switch (s.type) {
        case 'disconnect':
          this.connected = false;
          this.setStatus('disconnected');
          break;
        case 'reconnecting':
          this.setStatus('reconnecting');
          break;
        case 'reconnect':
          this.connected = true;
          this.backoff.reset();
          this.sendBuffered();
          this.setStatus('connected');
          void this.reportGap();
          break;
        case 'close':
          this.connected = false;
          this.setStatus('disconnected');
          return;
        default:
          break;
      }
    }
  }

  /**
   * Core NATS keeps nothing for a subscription that is not there, and another node that
   * reconnected first may have flushed its buffered events before this one re-subscribed. Once the
   * server has this node's subscriptions again (the flush's round trip), everything published
   * from then on arrives; what came before must be read from the store by the gap handlers.
   */
  private async reportGap(): Promise<void> {
    try {
      await within(this.nc.flush(), DEFAULT_CONNECT_TIMEOUT_MS);
    } catch {
      // Gone again: the next reconnect reports the gap.
      return;
    }
    for (const g of this.gapHandlers) {
      try {
        g();
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
  }

  private setStatus(status: BusStatus): void {
    if (status === this.status) return;
    this.status = status;
    try {
      this.opts.onStatus?.(status);
    } catch {
      // The observer's failure is not the bus's.
    }
  }
}

/** The client's delay between rounds of reconnect attempts; reset once connected again. */
class ReconnectBackoff {
  private attempts = 0;

  next(): number {
    const base = Math.min(RECONNECT_CAP_MS, RECONNECT_FIRST_MS * 2 ** this.attempts);
    this.attempts = Math.min(this.attempts + 1, 16);
    return base + Math.floor(Math.random() * RECONNECT_JITTER_MS);
  }

  reset(): void {
    this.attempts = 0;
  }
}
