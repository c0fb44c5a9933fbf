import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { hostPort } from './mqtt-processes.js';
import { connectedWithin } from './mqtt-raw.js';
import { attachPacket, connectPacket, mutate, PINGREQ, randomCuts, splitAt, validPacket, type FuzzIdentity, type Mutation, type Prng } from './mqtt-fuzz-inputs.js';

/**
 * Drives fuzz inputs into the plain MQTT listener over one connection at a time: each batch of
 * inputs (behind a CONNECT and attaches on a fresh connection, so they are pipelined) is written
 * split at random offsets, then synchronised with a PINGREQ whose PINGRESP proves the server
 * handled everything before it. A local mirror of the server's parser says in advance whether
 * the bytes end mid-packet (no PINGRESP can come: the lane lets go of the connection) or are
 * malformed (the server must close). A batch that gets neither its PINGRESP nor a close within
 * the timeout is a stall: the server stopped serving that connection.
 */

export type SyncOutcome = 'answered' | 'closed' | 'abandoned' | 'stall';

export interface FuzzStats {
  inputs: number;
  mutated: number;
  connections: number;
  outcomes: Record<SyncOutcome, number>;
  byMutation: Partial<Record<Mutation, { inputs: number; closed: number }>>;
  /** Seeds and batch numbers of stalls, to replay them. */
  stallsAt: string[];
}

export const newStats = (): FuzzStats => ({ inputs: 0, mutated: 0, connections: 0, outcomes: { answered: 0, closed: 0, abandoned: 0, stall: 0 }, byMutation: {}, stallsAt: [] });

export function addStats(into: FuzzStats, from: FuzzStats): void {
  into.inputs += from.inputs;
  into.mutated += from.mutated;
  into.connections += from.connections;
  for (const k of Object.keys(from.outcomes) as SyncOutcome[]) into.outcomes[k] += from.outcomes[k];
  for (const [k, v] of Object.entries(from.byMutation) as [Mutation, { inputs: number; closed: number }][]) {
    const t = (into.byMutation[k] ??= { inputs: 0, closed: 0 });
    t.inputs += v.inputs;
    t.closed += v.closed;
  }
  into.stallsAt.push(...from.stallsAt);
}

/** One raw connection with a mirror of the server's parser over what we sent. */
export class FuzzConnection {
  readonly socket: Socket;
  closed = false;
  private readonly fromServer = mqttPacket.parser({ protocolVersion: 4 });
  private readonly mirror = mqttPacket.parser({ protocolVersion: 4 });
  private mirrorBroken = false;
  /** Bytes written, and bytes of the complete packets the mirror found in them. */
  private fed = 0;
  private framed = 0;
  private pingresps = 0;
  /** Packets the server sent. */
  private received = 0;
  private wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.fromServer.on('packet', (p: Packet) => {
      this.received++;
      if (p.cmd === 'pingresp') this.pingresps++;
      this.wake?.();
    });
    // The server only sends what mqtt-packet encoded; a failure here would be noticed as a stall.
    this.fromServer.on('error', () => undefined);
    this.mirror.on('packet', (p: Packet) => {
      // Fixed header + remaining length. A length written in more bytes than needed would make
      // this fall short, which only makes the lane give up a connection it could have kept.
      this.framed += 1 + varintBytes(p.length ?? 0) + (p.length ?? 0);
    });
    this.mirror.on('error', () => {
      this.mirrorBroken = true;
    });
    socket.on('data', (d: Buffer) => this.fromServer.parse(d));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(url: string, timeoutMs: number): Promise<FuzzConnection> {
    const { host, port } = hostPort(url);
    const socket = connect({ host, port, noDelay: true });
    await connectedWithin(socket, url, timeoutMs);
    return new FuzzConnection(socket);
  }

  /** Writes `chunks` as separate writes, each in its own turn of the event loop. */
  async write(chunks: readonly Buffer[]): Promise<void> {
    for (const [i, c] of chunks.entries()) {
      if (this.closed) return;
      this.fed += c.length;
      if (!this.mirrorBroken) this.mirror.parse(c);
      this.socket.write(c);
      if (i < chunks.length - 1) await nextTurn();
    }
  }

  /** Waits until the server has sent `n` packets in all, or closed (at most `timeoutMs`). */
  async receivedAtLeast(n: number, timeoutMs: number): Promise<void> {
    await this.until(() => this.closed || this.received >= n, timeoutMs);
  }

  private async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return true;
  }

  /** Waits until the server has handled everything written so far, or closed. */
  async sync(timeoutMs: number): Promise<SyncOutcome> {
    if (this.closed) return 'closed';
    if (!this.mirrorBroken && this.framed < this.fed) {
      // Mid-packet: nothing could answer a PINGREQ now. Hanging up is an input of its own.
      this.destroy();
      return 'abandoned';
    }
    const want = this.pingresps + 1;
    if (!this.mirrorBroken) await this.write([PINGREQ]);
    if (!(await this.until(() => this.closed || this.pingresps >= want, timeoutMs))) return 'stall';
    return this.pingresps >= want ? 'answered' : 'closed';
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const varintBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : 4);

export interface LaneIdentities {
  gateway: FuzzIdentity;
  device: FuzzIdentity;
}

export interface LaneOptions {
  /** Valid inputs per batch at most. */
  batch: number;
  /** Chance that an input is a mutation (which then ends its batch). */
  mutationRate: number;
  /** Chance that a fresh connection starts with a mutated CONNECT. */
  connectMutationRate: number;
  syncTimeoutMs: number;
}

/**
 * Sends inputs until `stats.inputs` reaches `until` or `deadline` (ms since the epoch) passes.
 * `label` names the lane in the stall report.
 */
export async function runLane(url: string, ids: LaneIdentities, rng: Prng, opts: LaneOptions, stats: FuzzStats, until: () => boolean, label: string): Promise<void> {
  let conn: FuzzConnection | undefined;
  let who = ids.gateway;
  let batchNo = 0;
  try {
    while (!until()) {
      const parts: Buffer[] = [];
      let mutation: Mutation | undefined;
      if (conn === undefined || conn.closed) {
        conn = await FuzzConnection.open(url, opts.syncTimeoutMs);
        stats.connections++;
        who = rng.chance(0.7) ? ids.gateway : ids.device;
        // CONNECT and attaches first, with the batch pipelined behind them.
        const opening = [connectPacket(who), ...who.attachable.filter(() => rng.chance(0.7)).map((d) => attachPacket(d, 1 + rng.int(65_535)))];
        if (rng.chance(opts.connectMutationRate)) {
          const m = mutate(rng, opening);
          parts.push(m.bytes);
          mutation = m.mutation;
        } else {
          parts.push(...opening);
        }
        stats.inputs += opening.length;
      }
      for (let n = 1 + rng.int(opts.batch); mutation === undefined && n > 0; n--) {
        const p = validPacket(rng, who);
        stats.inputs++;
        if (rng.chance(opts.mutationRate)) {
          const m = mutate(rng, [p, validPacket(rng, who)]);
          parts.push(m.bytes);
          mutation = m.mutation;
        } else {
          parts.push(p);
        }
      }
      const bytes = Buffer.concat(parts);
      batchNo++;
      await conn.write(splitAt(bytes, randomCuts(rng, bytes, rng.int(4))));
      const outcome = await conn.sync(opts.syncTimeoutMs);
      stats.outcomes[outcome]++;
      if (mutation !== undefined) {
        stats.mutated++;
        const t = (stats.byMutation[mutation] ??= { inputs: 0, closed: 0 });
        t.inputs++;
        if (outcome !== 'answered') t.closed++;
      }
      if (outcome === 'stall') {
        stats.stallsAt.push(`${label} batch ${batchNo}`);
        conn.destroy();
      }
      if (outcome !== 'answered') conn = undefined;
    }
  } finally {
    conn?.destroy();
  }
}
