import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mqtt, { type Packet } from 'mqtt-packet';
import { PacketReader } from '../../../src/adapters/mqtt/packet-reader.js';

const MAX = 256 * 1024;

/** Every packet one reader makes of `bytes`, and its refusal if any. */
function read(reader: PacketReader, bytes: Buffer): { packets: Packet[]; refusal?: string } {
  reader.push(bytes);
  const packets: Packet[] = [];
  for (let p = reader.next(); p !== undefined; p = reader.next()) packets.push(p);
  return reader.refusal ? { packets, refusal: reader.refusal.message } : { packets };
}

/** What a fresh MQTT 3.1.1 parser of mqtt-packet's makes of one packet. */
function fresh(bytes: Buffer): Packet | string {
  const parser = mqtt.parser({ protocolVersion: 4 });
  let out: Packet | string = 'nothing';
  parser.on('packet', (p: Packet) => (out = p));
  parser.on('error', (e: Error) => (out = e.message));
  parser.parse(bytes);
  return out;
}

const subscribe = mqtt.generate({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: '/devices/d/config', qos: 1 }] });
const unsubscribe = mqtt.generate({ cmd: 'unsubscribe', messageId: 8, unsubscriptions: ['/devices/d/commands/#'] });
const connect = (protocolVersion: 3 | 4 | 5): Buffer =>
  mqtt.generate({
    cmd: 'connect',
    protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion,
    clientId: 'projects/p/locations/l/registries/r/devices/d',
    clean: true,
    keepalive: 60,
    username: 'unused',
    password: Buffer.from('a.b.c'),
  });

describe('PacketReader: packets outside the fast path (one mqtt-packet parser for the process)', () => {
  test('a CONNECT at another protocol level on one connection does not change how others are read', () => {
    for (const level of [3, 5] as const) {
      const a = new PacketReader(MAX);
      const [c] = read(a, connect(level)).packets;
      assert.equal(c?.cmd, 'connect');
      assert.equal((c as mqtt.IConnectPacket).protocolVersion, level);
      // Read as MQTT 5, the SUBSCRIBE's first byte after the ID would be a property length.
      const b = new PacketReader(MAX);
      assert.deepEqual(read(b, subscribe), { packets: [fresh(subscribe)] });
      assert.deepEqual(read(b, unsubscribe), { packets: [fresh(unsubscribe)] });
    }
  });

  test('a refused packet on one connection leaves nothing behind for the next', () => {
    const a = new PacketReader(MAX);
    // A SUBSCRIBE whose topic length runs past the packet.
    const broken = Buffer.from([0x82, 0x06, 0x00, 0x01, 0x00, 0x09, 0x61, 0x62]);
    const refused = read(a, broken);
    assert.deepEqual(refused.packets, []);
    assert.equal(refused.refusal, fresh(broken) === 'nothing' ? 'packet not decoded' : fresh(broken));
    const b = new PacketReader(MAX);
    assert.deepEqual(read(b, Buffer.concat([subscribe, connect(4), unsubscribe])), { packets: [fresh(subscribe), fresh(connect(4)), fresh(unsubscribe)] });
  });

  test('packets of many connections, interleaved, decode as a fresh parser decodes each', () => {
    const frames = [subscribe, connect(4), unsubscribe, connect(5), subscribe, connect(3), unsubscribe];
    const readers = Array.from({ length: 3 }, () => new PacketReader(MAX));
    for (let i = 0; i < 30; i++) {
      const frame = frames[i % frames.length]!;
      assert.deepEqual(read(readers[i % readers.length]!, frame), { packets: [fresh(frame)] }, `packet ${i}`);
    }
  });
});
