import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { awaitClientHello, firstRecordBytes } from '../../../src/adapters/mqtt/client-hello.js';
import { MqttListeners } from '../../../src/adapters/mqtt/listeners.js';
import { createCertificateAuthority, issueTlsServerCertificate } from '../../../src/adapters/crypto/key-pairs.js';
import { BridgeMetrics } from '../../../src/observability/metrics.js';
import { clientHello } from '../../support/stalled-sockets.js';

/**
 * TLS sockets are only read until their ClientHello is complete, and handed to TLS then
 * (client-hello.ts); the handshake deadline still runs from admission and ends with the handshake
 * (listeners.ts, docs/compat.md C-MQTT-TIMEOUTS).
 */

describe('firstRecordBytes', () => {
  test('needs the 5-byte header of a handshake record, then its whole length', () => {
    assert.equal(firstRecordBytes(Buffer.from([0x16, 0x03, 0x01])), undefined);
    assert.equal(firstRecordBytes(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 5 + 512);
  });

  test('bytes that cannot start a handshake record go to TLS at once (0), to be refused there', () => {
    assert.equal(firstRecordBytes(Buffer.from('CONNECT')), 0);
    assert.equal(firstRecordBytes(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])), 0, 'longer than TLS allows');
  });
});

/** A loopback server whose sockets go to `onSocket` paused, as the listeners get them. */
async function pausedServer(onSocket: (s: Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = createServer({ pauseOnConnect: true }, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { port: typeof address === 'object' && address !== null ? address.port : 0, close: () => server.close() };
}

describe('awaitClientHello', () => {
  test('hands the socket over only once the first record is in, with every byte still to be read', async () => {
    const hello = await clientHello();
    let handed: Socket | undefined;
    let accept: (s: Socket) => void = () => undefined;
    const accepted = new Promise<Socket>((resolve) => (accept = resolve));
    const server = await pausedServer((s) => {
      accept(s);
      awaitClientHello(s, (x) => (handed = x));
    });
    const client = tcpConnect(server.port, '127.0.0.1');
    try {
      const raw = await accepted;
      client.write(hello.subarray(0, 3));
      client.write(hello.subarray(3, hello.length - 1));
      // Everything but the last byte has been read once the server side has it all.
      while (raw.bytesRead < hello.length - 1) await once(raw, 'data');
      assert.equal(handed, undefined, 'not before the record is complete');
      const done = new Promise<void>((resolve) => awaitClientHelloDone(raw, () => handed, resolve));
      client.write(hello.subarray(hello.length - 1));
      await done;
      assert.equal(handed, raw);
      assert.ok(raw.isPaused());
      assert.deepEqual(raw.read(), hello, 'put back whole, in order');
    } finally {
      client.destroy();
      server.close();
    }
  });
});

/** Resolves `done` once `handed()` is set (checked after each read of `raw`). */
function awaitClientHelloDone(raw: Socket, handed: () => Socket | undefined, done: () => void): void {
  const check = (): void => {
    if (handed() === undefined) return;
    raw.off('data', check);
    done();
  };
  raw.on('data', check);
}

describe('MqttListeners: TLS handshake deadline from admission', () => {
  const HANDSHAKE_MS = 300;
  let listeners: MqttListeners;
  let url: URL;
  let ca: string;
  const secure: TLSSocket[] = [];
  const arrived: ((s: TLSSocket) => void)[] = [];

  before(async () => {
    const authority = await createCertificateAuthority({ subject: { commonName: 'test CA' } });
    const leaf = await issueTlsServerCertificate(authority, []);
    ca = authority.certificatePem;
    listeners = new MqttListeners(
      {
        tls: { cert: leaf.certificatePem, key: leaf.privateKeyPem, caFile: undefined, sni: new Map() },
        listen: [{ host: '127.0.0.1', port: 0 }],
        plainListen: [],
        maxConnections: 100,
        maxConnectionRate: 0,
        handshakeTimeoutMs: HANDSHAKE_MS,
        metrics: new BridgeMetrics(),
        log: pino({ level: 'silent' }),
      },
      (s) => {
        secure.push(s as TLSSocket);
        arrived.shift()?.(s as TLSSocket);
      },
    );
    await listeners.start();
    url = new URL(listeners.urls.tls[0]!);
  });

  after(async () => {
    for (const s of secure) s.destroy();
    await listeners.stop();
  });

  const closed = (s: Socket): Promise<unknown> => once(s, 'close');

  test('a socket that never completes its ClientHello is closed, and never reaches TLS', async () => {
    const hello = await clientHello();
    const s = tcpConnect(Number(url.port), url.hostname);
    s.on('error', () => undefined);
    await once(s, 'connect');
    s.write(hello.subarray(0, hello.length - 1));
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    await closed(s);
    assert.equal(Buffer.concat(got).length, 0, 'no ServerHello: TLS never saw it');
  });

  test('a ClientHello trickled a byte at a time still completes the handshake, and the session outlives the deadline', async () => {
    const hello = await clientHello();
    // A real client whose bytes reach the server one at a time: a TLS client over a relay.
    const relay = await pausedServer((inbound) => {
      inbound.resume();
      const out = tcpConnect(Number(url.port), url.hostname);
      out.setNoDelay(true);
      inbound.on('data', (d: Buffer) => {
        for (let i = 0; i < d.length; i++) out.write(d.subarray(i, i + 1));
      });
      out.on('data', (d: Buffer) => inbound.write(d));
      const end = (): void => {
        inbound.destroy();
        out.destroy();
      };
      inbound.on('close', end);
      out.on('close', end);
      out.on('error', () => undefined);
      inbound.on('error', () => undefined);
    });
    assert.ok(hello.length > 1);
    const handedOver = new Promise<TLSSocket>((resolve) => arrived.push(resolve));
    const client = tlsConnect({ host: '127.0.0.1', port: relay.port, ca, servername: 'localhost' });
    try {
      await once(client, 'secureConnect');
      const server = await handedOver;
      // A socket let in after the handshake: once its own deadline has closed it, the first
      // socket's deadline (set earlier) has passed too.
      const later = tcpConnect(Number(url.port), url.hostname);
      later.on('error', () => undefined);
      await closed(later);
      assert.equal(server.destroyed, false, 'the secure session was not cut at the handshake deadline');
      const received = once(server, 'data');
      client.write('ping');
      assert.equal(String((await received)[0]), 'ping', 'and it still carries data');
    } finally {
      client.destroy();
      relay.close();
    }
  });

  test('a socket whose ClientHello is complete but whose handshake stalls is closed within the same allowance', async () => {
    const hello = await clientHello();
    const s = tcpConnect(Number(url.port), url.hostname);
    s.on('error', () => undefined);
    await once(s, 'connect');
    const serverHello = once(s, 'data');
    s.write(hello);
    await serverHello;
    // The server answered (TLS has it) and the client never finishes: the deadline closes it.
    await closed(s);
  });
});
