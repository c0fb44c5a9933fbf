import mqtt, { type Packet } from 'mqtt-packet';
import { CodecError, decodeFast, headerError, isFastType, LENGTH_INCOMPLETE, LENGTH_INVALID, readRemainingLength, TopicCache } from './fast-codec.js';

/** Why a connection's input was refused; the connection ends. */
export interface Refusal {
  reason: 'protocol-error' | 'packet-too-large';
  message: string;
}

/** Shared while no packet is pending (never pushed to: a pending packet gets an array of its own). */
const NO_PIECES: Buffer[] = [];

/** The longest fixed header: a type byte and four bytes of remaining length. */
const MAX_HEADER_BYTES = 5;

/**
 * Frames MQTT packets out of a connection's socket reads and decodes them: the frequent types with
 * the fast codec (views into the read, no copies), every other type by mqtt-packet, fed exactly
 * that one packet's bytes. Only a packet split across two reads is copied together.
 *
 * Pull-based, so the connection decides how many packets it handles in one turn: `push` a read,
 * then call `next` until it returns undefined (more bytes needed, or `refusal` set).
 */
export class PacketReader {
  /** Set once the input is refused; nothing more is read. */
  refusal: Refusal | undefined;
  /** Whether the packet `next` returned last was decoded by the fast codec (not by mqtt-packet). */
  lastFast = false;
  private chunk: Buffer | undefined;
  private at = 0;
  /** A packet begun in an earlier read: its bytes so far (copies), their count, and its size once known. */
  private pieces: Buffer[] = NO_PIECES;
  private have = 0;
  private total = -1;
  private topics: TopicCache | undefined;

  constructor(private readonly maxPacketBytes: number) {}

  /** Whether bytes of a read are still waiting to be decoded. */
  get hasInput(): boolean {
    return this.chunk !== undefined && this.refusal === undefined;
  }

  /** A new read; the previous one must have been used up (`next` returned undefined). */
  push(chunk: Buffer): void {
    if (this.chunk !== undefined) throw new Error('PacketReader.push before the previous read was used up');
    if (chunk.length === 0 || this.refusal !== undefined) return;
    this.chunk = chunk;
    this.at = 0;
  }

  /** The next whole packet, or undefined when more bytes are needed or the input is refused. */
  next(): Packet | undefined {
    if (this.refusal !== undefined) return undefined;
    const buf = this.chunk;
    if (buf === undefined) return undefined;
    if (this.have > 0) {
      const frame = this.completePending(buf);
      return frame === undefined ? undefined : this.decode(frame, 0, frame.length - this.bodyLength(frame), frame.length);
    }
    const start = this.at;
    const end = buf.length;
    if (start >= end) return this.usedUp();
    const bad = headerError(buf[start]!);
    if (bad !== undefined) return this.refuse('protocol-error', bad);
    const len = readRemainingLength(buf, start + 1, end);
    if (len === LENGTH_INVALID) return this.refuse('protocol-error', 'invalid remaining length');
    if (len === LENGTH_INCOMPLETE) return this.keepPending(buf, start, -1);
    const length = Math.floor(len / 8);
    if (length > this.maxPacketBytes) return this.refuse('packet-too-large', `remaining length ${length}`);
    const body = start + 1 + (len % 8);
    const frameEnd = body + length;
    if (frameEnd > end) return this.keepPending(buf, start, frameEnd - start);
    this.at = frameEnd;
    if (frameEnd === end) this.chunk = undefined;
    return this.decode(buf, start, body, frameEnd);
  }

  private decode(buf: Buffer, start: number, body: number, end: number): Packet | undefined {
    this.lastFast = isFastType(buf[start]! >> 4);
    if (this.lastFast) {
      try {
        return decodeFast(buf, start, body, end, (this.topics ??= new TopicCache()));
      } catch (e) {
        if (e instanceof CodecError) return this.refuse('protocol-error', e.message);
        throw e;
      }
    }
    return this.decodeByMqttPacket(buf.subarray(start, end));
  }

  /** mqtt-packet, given exactly one packet's bytes: it cannot read into the next packet's. */
  private decodeByMqttPacket(frame: Buffer): Packet | undefined {
    const result = rareDecoder.decode(frame);
    if (result instanceof Error) return this.refuse('protocol-error', result.message);
    if (result === undefined) return this.refuse('protocol-error', 'packet not decoded');
    return result;
  }

  /** Keeps (copies) the start of a packet that the read ends inside of. */
  private keepPending(buf: Buffer, start: number, total: number): undefined {
    this.pieces = [Buffer.from(buf.subarray(start))];
    this.have = buf.length - start;
    this.total = total;
    this.chunk = undefined;
    return undefined;
  }

  /** Adds the new read to the pending packet; returns the whole packet once it is complete. */
  private completePending(buf: Buffer): Buffer | undefined {
    if (this.total < 0) {
      // The remaining length itself was cut: look at no more of the new read than it can take.
      const before = this.have;
      const take = Math.min(MAX_HEADER_BYTES - before, buf.length - this.at);
      const head = Buffer.concat([...this.pieces, buf.subarray(this.at, this.at + take)]);
      const len = readRemainingLength(head, 1, head.length);
      if (len === LENGTH_INVALID) return this.refuse('protocol-error', 'invalid remaining length');
      if (len === LENGTH_INCOMPLETE) {
        this.pieces = [head];
        this.have = head.length;
        this.at += take;
        if (this.at >= buf.length) this.chunk = undefined;
        return undefined;
      }
      const length = Math.floor(len / 8);
      if (length > this.maxPacketBytes) return this.refuse('packet-too-large', `remaining length ${length}`);
      const headerBytes = 1 + (len % 8);
      this.pieces = [head.subarray(0, headerBytes)];
      this.have = headerBytes;
      this.at += headerBytes - before;
      this.total = headerBytes + length;
    }
    const need = this.total - this.have;
    const avail = buf.length - this.at;
    if (avail < need) {
      if (avail > 0) this.pieces.push(Buffer.from(buf.subarray(this.at)));
      this.have += avail;
      this.chunk = undefined;
      return undefined;
    }
    this.pieces.push(buf.subarray(this.at, this.at + need));
    this.at += need;
    if (this.at >= buf.length) this.chunk = undefined;
    const frame = Buffer.concat(this.pieces, this.total);
    this.pieces = NO_PIECES;
    this.have = 0;
    this.total = -1;
    return frame;
  }

  /** Remaining length of a whole frame held on its own (its header was read before). */
  private bodyLength(frame: Buffer): number {
    return Math.floor(readRemainingLength(frame, 1, frame.length) / 8);
  }

  private usedUp(): undefined {
    this.chunk = undefined;
    return undefined;
  }

  private refuse(reason: Refusal['reason'], message: string): undefined {
    this.refusal = { reason, message };
    this.chunk = undefined;
    this.pieces = NO_PIECES;
    return undefined;
  }
}

/** What mqtt-packet's parser starts from: MQTT 3.1.1 (C-MQTT-LEVEL). */
const PARSER_SETTINGS = { protocolVersion: 4 } as const;

/**
 * One mqtt-packet parser for every connection of the process. Making one costs more than the
 * packet it decodes: a stream-based buffer list, two stream states, and a module lookup per
 * stream, about 60 µs of a TLS connect's CPU (connect-storm profile). Each use feeds exactly one
 * whole packet, synchronously, so no bytes are left for the next connection; the parser is let go
 * whenever that is not so (an error, bytes left over, a throw). What one packet may change is
 * put back: its CONNECT's protocol level becomes the parser's settings, and must not decide how
 * another connection's packets are read.
 */
class RareDecoder {
  private parser: ReturnType<typeof mqtt.parser> | undefined;
  private packet: Packet | undefined;
  private error: Error | undefined;

  decode(frame: Buffer): Packet | Error | undefined {
    const parser = (this.parser ??= this.newParser());
    this.packet = undefined;
    this.error = undefined;
    let left: number;
    try {
      left = parser.parse(frame);
    } catch (err) {
      this.parser = undefined;
      throw err;
    }
    const { packet, error } = this;
    this.packet = undefined;
    this.error = undefined;
    if (error !== undefined || left !== 0 || packet === undefined) this.parser = undefined;
    else (parser as unknown as { settings: object }).settings = PARSER_SETTINGS;
    return error ?? packet;
  }

  private newParser(): ReturnType<typeof mqtt.parser> {
    const parser = mqtt.parser(PARSER_SETTINGS);
    parser.on('packet', (p: Packet) => (this.packet ??= p));
    parser.on('error', (e: Error) => (this.error ??= e));
    return parser;
  }
}

const rareDecoder = new RareDecoder();
