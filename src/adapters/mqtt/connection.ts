import type { Duplex } from 'node:stream';
import mqtt, { type Packet } from 'mqtt-packet';
import { connackBytes, PINGRESP_BYTES, PUBACK_BYTES, writePuback } from './fast-codec.js';
import { isPacketId } from './packet-id.js';
import { PacketReader } from './packet-reader.js';
import { MqttSession } from './session.js';
import type { SessionEnv, SessionTransport } from './session-types.js';

export interface ConnectionLimits {
  /** Largest remaining length accepted (docs/compat.md C-MQTT-SIZES). */
  maxPacketBytes: number;
  /** Bytes sent but not yet taken by the peer, past which the connection is dropped (docs/compat.md C-MQTT-BACKLOG). */
  maxWriteBacklogBytes: number;
}

/**
 * Room for several of the largest packets the bridge sends (a 256 KiB command, 64 KiB configs):
 * only a peer that stops reading reaches it.
 */
export const DEFAULT_MAX_WRITE_BACKLOG_BYTES = 2 * 1024 * 1024;

/**
 * Packets one connection may have handled before it lets the others have the event loop: a read
 * can bring thousands of small packets (64 KiB of SUBSCRIBEs), and handling them in one go would
 * stall every other connection for tens of milliseconds.
 */
const PACKETS_PER_TURN = 256;
/**
 * What any other packet counts for against PACKETS_PER_TURN: mqtt-packet decodes it, its answer
 * is encoded by mqtt-packet too, and it may send a config of up to 64 KiB (a SUBSCRIBE). A turn of
 * 256 such packets from one device that sends nothing else took some 10 ms from every other
 * connection; 32 of them take about one.
 */
const SLOW_PACKET_COST = 8;

// mqtt-packet otherwise builds, on the first packet it encodes with a packet identifier, a cache of
// 65,536 two-byte Buffers: a 40-50 ms stall of the whole bridge in the middle of traffic, and
// 65,536 objects that every later full GC walks. The packets it still encodes here (configs,
// commands, SUBACKs) are few; PUBACK, PINGRESP and CONNACK are encoded by the bridge itself.
mqtt.writeToStream.cacheNumbers = false;
const ignore = (): void => undefined;

/** Output of one turn starts in a buffer this large (taken from Node's pool); larger packets are written as they are. */
const SMALL_OUTPUT_BYTES = 512;

/**
 * Owns one socket and its one mqtt-packet parser for the connection's whole life, and carries out
 * what the session asks. Whatever goes wrong in here ends this connection, never the process.
 */
export class MqttConnection implements SessionTransport {
  readonly session: MqttSession;
  /** Made on the first byte: a socket that never sends anything costs no reader. */
  private reader: PacketReader | undefined;
  /** Closes a connection that has not authenticated in time, at its own moment (see the constructor); dropped once it fired. */
  private connectDeadline: NodeJS.Timeout | undefined;
  /** This turn's output, written once (flushOut); undefined while there is none. */
  private out: Buffer | undefined;
  /** Bytes used in `out`. */
  private outBytes = 0;
  private flushScheduled = false;
  private ended = false;
  /** The session asked to stop reading (ingest window full, an attach under way). */
  private pausedBySession = false;
  /** The socket took our last write only into its buffer: reads wait for 'drain'. */
  private writeBlocked = false;
  /** Set while the connect deadline runs: a close then drops the socket (see onConnectDeadline). */
  private dropOnClose = false;
  /** Packets handled since this connection last yielded the event loop. */
  private handledThisTurn = 0;
  private turnResetScheduled = false;
  /** Input is put off to a later turn (reads wait meanwhile). */
  private deferred = false;
  /** Reads that came while input was put off, in order. */
  private queued: Buffer[] | undefined;
  /** The 'drain' listener, made the first time a write is held up. */
  private drainListener: (() => void) | undefined;

  constructor(
    private readonly socket: Duplex,
    env: SessionEnv,
    connId: string,
    private readonly limits: ConnectionLimits,
    onClosed: (c: MqttConnection) => void,
  ) {
    this.session = new MqttSession(env, this, connId);
    // The bridge's 1 s tick would find a flood of such sockets expired all at once, and close
    // hundreds in one go; a timer of its own spreads the closes as the sockets came, and on time
    // (docs/compat.md C-MQTT-TIMEOUTS).
    const timeout = env.limits.connectTimeoutMs;
    this.connectDeadline = setTimeout(() => this.onConnectDeadline(timeout), timeout).unref();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (err) {
        this.bug('reading', err);
      }
    });
    socket.on('error', ignore);
    socket.on('close', (hadError: boolean) => {
      clearTimeout(this.connectDeadline);
      this.ended = true;
      this.releaseOutput();
      try {
        this.guard('releasing a closed connection', () => this.session.socketClosed(hadError ? 'socket-error' : 'socket-closed'));
      } finally {
        onClosed(this);
      }
    });
  }

  /**
   * Runs one step of this connection's handling; an exception is our bug: it is logged, and this
   * connection (only) is closed.
   */
  guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.session.log.error({ err }, `bug while ${what}; closing the connection`);
      try {
        this.session.close('internal-error');
      } catch {
        // The session's bookkeeping failed as well; the socket goes all the same.
      }
      this.destroy();
    }
  }

  /** The bridge's clock: timeouts, keep-alive, redelivery. */
  tick(now: number): void {
    this.guard('checking timers', () => this.session.tick(now));
  }

  /**
   * A socket closed for not authenticating in time has had nothing sent to it: it is dropped
   * outright, without the half-close round trip a flood of them would pay for each.
   */
  private onConnectDeadline(timeout: number): void {
    this.connectDeadline = undefined;
    const s = this.session;
    if (s.phase !== 'awaiting-connect' && s.phase !== 'authenticating') return;
    this.dropOnClose = true;
    try {
      // The timer has the say (it counts on the monotonic clock): the session is shown a time at
      // its deadline even if its own clock reads a little short of it.
      this.tick(Math.max(s.env.clock.now(), s.openedAt + timeout));
    } finally {
      this.dropOnClose = false;
    }
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    const reader = (this.reader ??= new PacketReader(this.limits.maxPacketBytes));
    if (reader.hasInput || this.queued !== undefined) {
      // Whatever the socket still hands over while input waits goes behind it, in order.
      (this.queued ??= []).push(chunk);
      return;
    }
    reader.push(chunk);
    this.readPackets(reader);
  }

  /**
   * Hands the session the packets of the reads held, up to PACKETS_PER_TURN (what the fast codec
   * decoded counts one, the rest SLOW_PACKET_COST); the rest waits for a later turn. No closure or
   * promise per packet: this is the path every message takes.
   */
  private readPackets(reader: PacketReader): void {
    const session = this.session;
    const now = session.env.clock.now();
    for (;;) {
      while (!this.ended) {
        if (this.handledThisTurn >= PACKETS_PER_TURN) {
          if (reader.hasInput || this.queued !== undefined) {
            this.deferred = true;
            this.updateReading();
            setImmediate(MqttConnection.continueInput, this);
            return;
          }
          break;
        }
        const packet = reader.next();
        if (packet === undefined) break;
        this.handledThisTurn += reader.lastFast ? 1 : SLOW_PACKET_COST;
        try {
          session.handle(packet, now);
        } catch (err) {
          this.bug(`handling ${packet.cmd}`, err);
        }
      }
      if (this.ended) return;
      const refusal = reader.refusal;
      if (refusal !== undefined) {
        // There is no resynchronising a byte stream: the connection ends (spec §5.8 for sizes;
        // docs/compat.md C-MQTT-SIZES).
        this.guard('refusing input', () => this.session.close(refusal.reason));
        this.destroy();
        return;
      }
      if (reader.hasInput) break;
      const next = this.queued?.shift();
      if (next === undefined) break;
      if (this.queued!.length === 0) this.queued = undefined;
      reader.push(next);
    }
    if (this.handledThisTurn > 0 && !this.turnResetScheduled) {
      this.turnResetScheduled = true;
      setImmediate(MqttConnection.resetTurn, this);
    }
  }

  /** Our bug while handling a packet: logged, and this connection (only) is closed. */
  private bug(what: string, err: unknown): void {
    this.guard(what, () => {
      throw err;
    });
  }

  // Static, called with the connection as argument (setImmediate and nextTick pass it): no
  // closure per connection for what most connections rarely need.
  private static resetTurn(c: MqttConnection): void {
    c.turnResetScheduled = false;
    c.handledThisTurn = 0;
  }

  /** The other connections had their turn: go on with the input put off. */
  private static continueInput(c: MqttConnection): void {
    c.handledThisTurn = 0;
    c.deferred = false;
    const reader = c.reader;
    if (reader !== undefined && !c.ended) {
      try {
        c.readPackets(reader);
      } catch (err) {
        c.bug('reading', err);
      }
    }
    c.updateReading();
  }

  send(packet: Packet): void {
    if (this.ended || this.socket.destroyed) return;
    if (packet.cmd === 'connack' && packet.properties === undefined) {
      if (packet.returnCode === 0 && this.connectDeadline !== undefined) {
        // Connected: the CONNECT deadline has done its work. Its timer and closure go now, not
        // when it would have fired: until then every idle device would hold them.
        clearTimeout(this.connectDeadline);
        this.connectDeadline = undefined;
      }
      const connack = connackBytes(packet.returnCode, packet.sessionPresent);
      if (connack !== undefined) return this.append(connack);
    }
    let bytes: Buffer;
    try {
      // mqtt-packet would encode a bad identifier as a packet cut short, not refuse it.
      if ('messageId' in packet && packet.messageId !== undefined && !isPacketId(packet.messageId)) throw new Error(`packet identifier ${packet.messageId} out of range`);
      bytes = mqtt.generate(packet);
    } catch (err) {
      // A packet we built and cannot encode is our bug (mqtt-packet refuses e.g. an empty SUBACK).
      this.session.log.error({ err, cmd: packet.cmd }, 'bug: an outgoing packet could not be encoded; closing the connection');
      this.abort('internal-error');
      return;
    }
    this.append(bytes);
  }

  /** The PUBACK of a stored message: four bytes written straight into this turn's output. */
  sendPuback(messageId: number): void {
    if (this.ended || this.socket.destroyed) return;
    if (!isPacketId(messageId)) {
      this.session.log.error({ messageId }, 'bug: a PUBACK for an invalid packet identifier; closing the connection');
      this.abort('internal-error');
      return;
    }
    const at = this.reserve(PUBACK_BYTES);
    writePuback(this.out!, at, messageId);
    this.queued_();
  }

  sendPingresp(): void {
    if (this.ended || this.socket.destroyed) return;
    this.append(PINGRESP_BYTES);
  }

  /** Queues encoded bytes behind what this turn already sent. */
  private append(bytes: Buffer): void {
    if (bytes.length > SMALL_OUTPUT_BYTES) return this.writeLarge(bytes);
    const at = this.reserve(bytes.length);
    bytes.copy(this.out!, at);
    this.queued_();
  }

  /** After bytes were queued: enforce the backlog bound and schedule the one write of this turn. */
  private queued_(): void {
    if (this.backlogExceeded(0)) return;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(MqttConnection.flushOf, this);
    }
  }

  /**
   * A large packet (a config or a command, up to 256 KiB) goes out as it is, right behind what
   * this turn queued before it. Copied into the turn's buffer, each one cost a copy and a doubling
   * of that buffer: megabytes of short-lived memory for a burst of configs, and a full GC with it.
   */
  private writeLarge(bytes: Buffer): void {
    if (this.backlogExceeded(bytes.length)) return;
    this.flushOut();
    if (this.ended || this.socket.destroyed) return;
    this.write(bytes);
  }

  /** Room for `n` more bytes in `out`; returns where they go. */
  private reserve(n: number): number {
    const at = this.outBytes;
    const out = this.out;
    if (out === undefined || at + n > out.length) {
      const grown = Buffer.allocUnsafe(Math.max(SMALL_OUTPUT_BYTES, 2 * at, at + n));
      if (out !== undefined && at > 0) out.copy(grown, 0, 0, at);
      this.out = grown;
    }
    this.outBytes = at + n;
    return at;
  }

  /**
   * Whether `more` bytes on top of what waits would pass the backlog bound, in which case the
   * connection is dropped: a peer that does not read must not make us hold its traffic without
   * limit (docs/compat.md C-MQTT-BACKLOG).
   */
  private backlogExceeded(more: number): boolean {
    const backlog = more + this.outBytes + this.socket.writableLength;
    if (backlog <= this.limits.maxWriteBacklogBytes) return false;
    this.session.log.info({ backlogBytes: backlog }, 'mqtt peer does not read; dropping the connection');
    this.abort('write-backlog-exceeded');
    return true;
  }

  /**
   * Everything sent in one turn (e.g. the PUBACKs of one commit) leaves in one write: one syscall
   * and, on TLS, one record instead of one per packet.
   */
  private static flushOf(c: MqttConnection): void {
    c.flushOut();
  }

  private flushOut(): void {
    this.flushScheduled = false;
    const out = this.out;
    const n = this.outBytes;
    this.releaseOutput();
    if (this.ended || this.socket.destroyed || out === undefined || n === 0) return;
    this.write(n === out.length ? out : out.subarray(0, n));
  }

  private write(bytes: Buffer): void {
    if (this.socket.write(bytes) || this.writeBlocked) return;
    // Backpressure: the peer's requests are what make most of our writes, so stop reading them
    // until the socket has passed on what it holds.
    this.writeBlocked = true;
    this.updateReading();
    this.socket.once('drain', (this.drainListener ??= (): void => this.onDrain()));
  }

  private onDrain(): void {
    this.writeBlocked = false;
    this.updateReading();
  }

  /** Reads go on only while the session wants them, writes are not held up and no input waits. */
  private updateReading(): void {
    if (this.ended) return;
    if (this.pausedBySession || this.writeBlocked || this.deferred) this.socket.pause();
    else this.socket.resume();
  }

  private releaseOutput(): void {
    this.out = undefined;
    this.outBytes = 0;
  }

  close(): void {
    if (this.ended) return;
    if (this.dropOnClose && this.outBytes === 0 && this.socket.writableLength === 0) return this.destroy();
    // What the session sent last (a CONNACK refusing the connection) must precede the FIN.
    this.flushOut();
    this.ended = true;
    this.socket.end();
    // A peer that never closes its side must not hold the socket forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Closes the session for `reason` and drops the socket at once, unsent bytes included. */
  private abort(reason: 'internal-error' | 'write-backlog-exceeded'): void {
    this.ended = true;
    this.releaseOutput();
    try {
      this.session.close(reason);
    } catch (err) {
      this.session.log.error({ err }, 'bug while closing a connection');
    }
    this.socket.destroy();
  }

  destroy(): void {
    this.ended = true;
    this.releaseOutput();
    this.socket.destroy();
  }

  pause(): void {
    this.pausedBySession = true;
    this.updateReading();
  }

  resume(): void {
    this.pausedBySession = false;
    this.updateReading();
  }
}
