import type { SinkMessage } from '../../services/ports.js';

/**
 * A Pub/Sub message as stored in JetStream: one binary envelope per message, so attributes (any
 * Unicode, newlines included) survive exactly, which NATS headers would not guarantee, and a
 * reader needs no JSON parse. Layout, big-endian:
 *
 *   u8  version (1)
 *   f64 publishTime (epoch ms)
 *   u16 orderingKey length, bytes
 *   u16 attribute count, then per attribute: u16 key length, key, u32 value length, value
 *   data (the rest)
 *
 * The stream sequence is the message's seq; messageId is String(seq).
 */

const VERSION = 1;

export interface DecodedEnvelope {
  publishTime: number;
  orderingKey: string;
  attributes: Record<string, string>;
  data: Uint8Array;
}

export function encodeEnvelope(m: SinkMessage): Uint8Array {
  const ordering = Buffer.from(m.orderingKey ?? '', 'utf8');
  const keys = Object.keys(m.attributes);
  const encoded: Buffer[] = [];
  let size = 1 + 8 + 2 + ordering.length + 2;
  for (const k of keys) {
    const kb = Buffer.from(k, 'utf8');
    const vb = Buffer.from(m.attributes[k]!, 'utf8');
    encoded.push(kb, vb);
    size += 2 + kb.length + 4 + vb.length;
  }
  size += m.data.length;
  const out = Buffer.allocUnsafe(size);
  let o = out.writeUInt8(VERSION, 0);
  o = out.writeDoubleBE(m.publishTime, o);
  o = out.writeUInt16BE(ordering.length, o);
  o += ordering.copy(out, o);
  o = out.writeUInt16BE(keys.length, o);
  for (let i = 0; i < encoded.length; i += 2) {
    const kb = encoded[i]!;
    const vb = encoded[i + 1]!;
    o = out.writeUInt16BE(kb.length, o);
    o += kb.copy(out, o);
    o = out.writeUInt32BE(vb.length, o);
    o += vb.copy(out, o);
  }
  out.set(m.data, o);
  return out;
}

/** Throws on a truncated or foreign envelope (a message some other publisher put on our subject). */
export function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (o: number, n: number): void => {
    if (o + n > b.length) throw new Error('truncated message envelope');
  };
  need(0, 11);
  if (b.readUInt8(0) !== VERSION) throw new Error(`unknown message envelope version ${b.readUInt8(0)}`);
  const publishTime = b.readDoubleBE(1);
  let o = 9;
  const orderingLength = b.readUInt16BE(o);
  o += 2;
  need(o, orderingLength + 2);
  const orderingKey = b.toString('utf8', o, o + orderingLength);
  o += orderingLength;
  const count = b.readUInt16BE(o);
  o += 2;
  const attributes: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    need(o, 2);
    const kl = b.readUInt16BE(o);
    o += 2;
    need(o, kl + 4);
    const key = b.toString('utf8', o, o + kl);
    o += kl;
    const vl = b.readUInt32BE(o);
    o += 4;
    need(o, vl);
    // Defined, not assigned: an attribute named "__proto__" must stay an ordinary own attribute.
    Object.defineProperty(attributes, key, { value: b.toString('utf8', o, o + vl), enumerable: true, writable: true, configurable: true });
    o += vl;
  }
  return { publishTime, orderingKey, attributes, data: b.subarray(o) };
}
