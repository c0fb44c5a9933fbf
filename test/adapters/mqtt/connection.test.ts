import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MqttConnection, type ConnectionLimits } from '../../../src/adapters/mqtt/connection.js';
import { clientIdOf, connectPacket, Harness, subscribe } from './harness.js';

/**
 * MqttConnection over an in-memory socket (no network): encoding failures, write backpressure and
 * the bound on bytes a peer leaves unread (docs/compat.md C-MQTT-BACKLOG), and exceptions kept
 * inside the connection. The session's requests are answered by the test (ManualPorts) once the
 * bytes that lead to them have reached it; every wait is for an event of the socket.
 */

/**
 * The server's end of a connection. `stalled`: the peer reads nothing, so every write stays
 * queued in the stream (writableLength grows) until `release()`.
 */
class PeerSocket extends Duplex {
  stalled = false;
  readonly written: Buffer[] = [];
  private held: (() => void)[] = [];

  constructor() {
    super({ highWaterMark: 16 * 1024 });
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.written.push(chunk);
    this.emit('wrote');
    if (this.stalled) this.held.push(() => done());
    else done();
  }

  /** The peer sends bytes to the server. */
  fromPeer(bytes: Buffer): void {
    this.push(bytes);
  }

  release(): void {
    this.stalled = false;
    for (const done of this.held.splice(0)) done();
  }

  /** Every packet the server wrote. */
  packets(): Packet[] {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const out: Packet[] = [];
    parser.on('packet', (p: Packet) => out.push(p));
    parser.parse(Buffer.concat(this.written));
    return out;
  }
}

const LIMITS: ConnectionLimits = { maxPacketBytes: 256 * 1024 + 4096, maxWriteBacklogBytes: 512 * 1024 };

function open(h: Harness, limits: ConnectionLimits = LIMITS): { socket: PeerSocket; conn: MqttConnection; closed: Promise<unknown> } {
  const socket = new PeerSocket();
  const closed = once(socket, 'close');
  const conn = new MqttConnection(socket, h.env, 'c-test', limits, () => undefined);
  return { socket, conn, closed };
}

async function connected(h: Harness, id: string, limits?: ConnectionLimits): Promise<{ socket: PeerSocket; conn: MqttConnection; closed: Promise<unknown> }> {
  const c = open(h, limits);
  c.socket.fromPeer(mqttPacket.generate(connectPacket(clientIdOf(id), h.token(id))));
  await h.io.answer(await h.io.next('auth'));
  assert.equal(c.conn.session.phase, 'connected');
  return c;
}

/** The server ended its side (after flushing) or dropped the socket. */
const ended = (socket: PeerSocket): Promise<unknown> => Promise.race([once(socket, 'finish'), once(socket, 'close')]);

describe('MqttConnection', () => {
  test('an outgoing packet that cannot be encoded closes that connection (internal-error) and throws nothing', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { socket, conn, closed } = await connected(h, 'dev-1');
    conn.send({ cmd: 'suback', messageId: 1, granted: [] });
    await closed;
    assert.equal(socket.destroyed, true);
    assert.deepEqual(h.metrics.reasons, ['internal-error']);
  });

  test('CONNECT and an empty SUBSCRIBE in one write: the connection is closed, nothing but the CONNACK is sent', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { socket } = open(h);
    const finished = once(socket, 'finish');
    socket.fromPeer(Buffer.concat([mqttPacket.generate(connectPacket(clientIdOf('dev-1'), h.token('dev-1'))), Buffer.from([0x82, 0x02, 0x00, 0x01])]));
    await h.io.answer(await h.io.next('auth'));
    // Closed gracefully: what was sent is flushed, then the server's side ends.
    await finished;
    assert.deepEqual(
      socket.packets().map((p) => p.cmd),
      ['connack'],
    );
    assert.deepEqual(h.metrics.reasons, ['protocol-error']);
  });

  test('a QoS 1 PUBLISH whose body ends with its topic: closed, never answered with a PUBACK cut short [MQTT-2.3.1-1]', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { socket } = await connected(h, 'dev-1');
    const topic = Buffer.from('/devices/dev-1/events');
    const cut = Buffer.concat([Buffer.from([0x32, topic.length + 2, 0, topic.length]), topic]);
    const closing = ended(socket);
    socket.fromPeer(cut);
    await closing;
    assert.deepEqual(
      socket.packets().map((p) => p.cmd),
      ['connack'],
    );
    assert.deepEqual(h.metrics.reasons, ['protocol-error']);
  });

  test('an outgoing packet identifier out of range is our bug: the connection closes (internal-error) instead of sending a packet cut short', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { socket, conn } = await connected(h, 'dev-1');
    const before = socket.written.length;
    conn.send({ cmd: 'puback', messageId: -1 });
    assert.equal(socket.destroyed, true, 'dropped at once');
    assert.equal(socket.written.length, before, 'nothing written');
    assert.deepEqual(h.metrics.reasons, ['internal-error']);
  });

  test('an exception in the clock tick closes that connection only', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    await h.addDevice('dev-2');
    const one = await connected(h, 'dev-1');
    const two = await connected(h, 'dev-2');
    one.conn.session.tick = (): never => {
      throw new Error('injected fault');
    };
    for (const c of [one, two]) c.conn.tick(h.clock.now());
    await one.closed;
    assert.equal(two.socket.destroyed, false);
    assert.equal(two.conn.session.phase, 'connected');
  });

  test('a read of 2,000 packets is handled over several turns of the event loop, in order', async () => {
    const h = await Harness.create({ limits: { maxMessagesPerSecond: 0 } });
    await h.addDevice('dev-1');
    const { socket, conn } = await connected(h, 'dev-1');
    let handled = 0;
    let allHandled: () => void = () => undefined;
    const everyPacketHandled = new Promise<void>((resolve) => (allHandled = resolve));
    const handle = conn.session.handle.bind(conn.session);
    conn.session.handle = (p) => {
      handled++;
      handle(p);
      if (handled === 2000) allHandled();
    };
    const subacks = (): number => socket.packets().filter((p) => p.cmd === 'suback').length;
    const everySubackWritten = new Promise<void>((resolve) => {
      const check = (): void => {
        if (subacks() < 2000) return;
        socket.off('wrote', check);
        resolve();
      };
      socket.on('wrote', check);
    });
    const burst = Buffer.concat(Array.from({ length: 2000 }, (_, i) => mqttPacket.generate(subscribe(i + 1, ['/devices/dev-1/commands/#', 0]))));
    socket.fromPeer(burst);
    await new Promise((r) => process.nextTick(r));
    assert.ok(handled > 0 && handled < 2000, `${handled} handled before the other connections' turn`);
    await everyPacketHandled;
    await everySubackWritten;
    const ids = socket.packets().flatMap((p) => (p.cmd === 'suback' ? [p.messageId] : []));
    assert.deepEqual(ids, Array.from({ length: 2000 }, (_, i) => i + 1));
    assert.equal(socket.isPaused(), false, 'reading again');
  });

  test("mqtt-packet's cache of 65,536 encoded packet identifiers stays off once the bridge is loaded", () => {
    assert.equal(mqttPacket.writeToStream.cacheNumbers, false);
  });

  test('a turn takes 256 fast-path packets of one read but only 32 of those mqtt-packet decodes (SUBSCRIBE)', async () => {
    const h = await Harness.create({ limits: { maxMessagesPerSecond: 0 } });
    await h.addDevice('dev-1');
    const { socket, conn } = await connected(h, 'dev-1');
    let handled = 0;
    const handle = conn.session.handle.bind(conn.session);
    conn.session.handle = (p) => {
      handled++;
      handle(p);
    };
    const firstTurn = async (burst: Buffer): Promise<number> => {
      // A turn of its own: what came before (the CONNECT) counted against the previous one.
      await new Promise((r) => setImmediate(r));
      handled = 0;
      socket.fromPeer(burst);
      await new Promise((r) => process.nextTick(r));
      const n = handled;
      // The rest of the read, in later turns, before the next read.
      await new Promise((r) => setTimeout(r, 50));
      return n;
    };
    assert.equal(await firstTurn(Buffer.concat(Array.from({ length: 300 }, () => mqttPacket.generate({ cmd: 'pingreq' })))), 256);
    assert.equal(await firstTurn(Buffer.concat(Array.from({ length: 100 }, (_, i) => mqttPacket.generate(subscribe(i + 1, ['/devices/dev-1/commands/#', 0]))))), 32);
    assert.equal(socket.packets().filter((p) => p.cmd === 'suback').length, 100);
  });

  test('a connection that does not authenticate in time is dropped by its own timer, with no half-close', async () => {
    const h = await Harness.create({ limits: { connectTimeoutMs: 50 } });
    const { socket, closed } = open(h);
    let finished = false;
    socket.on('finish', () => (finished = true));
    // The connection's timer does not hold the process open (it is unref'd): this one does, and
    // fails the test if the drop never comes.
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error('not dropped within 2 s of a 50 ms connect timeout')), 2_000);
    });
    await Promise.race([closed, late]);
    clearTimeout(deadline);
    assert.equal(finished, false, 'destroyed, not ended');
    assert.deepEqual(h.metrics.reasons, ['connect-timeout']);
  });

  test('a peer that stops reading: reads pause while a write is pending and resume on drain', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1', { config: Buffer.alloc(40 * 1024, 1) });
    const { socket } = await connected(h, 'dev-1');
    socket.stalled = true;
    socket.fromPeer(mqttPacket.generate(subscribe(1, ['/devices/dev-1/config', 0])));
    const paused = once(socket, 'pause');
    await h.io.answer(await h.io.next('config'));
    await paused;
    assert.ok(socket.writableLength > 40 * 1024, 'the config queued');
    assert.equal(socket.isPaused(), true, 'no more requests are read while the answer waits');
    const resumed = once(socket, 'resume');
    socket.release();
    await resumed;
    assert.equal(socket.isPaused(), false, 'reads resumed after the drain');
    assert.equal(socket.writableLength, 0);
  });

  test('a large packet is written as it is, between what was sent before and after it in the same turn', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { socket, conn } = await connected(h, 'dev-1');
    await new Promise((r) => setImmediate(r));
    const before = socket.written.length;
    const payload = Buffer.alloc(40 * 1024, 3);
    conn.send({ cmd: 'pingresp' });
    const large = { cmd: 'publish', topic: '/devices/dev-1/commands', payload, qos: 0, retain: false, dup: false } as const;
    conn.send(large);
    conn.sendPuback(7);
    conn.sendPingresp();
    await new Promise((r) => setImmediate(r));
    const writes = socket.written.slice(before);
    assert.equal(writes.length, 3, 'what came before, the large packet, what came after');
    assert.deepEqual(writes[1], mqttPacket.generate(large), 'the large packet alone');
    const packets = socket.packets().slice(-4);
    assert.deepEqual(
      packets.map((p) => p.cmd),
      ['pingresp', 'publish', 'puback', 'pingresp'],
    );
    assert.deepEqual((packets[1] as { payload: Buffer }).payload, payload);
  });

  test('past maxWriteBacklogBytes unread, the connection is dropped at once (write-backlog-exceeded)', async () => {
    const h = await Harness.create({ limits: { maxMessagesPerSecond: 0 } });
    await h.addDevice('dev-1', { config: Buffer.alloc(64 * 1024, 7) });
    const { socket, conn, closed } = await connected(h, 'dev-1');
    socket.stalled = true;
    // The slow reader of the field report: config SUBSCRIBEs while never reading. They share one
    // config read, and each gets its delivery.
    const bursts = Buffer.concat(Array.from({ length: 200 }, (_, i) => mqttPacket.generate(subscribe(i + 1, ['/devices/dev-1/config', 0]))));
    socket.fromPeer(bursts);
    await h.io.answer(await h.io.next('config'));
    await closed;
    assert.deepEqual(h.metrics.reasons, ['write-backlog-exceeded']);
    const queued = socket.written.reduce((n, b) => n + b.length, 0);
    assert.ok(queued <= LIMITS.maxWriteBacklogBytes + 70 * 1024, `at most the bound plus one packet was written (${queued} bytes)`);
    // Later deliveries find the connection gone and queue nothing.
    conn.send({ cmd: 'pingresp' });
    assert.equal(socket.written.reduce((n, b) => n + b.length, 0), queued);
  });
});
