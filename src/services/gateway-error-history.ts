/**
 * What the MQTT bridge reported on each gateway's errors topic (spec §6.5), kept on the node that
 * reported it so that the console can show it (docs/compat.md C-CONSOLE-GATEWAY-ERRORS). The last
 * `perGateway` errors of a gateway live in a ring held with its live session; when the session
 * ends, the ring is kept a while (`retainMs`, at most `retainedGateways` of them, the longest ended
 * dropped first) so that a page opened right after a gateway dropped still shows why.
 */

/** One errors-topic message, as built for the gateway (spec §6.5 fields). */
export interface GatewayErrorRecord {
  /** When it was reported, epoch ms. */
  at: number;
  errorType: string;
  /** The device the error is about (the gateway's own ID for errors of the gateway itself). */
  deviceId: string;
  description: string;
  /** The packet that caused it, when one did (`mqtt_message_info`). */
  packet?: { messageType: string; topic: string; packetId: number };
  /** Published to the gateway: it was subscribed to its errors topic (docs/compat.md C-ERRORS-SUB). */
  delivered: boolean;
}

export const GATEWAY_ERRORS_KEPT = 100;

/**
 * A gateway's last errors, oldest overwritten. It holds the records it is given and allocates
 * nothing per push: a gateway flooding errors costs one fixed array.
 */
export class GatewayErrorRing {
  private readonly items: (GatewayErrorRecord | undefined)[];
  private next = 0;
  private count = 0;
  /** Live sessions on this node holding it (a takeover on the same node briefly makes two). */
  holders = 0;
  /** When the last holder ended, epoch ms; meaningful when holders is 0. */
  endedAt = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<GatewayErrorRecord | undefined>(capacity);
  }

  push(record: GatewayErrorRecord): void {
    this.items[this.next] = record;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.count < this.capacity) this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** Newest first. */
  newestFirst(): GatewayErrorRecord[] {
    const out: GatewayErrorRecord[] = [];
    for (let i = 1; i <= this.count; i++) out.push(this.items[(this.next - i + this.capacity) % this.capacity]!);
    return out;
  }
}

export interface GatewayErrorHistoryOptions {
  /** Errors kept per gateway; default GATEWAY_ERRORS_KEPT. */
  perGateway?: number;
  /** Gateways whose session ended kept at most; default 1,000. */
  retainedGateways?: number;
  /** How long after its session ended a gateway's errors are kept, ms; default one hour. */
  retainMs?: number;
}

/** The rings of one node's gateways, by gateway numId. Time comes in as arguments. */
export class GatewayErrorHistory {
  private readonly live = new Map<string, GatewayErrorRing>();
  /** Rings of ended sessions, in the order they ended (a Map keeps insertion order): the first expires first. */
  private readonly ended = new Map<string, GatewayErrorRing>();
  private readonly perGateway: number;
  private readonly retainedGateways: number;
  private readonly retainMs: number;

  constructor(opts: GatewayErrorHistoryOptions = {}) {
    this.perGateway = opts.perGateway ?? GATEWAY_ERRORS_KEPT;
    this.retainedGateways = opts.retainedGateways ?? 1000;
    this.retainMs = opts.retainMs ?? 60 * 60 * 1000;
  }

  /**
   * The ring a live session of the gateway records into, made at its first error (a gateway that
   * never errs costs nothing). A gateway back on this node within retainMs goes on with its ring.
   */
  open(gatewayNumId: string, now: number): GatewayErrorRing {
    let ring = this.live.get(gatewayNumId);
    if (!ring) {
      ring = this.ended.get(gatewayNumId);
      if (ring && now - ring.endedAt > this.retainMs) ring = undefined;
      this.ended.delete(gatewayNumId);
      ring ??= new GatewayErrorRing(this.perGateway);
      this.live.set(gatewayNumId, ring);
    }
    ring.holders++;
    return ring;
  }

  /** A session that opened the ring has ended: the last one moves it to the retained rings. */
  close(gatewayNumId: string, ring: GatewayErrorRing, now: number): void {
    if (ring.holders > 0) ring.holders--;
    if (ring.holders > 0 || this.live.get(gatewayNumId) !== ring) return;
    this.live.delete(gatewayNumId);
    ring.endedAt = now;
    this.ended.set(gatewayNumId, ring);
    this.expire(now);
    for (const id of this.ended.keys()) {
      if (this.ended.size <= this.retainedGateways) break;
      this.ended.delete(id);
    }
  }

  /** The gateway's errors known to this node, newest first (empty when none). */
  recent(gatewayNumId: string, now: number): GatewayErrorRecord[] {
    this.expire(now);
    return (this.live.get(gatewayNumId) ?? this.ended.get(gatewayNumId))?.newestFirst() ?? [];
  }

  /** Gateways with a ring: live, and ended but retained. */
  get gateways(): { live: number; retained: number } {
    return { live: this.live.size, retained: this.ended.size };
  }

  private expire(now: number): void {
    for (const [id, ring] of this.ended) {
      if (now - ring.endedAt <= this.retainMs) return;
      this.ended.delete(id);
    }
  }
}
