/**
 * Differential check of the MQTT fast path (src/adapters/mqtt/packet-reader.ts + fast-codec.ts)
 * against mqtt-packet 9.0.2 as the connection used it before: one streaming parser per
 * connection, and a packet whose declared remaining length exceeds the limit refused. Seeded
 * inputs: valid packet sequences, mutations of them and random bytes, cut into random reads.
 *
 * Both sides must decode the same packets and refuse at the same packet for the same reason,
 * except where mqtt-packet is wrong and the fast path follows the MQTT spec instead; each such
 * input is counted under its documented difference (fast-codec.ts) and checked to be one:
 * - `reads-past-end`: mqtt-packet's result for the packet depends on the bytes AFTER it (shown by
 *   parsing the packet followed by two different trailers); the fast path refuses it (fast types)
 *   or decodes it from its own bytes alone (other types, which go to mqtt-packet one at a time).
 * - `invalid-utf8-topic`: a PUBLISH topic with ill-formed UTF-8 or U+0000, which mqtt-packet
 *   decodes with replacement characters; refused.
 * - `extra-bytes`: a PUBACK, PINGREQ or DISCONNECT longer than its fixed size, whose extra bytes
 *   mqtt-packet ignores; refused.
 * Anything else is a mismatch.
 */
import mqtt, { type Packet } from 'mqtt-packet';
import { PacketReader } from '../../src/adapters/mqtt/packet-reader.js';
import { headerError, LENGTH_INCOMPLETE, LENGTH_INVALID, readRemainingLength } from '../../src/adapters/mqtt/fast-codec.js';

export type Difference = 'reads-past-end' | 'invalid-utf8-topic' | 'extra-bytes';

export interface DifferentialStats {
  inputs: number;
  /** Inputs whose outcomes were identical. */
  same: number;
  /** Inputs that ended in a refusal (on both sides, or a documented one). */
  refused: number;
  packets: number;
  differences: Record<Difference, number>;
  mismatches: number;
  /** The first few mismatching inputs, hex. */
  examples: string[];
}

export function newDifferentialStats(): DifferentialStats {
  return { inputs: 0, same: 0, refused: 0, packets: 0, differences: { 'reads-past-end': 0, 'invalid-utf8-topic': 0, 'extra-bytes': 0 }, mismatches: 0, examples: [] };
}

/** Small, so that oversized packets are common among the generated ones. */
export const DIFF_MAX_PACKET_BYTES = 300;

interface Outcome {
  packets: string[];
  refused: 'protocol-error' | 'packet-too-large' | undefined;
}

/** mqtt-packet, streaming, as MqttConnection ran it. */
function oracle(chunks: readonly Buffer[], max: number): Outcome {
  const parser = mqtt.parser({ protocolVersion: 4 });
  const out: Outcome = { packets: [], refused: undefined };
  parser.on('packet', (p: Packet) => {
    if (out.refused !== undefined) return;
    if ((p as { length?: number }).length! > max) out.refused = 'packet-too-large';
    else out.packets.push(normalize(p));
  });
  parser.on('error', () => {
    // The connection reads the declared length before the body: a packet over the limit is
    // refused as too large before whatever mqtt-packet finds wrong inside it.
    out.refused ??= declaredTooLarge(Buffer.concat(chunks), out.packets.length, max) ? 'packet-too-large' : 'protocol-error';
  });
  for (const c of chunks) {
    if (out.refused !== undefined) break;
    parser.parse(c);
    if (out.refused === undefined && (parser as unknown as { packet: { length: number } }).packet.length > max) out.refused = 'packet-too-large';
  }
  return out;
}

/** Whether packet `k` of `input` has a valid first byte and a declared remaining length over `max`. */
function declaredTooLarge(input: Buffer, k: number, max: number): boolean {
  let at = 0;
  for (let i = 0; at < input.length; i++) {
    if (headerError(input[at]!) !== undefined) return false;
    const len = readRemainingLength(input, at + 1, input.length);
    if (len < 0) return false;
    if (i === k) return Math.floor(len / 8) > max;
    at += 1 + (len % 8) + Math.floor(len / 8);
  }
  return false;
}

function fast(chunks: readonly Buffer[], max: number): Outcome {
  const reader = new PacketReader(max);
  const out: Outcome = { packets: [], refused: undefined };
  for (const c of chunks) {
    reader.push(c);
    for (let p = reader.next(); p !== undefined; p = reader.next()) out.packets.push(normalize(p));
    if (reader.refusal !== undefined) {
      out.refused = reader.refusal.reason;
      break;
    }
  }
  return out;
}

const hex = (b: unknown): string => (Buffer.isBuffer(b) ? b.toString('base64') : String(b));

/** The fields the bridge reads, as a string. */
export function normalize(p: Packet): string {
  switch (p.cmd) {
    case 'publish':
      return `publish q${p.qos} d${p.dup ? 1 : 0} r${p.retain ? 1 : 0} id${String(p.messageId)} t=${JSON.stringify(p.topic)} p=${hex(p.payload)}`;
    case 'puback':
      return `puback id${String(p.messageId)}`;
    case 'pingreq':
    case 'disconnect':
      return p.cmd;
    default:
      return JSON.stringify(p, (_k, v: unknown) => (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? hex(Buffer.from((v as { data: number[] }).data)) : v));
  }
}

/** Frames of `input` by their fixed headers (what both sides agree on); stops at the first bad or incomplete one. */
function frames(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < input.length) {
    const len = readRemainingLength(input, at + 1, input.length);
    if (len === LENGTH_INCOMPLETE || len === LENGTH_INVALID) break;
    const end = at + 1 + (len % 8) + Math.floor(len / 8);
    if (end > input.length) break;
    out.push(input.subarray(at, end));
    at = end;
  }
  return out;
}

/** mqtt-packet's result for `frame` followed by `trailer`, the first packet or error only. */
function firstResult(frame: Buffer, trailer: Buffer): string {
  const parser = mqtt.parser({ protocolVersion: 4 });
  let result: string | undefined;
  parser.on('packet', (p: Packet) => (result ??= normalize(p)));
  parser.on('error', () => (result ??= 'error'));
  parser.parse(Buffer.concat([frame, trailer]));
  return result ?? 'incomplete';
}

const TRAILER_A = Buffer.from([0x30, 0x05, 0x00, 0x01, 0x61, 0x62, 0x63]);
const TRAILER_B = Buffer.from([0xc0, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x00]);

/** Which documented difference explains `frame`, if any. */
function classify(frame: Buffer): Difference | undefined {
  if (firstResult(frame, TRAILER_A) !== firstResult(frame, TRAILER_B) || firstResult(frame, Buffer.alloc(0)) !== firstResult(frame, TRAILER_A)) return 'reads-past-end';
  const type = frame[0]! >> 4;
  const lenInfo = readRemainingLength(frame, 1, frame.length);
  const body = 1 + (lenInfo % 8);
  const length = frame.length - body;
  if ((type === 4 && length > 2) || ((type === 12 || type === 14) && length > 0)) return 'extra-bytes';
  if (type === 3 && length >= 2) {
    const n = frame.readUInt16BE(body);
    const topic = frame.subarray(body + 2, body + 2 + n);
    if (topic.includes(0) || !Buffer.from(topic.toString('utf8'), 'utf8').equals(topic)) return 'invalid-utf8-topic';
  }
  return undefined;
}

/** Runs one input (its reads in order) through both sides; updates `stats`. */
export function compareInput(chunks: readonly Buffer[], stats: DifferentialStats, max = DIFF_MAX_PACKET_BYTES): void {
  stats.inputs++;
  const a = oracle(chunks, max);
  const b = fast(chunks, max);
  stats.packets += b.packets.length;
  if (a.refused === b.refused && a.packets.length === b.packets.length && a.packets.every((p, i) => p === b.packets[i])) {
    stats.same++;
    if (a.refused !== undefined) stats.refused++;
    return;
  }
  // The outcomes part at the first packet they do not share.
  let k = 0;
  while (k < a.packets.length && k < b.packets.length && a.packets[k] === b.packets[k]) k++;
  const frame = frames(Buffer.concat(chunks))[k];
  const difference = frame === undefined ? undefined : classify(frame);
  const fastType = frame !== undefined && [3, 4, 12, 14].includes(frame[0]! >> 4);
  let explained = false;
  if (difference !== undefined && frame !== undefined) {
    if (fastType) {
      // The fast path refused exactly this packet, having decoded the same ones before it.
      explained = b.refused === 'protocol-error' && b.packets.length === k;
    } else {
      // Decoded from its own bytes, as mqtt-packet does when nothing follows it.
      const alone = firstResult(frame, Buffer.alloc(0));
      explained = difference === 'reads-past-end' && (alone === 'error' ? b.refused === 'protocol-error' && b.packets.length === k : b.packets[k] === alone);
    }
  }
  if (explained && difference !== undefined) {
    stats.differences[difference]++;
    stats.refused += b.refused !== undefined ? 1 : 0;
    return;
  }
  stats.mismatches++;
  if (stats.examples.length < 5) {
    stats.examples.push(`${Buffer.concat(chunks).toString('hex')} split ${chunks.map((c) => c.length).join('+')}: mqtt-packet ${JSON.stringify(a)} fast ${JSON.stringify(b)}`);
  }
}

// ---- input generation ----

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOPIC_PARTS = ['/devices/dev-1/events', '/devices/dev-1/state', '/devices/d/events/a/b', '/devices/g/attach', 'x', '', 'héllo/wörld', '日本'];

function validPacket(r: () => number): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const id = 1 + Math.floor(r() * 65535);
  const bytes = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
    return b;
  };
  const kind = r();
  if (kind < 0.45) {
    const qos = pick([0, 1, 1, 1] as const);
    const payload = bytes(Math.floor(r() < 0.9 ? r() * 80 : r() * 400));
    return mqtt.generate({ cmd: 'publish', topic: pick(TOPIC_PARTS), payload, qos, messageId: qos > 0 ? id : undefined, dup: r() < 0.1, retain: r() < 0.1 } as Packet);
  }
  if (kind < 0.6) return mqtt.generate({ cmd: 'puback', messageId: id });
  if (kind < 0.7) return mqtt.generate({ cmd: 'pingreq' });
  if (kind < 0.74) return mqtt.generate({ cmd: 'disconnect' });
  if (kind < 0.84) return mqtt.generate({ cmd: 'subscribe', messageId: id, subscriptions: [{ topic: pick(['/devices/d/config', '/devices/d/commands/#', 'a/+/b']), qos: pick([0, 1] as const) }] });
  if (kind < 0.9) return mqtt.generate({ cmd: 'unsubscribe', messageId: id, unsubscriptions: ['/devices/d/config'] });
  if (kind < 0.95) return mqtt.generate({ cmd: 'connect', clientId: 'projects/p/locations/l/registries/r/devices/d', protocolVersion: 4, protocolId: 'MQTT', clean: true, keepalive: 60, username: 'unused', password: Buffer.from('jwt') });
  return mqtt.generate({ cmd: pick(['pubrec', 'pubrel', 'pubcomp'] as const), messageId: id } as Packet);
}

/** One mutation of a packet's bytes, aimed at what a decoder gets wrong. */
function mutate(p: Buffer, r: () => number): Buffer {
  const b = Buffer.from(p);
  const at = (): number => Math.floor(r() * b.length);
  switch (Math.floor(r() * 10)) {
    case 0: // a bit flip anywhere
      if (b.length > 0) b[at()]! ^= 1 << Math.floor(r() * 8);
      return b;
    case 1: // the header's flags
      b[0] = (b[0]! & 0xf0) | Math.floor(r() * 16);
      return b;
    case 2: // another type, same body
      b[0] = (Math.floor(r() * 16) << 4) | (b[0]! & 0x0f);
      return b;
    case 3: {
      // a remaining length shorter or longer than the body (re-framed)
      const lenInfo = readRemainingLength(b, 1, b.length);
      const body = b.subarray(1 + (lenInfo % 8));
      const delta = Math.floor(r() * 7) - 3;
      const n = Math.max(0, body.length + delta);
      return Buffer.concat([Buffer.from([b[0]!]), encodeLength(n), body]);
    }
    case 4: // truncated
      return b.subarray(0, at());
    case 5: {
      // the topic length or packet id bytes (bytes 2..5) corrupted
      const i = 2 + Math.floor(r() * 4);
      if (i < b.length) b[i] = Math.floor(r() * 256);
      return b;
    }
    case 6: {
      // invalid UTF-8 / NUL in a topic-sized region
      const i = 4 + Math.floor(r() * 6);
      if (i < b.length) b[i] = [0x00, 0xff, 0xc0, 0x80, 0xed, 0xe0][Math.floor(r() * 6)]!;
      return b;
    }
    case 7: // a remaining length of 4 continuation bytes, or non-minimal
      return Buffer.concat([Buffer.from([b[0]!]), r() < 0.5 ? Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]) : Buffer.from([0x82, 0x80, 0x00]), b.subarray(2)]);
    case 8: // random bytes
      return Buffer.from(Array.from({ length: Math.floor(r() * 12) }, () => Math.floor(r() * 256)));
    default: // a huge declared length
      return Buffer.concat([Buffer.from([b[0]!]), encodeLength(DIFF_MAX_PACKET_BYTES + 1 + Math.floor(r() * 100_000)), b.subarray(2)]);
  }
}

function encodeLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    out.push(d);
  } while (n > 0);
  return Buffer.from(out);
}

/** One input: 1–4 packets, each mutated with some probability, cut into 1–4 reads. */
export function generateInput(r: () => number): Buffer[] {
  const n = 1 + Math.floor(r() * 4);
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const p = validPacket(r);
    parts.push(r() < 0.35 ? mutate(p, r) : p);
  }
  const all = Buffer.concat(parts);
  const cuts = Math.floor(r() * 4);
  const points = Array.from({ length: cuts }, () => Math.floor(r() * (all.length + 1))).sort((x, y) => x - y);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) chunks.push(all.subarray(last, p));
    last = Math.max(last, p);
  }
  if (last < all.length) chunks.push(all.subarray(last));
  // Each read as its own buffer, as a socket hands them over.
  return chunks.map((c) => Buffer.from(c));
}

/** Runs `count` seeded inputs. */
export function runDifferential(count: number, seed: number, stats = newDifferentialStats()): DifferentialStats {
  const r = prng(seed);
  for (let i = 0; i < count; i++) compareInput(generateInput(r), stats);
  return stats;
}
