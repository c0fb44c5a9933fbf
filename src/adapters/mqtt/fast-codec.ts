import { isUtf8 } from 'node:buffer';
import type { IDisconnectPacket, IPingreqPacket, IPubackPacket, IPublishPacket } from 'mqtt-packet';

/**
 * The MQTT 3.1.1 packets a device sends all the time (PUBLISH, PUBACK, PINGREQ, DISCONNECT),
 * decoded straight from the socket's bytes, and the PUBACK / PINGRESP the bridge answers with,
 * encoded without mqtt-packet. Pure: bytes in, packets or a refusal out. Every other packet type
 * is left to mqtt-packet (packet-reader.ts).
 *
 * It refuses what mqtt-packet 9.0.2 refuses, and on three points it follows the MQTT spec where
 * mqtt-packet does not (test/adapters/mqtt/fast-codec-differential.test.ts checks each):
 * 1. A QoS 1/2 PUBLISH too short to hold its packet identifier, and a PUBACK whose remaining length
 *    is not 2: mqtt-packet reads the identifier past the packet's end (from the next packet's
 *    bytes, or gives -1 when none are buffered). Refused: malformed [MQTT-2.3.1], §3.4.1.
 * 2. A topic that is not well-formed UTF-8 or holds U+0000: mqtt-packet decodes it with
 *    replacement characters. Refused [MQTT-1.5.3-1], [MQTT-1.5.3-2].
 * 3. A PINGREQ or DISCONNECT with a non-zero remaining length: mqtt-packet ignores the extra bytes.
 *    Refused: both have no variable header and no payload (§3.12, §3.14).
 */

/** Packet types (high nibble of the first byte). */
export const PUBLISH = 3;
export const PUBACK = 4;
export const PINGREQ = 12;
export const DISCONNECT = 14;

/** What the fast path decodes: the packet types above, in mqtt-packet's shapes. */
export type FastPacket = IPublishPacket | IPubackPacket | IPingreqPacket | IDisconnectPacket;

/** A refusal: the connection ends (there is no resynchronising a byte stream). */
export class CodecError extends Error {}

/** Whether the fast path decodes packets of this type itself. */
export function isFastType(type: number): boolean {
  return type === PUBLISH || type === PUBACK || type === PINGREQ || type === DISCONNECT;
}

/**
 * Checks the first byte as mqtt-packet does as soon as it has it: reserved flag bits
 * [MQTT-2.2.2-1] and QoS 3 [MQTT-3.3.1-4]. Returns an error message, or undefined when valid.
 */
export function headerError(first: number): string | undefined {
  const type = first >> 4;
  const flags = first & 0x0f;
  const required = REQUIRED_FLAGS[type];
  if (required !== undefined && flags !== required) return `invalid header flag bits 0x${flags.toString(16)} for packet type ${type}`;
  if (((first >> 1) & 3) === 3) return 'both QoS bits set';
  return undefined;
}

/** Fixed-header flags of MQTT 3.1.1 Table 2.2 (types 0 and 3 have none fixed), as mqtt-packet applies them. */
const REQUIRED_FLAGS: readonly (number | undefined)[] = [undefined, 0, 0, undefined, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];

/** Result of reading the fixed header's remaining length. */
export const LENGTH_INCOMPLETE = -1;
export const LENGTH_INVALID = -2;

/**
 * Reads the remaining length that starts at `at` (the byte after the first): its value and the
 * number of bytes it took, packed as value * 8 + bytes; LENGTH_INCOMPLETE when `end` comes first,
 * LENGTH_INVALID after four bytes with the continuation bit (mqtt-packet's rule; like it,
 * non-minimal encodings are accepted).
 */
export function readRemainingLength(buf: Uint8Array, at: number, end: number): number {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 4; i++) {
    if (at + i >= end) return LENGTH_INCOMPLETE;
    const b = buf[at + i]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return value * 8 + i + 1;
    mul *= 128;
  }
  return LENGTH_INVALID;
}

/**
 * Decodes one whole fast-path packet: `buf[start]` is its first byte (already checked by
 * headerError), its body runs from `body` to `end` (end - body = remaining length). The payload
 * is a view into `buf`, not a copy. `topics` may hand back a string for topic bytes seen before.
 */
export function decodeFast(buf: Buffer, start: number, body: number, end: number, topics?: TopicCache): FastPacket {
  const first = buf[start]!;
  const type = first >> 4;
  const length = end - body;
  switch (type) {
    case PUBLISH:
      return decodePublish(buf, first, body, end, length, topics);
    case PUBACK:
      if (length !== 2) throw new CodecError(`PUBACK remaining length ${length}, not 2`);
      return { cmd: 'puback', messageId: (buf[body]! << 8) | buf[body + 1]!, length } as IPubackPacket;
    case PINGREQ:
      if (length !== 0) throw new CodecError(`PINGREQ remaining length ${length}, not 0`);
      return PINGREQ_PACKET;
    case DISCONNECT:
      if (length !== 0) throw new CodecError(`DISCONNECT remaining length ${length}, not 0`);
      return DISCONNECT_PACKET;
    default:
      throw new Error(`packet type ${type} is not decoded by the fast path`);
  }
}

/** Shared: they carry nothing, and the session never changes a packet. */
const PINGREQ_PACKET: IPingreqPacket = Object.freeze({ cmd: 'pingreq' }) as IPingreqPacket;
const DISCONNECT_PACKET: IDisconnectPacket = Object.freeze({ cmd: 'disconnect' }) as IDisconnectPacket;

function decodePublish(buf: Buffer, first: number, body: number, end: number, length: number, topics: TopicCache | undefined): IPublishPacket {
  const qos = ((first >> 1) & 3) as 0 | 1 | 2;
  if (length < 2) throw new CodecError('PUBLISH too short for its topic length');
  const topicLength = (buf[body]! << 8) | buf[body + 1]!;
  const topicStart = body + 2;
  const topicEnd = topicStart + topicLength;
  if (topicEnd > end) throw new CodecError('PUBLISH topic runs past the packet');
  let at = topicEnd;
  let messageId: number | undefined;
  if (qos > 0) {
    if (at + 2 > end) throw new CodecError('PUBLISH too short for its packet identifier');
    messageId = (buf[at]! << 8) | buf[at + 1]!;
    at += 2;
  }
  const topic = topics !== undefined ? topics.get(buf, topicStart, topicEnd) : decodeTopic(buf, topicStart, topicEnd);
  // The same shape as mqtt-packet's (every field present), so the handlers see one hidden class.
  return { cmd: 'publish', retain: (first & 1) !== 0, qos, dup: (first & 8) !== 0, length, topic, payload: buf.subarray(at, end), messageId } as IPublishPacket;
}

/** A topic's bytes as a string; refuses ill-formed UTF-8 and U+0000 [MQTT-1.5.3-1, -2]. */
export function decodeTopic(buf: Buffer, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === 0) throw new CodecError('topic contains U+0000');
    if (b >= 0x80) ascii = false;
  }
  if (!ascii && !isUtf8(buf.subarray(start, end))) throw new CodecError('topic is not well-formed UTF-8');
  return buf.toString(ascii ? 'latin1' : 'utf8', start, end);
}

/**
 * The last few topics of one connection, by their bytes: a device publishes to the same topic
 * over and over, and a hit costs a byte comparison instead of a validation and a new string.
 */
export class TopicCache {
  private readonly bytes: Buffer[] = [];
  private readonly strings: string[] = [];
  private next = 0;

  get(buf: Buffer, start: number, end: number): string {
    const n = end - start;
    for (let k = 0; k < this.bytes.length; k++) {
      const known = this.bytes[k]!;
      if (known.length === n && sameBytes(known, buf, start, n)) return this.strings[k]!;
    }
    const topic = decodeTopic(buf, start, end);
    // Bounded and small: a copy of the bytes, never a view pinning a socket read.
    if (n <= 256) {
      const slot = this.next;
      this.next = (slot + 1) % TOPIC_CACHE_SIZE;
      this.bytes[slot] = Buffer.from(buf.subarray(start, end));
      this.strings[slot] = topic;
    }
    return topic;
  }
}

const TOPIC_CACHE_SIZE = 4;

/** A plain loop: topics are short, and Buffer.compare's offset checks cost more than the bytes. */
function sameBytes(known: Buffer, buf: Buffer, start: number, n: number): boolean {
  for (let i = n - 1; i >= 0; i--) if (known[i] !== buf[start + i]) return false;
  return true;
}

/** PINGRESP, encoded once; never written to (shared by every connection). */
export const PINGRESP_BYTES: Buffer = Buffer.from([0xd0, 0x00]);

/** Writes a PUBACK for `messageId` (1..65535) at `at`; returns the offset after it. */
export function writePuback(out: Buffer, at: number, messageId: number): number {
  out[at] = 0x40;
  out[at + 1] = 0x02;
  out[at + 2] = messageId >> 8;
  out[at + 3] = messageId & 0xff;
  return at + 4;
}

export const PUBACK_BYTES = 4;

/**
 * The CONNACKs an MQTT 3.1.1 server sends (session present: never, docs/compat.md C-MQTT-FLAGS;
 * return codes 0-5), encoded once: one goes out per connect, and mqtt-packet's generator costs
 * more than the four bytes. Never written to (shared by every connection).
 */
const CONNACKS: readonly Buffer[] = [0, 1, 2, 3, 4, 5].map((rc) => Buffer.from([0x20, 0x02, 0x00, rc]));

/** The pre-encoded CONNACK for `returnCode` without session present, or undefined for anything else. */
export function connackBytes(returnCode: number | undefined, sessionPresent: boolean): Buffer | undefined {
  return sessionPresent || returnCode === undefined ? undefined : CONNACKS[returnCode];
}
