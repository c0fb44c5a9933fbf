import mqttPacket, { type Packet } from 'mqtt-packet';

/**
 * Inputs for fuzzing the MQTT bridge: a seeded PRNG (every run can be replayed from its seed),
 * valid packets of a device or a gateway (CONNECT with a real JWT, PUBLISH to events and state,
 * SUBSCRIBE / UNSUBSCRIBE to config, commands and errors, PUBACK, PINGREQ, attach and detach), and
 * mutations of them: bit flips, truncation, corrupted remaining lengths, random bytes, splices,
 * duplicated and reordered packets. Also the split of a byte stream into several writes.
 */

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Prng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from nothing');
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** Who a fuzzed connection is: a device, or a gateway and the devices bound to it. */
export interface FuzzIdentity {
  /** String device ID of the connecting device (or gateway). */
  id: string;
  clientId: string;
  /** A valid device JWT for it. */
  jwt: string;
  /** Devices bound to it (gateways only; ASSOCIATION_ONLY, so attach payloads carry no JWT). */
  attachable: readonly string[];
}

export const encode = (p: Packet): Buffer => mqttPacket.generate(p);

export const connectPacket = (who: FuzzIdentity, keepalive = 60): Buffer =>
  encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: who.clientId, keepalive, username: 'unused', password: Buffer.from(who.jwt) });

export const PINGREQ = encode({ cmd: 'pingreq' });

const publish = (topic: string, payload: Buffer, qos: 0 | 1, messageId: number): Buffer =>
  encode({ cmd: 'publish', topic, payload, qos, retain: false, dup: false, ...(qos === 1 ? { messageId } : {}) });

export const attachPacket = (device: string, messageId: number): Buffer => publish(`/devices/${device}/attach`, Buffer.from('{"authorization":""}'), 1, messageId);

/**
 * One valid packet a connected `who` may send. Valid on the wire; some break a rule of the bridge
 * on purpose (a second state within the second, a publish for a device not attached), as real
 * clients do.
 */
export function validPacket(rng: Prng, who: FuzzIdentity): Buffer {
  const id = (): number => 1 + rng.int(65_535);
  const devices = [who.id, ...who.attachable];
  const device = rng.pick(devices);
  const qos = (): 0 | 1 => (rng.chance(0.5) ? 1 : 0);
  switch (rng.int(12)) {
    case 0:
    case 1:
    case 2:
      return publish(`/devices/${device}/events${rng.chance(0.3) ? `/${rng.pick(['alerts', 'a/b', 'x'])}` : ''}`, rng.bytes(rng.int(64)), qos(), id());
    case 3: {
      // Its own state only now and then: twice within a second closes the connection (attached
      // devices are merely detached).
      const stateOf = who.attachable.length > 0 && rng.chance(0.9) ? rng.pick(who.attachable) : rng.chance(0.2) ? who.id : undefined;
      return stateOf === undefined ? PINGREQ : publish(`/devices/${stateOf}/state`, rng.bytes(rng.int(32)), qos(), id());
    }
    case 4:
      return encode({ cmd: 'subscribe', messageId: id(), subscriptions: [{ topic: `/devices/${device}/${rng.pick(['config', 'commands/#', 'commands/sys', 'errors'])}`, qos: rng.int(3) as 0 | 1 | 2 }] });
    case 5:
      return encode({ cmd: 'unsubscribe', messageId: id(), unsubscriptions: [`/devices/${device}/${rng.pick(['config', 'commands/#', 'errors'])}`] });
    case 6:
      return encode({ cmd: 'puback', messageId: id() });
    case 7:
      return PINGREQ;
    case 8:
    case 9:
      return who.attachable.length > 0 ? attachPacket(rng.pick(who.attachable), id()) : PINGREQ;
    case 10:
      return who.attachable.length > 0 ? publish(`/devices/${rng.pick(who.attachable)}/detach`, Buffer.alloc(0), qos(), id()) : PINGREQ;
    default:
      return publish(`/devices/${device}/events`, Buffer.from('{"t":1}'), 1, id());
  }
}

/** The names of the mutations, for reports. */
export const MUTATIONS = ['bit-flip', 'truncate', 'length', 'shrink', 'grow', 'random-bytes', 'splice', 'duplicate', 'reorder', 'header-byte'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** Applies one random mutation to `packets` (already encoded) and returns the bytes to send. */
export function mutate(rng: Prng, packets: readonly Buffer[]): { bytes: Buffer; mutation: Mutation } {
  const mutation = rng.pick(MUTATIONS);
  const one = Buffer.from(rng.pick(packets));
  switch (mutation) {
    case 'bit-flip': {
      for (let n = 1 + rng.int(3); n > 0; n--) {
        const i = rng.int(one.length);
        one[i] = one[i]! ^ (1 << rng.int(8));
      }
      return { bytes: one, mutation };
    }
    case 'truncate':
      return { bytes: one.subarray(0, rng.int(one.length)), mutation };
    case 'length': {
      // A remaining-length field of 1 to 4 bytes, with any value (continuation bits included).
      const header = 1 + (one.length > 1 ? varintLength(one, 1) : 0);
      return { bytes: Buffer.concat([one.subarray(0, 1), rng.bytes(1 + rng.int(4)), one.subarray(header)]), mutation };
    }
    case 'shrink': {
      // Cut the body and fix the remaining length to match: still framed, now missing fields
      // (a SUBSCRIBE of nothing but its packet ID, a PUBLISH without a payload or topic).
      const body = bodyLength(one);
      return { bytes: body === undefined ? one.subarray(0, rng.int(one.length)) : shrink(one, rng.int(body + 1)), mutation };
    }
    case 'grow': {
      const framed = frame(one);
      if (!framed) return { bytes: Buffer.concat([one, rng.bytes(1 + rng.int(8))]), mutation };
      return { bytes: reframe(framed.type, Buffer.concat([framed.body, rng.bytes(1 + rng.int(8))])), mutation };
    }
    case 'random-bytes':
      return { bytes: rng.chance(0.5) ? rng.bytes(1 + rng.int(48)) : Buffer.concat([one, rng.bytes(1 + rng.int(16))]), mutation };
    case 'splice': {
      const other = rng.pick(packets);
      return { bytes: Buffer.concat([one.subarray(0, rng.int(one.length + 1)), other.subarray(rng.int(other.length))]), mutation };
    }
    case 'duplicate':
      return { bytes: Buffer.concat([one, one, ...(rng.chance(0.5) ? [one] : [])]), mutation };
    case 'reorder': {
      const copy = [...packets];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [copy[i], copy[j]] = [copy[j]!, copy[i]!];
      }
      return { bytes: Buffer.concat(copy), mutation };
    }
    case 'header-byte':
      // Any packet type with any flags.
      one[0] = rng.next() & 0xff;
      return { bytes: one, mutation };
  }
}

/** The length of a whole packet's body (what follows its remaining length); undefined if it is not one packet. */
export const bodyLength = (p: Buffer): number | undefined => frame(p)?.body.length;

/** `packet` with its body cut to `keep` bytes and its remaining length fixed to match. */
export function shrink(packet: Buffer, keep: number): Buffer {
  const framed = frame(packet);
  if (!framed) throw new Error('not one whole packet');
  return reframe(framed.type, framed.body.subarray(0, keep));
}

/** A whole packet's first byte and body, if it is one. */
function frame(p: Buffer): { type: number; body: Buffer } | undefined {
  let length = 0;
  for (let i = 1, shift = 0; i < p.length && i <= 4; i++, shift += 7) {
    length += (p[i]! & 0x7f) * 2 ** shift;
    if ((p[i]! & 0x80) === 0) return p.length - i - 1 === length ? { type: p[0]!, body: p.subarray(i + 1) } : undefined;
  }
  return undefined;
}

/** A packet of `type` (first byte) around `body`, its remaining length encoded as MQTT does. */
function reframe(type: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), body]);
}

/** Bytes taken by the variable-length integer at `at` (1 to 4, or what is there). */
function varintLength(b: Buffer, at: number): number {
  let n = 0;
  while (at + n < b.length && n < 4) {
    const byte = b[at + n]!;
    n++;
    if ((byte & 0x80) === 0) break;
  }
  return n;
}

/** `bytes` cut at the given offsets (sorted, inside the buffer) into the writes to make. */
export function splitAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const cuts = [...new Set(offsets.filter((o) => o > 0 && o < bytes.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Up to `n` random cut points of `bytes`. */
export const randomCuts = (rng: Prng, bytes: Buffer, n: number): number[] => Array.from({ length: n }, () => 1 + rng.int(Math.max(1, bytes.length - 1)));
