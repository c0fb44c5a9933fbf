import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { caOf } from '../support/fleet.js';
import { BRIDGE_TIMEOUTS, BridgeFixture, openRawConn, parseRawResponse, tlsContextOf, within, type RawConn } from '../support/http-bridge-fixture.js';

/**
 * Slow and idle clients of the HTTP device bridge (issue 10: headers, request and keep-alive
 * timeouts, --http-bridge-max-connections): trickled headers or bodies are cut off, thousands of
 * idle connections are closed in time, and a healthy device is served quickly throughout.
 */

const REG = 'reg-http-slow';
/** The server checks its connections every second (connectionsCheckingInterval), plus scheduling. */
const SLACK_MS = 1500;

async function trickle(conn: RawConn, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const ch of text) {
    if (conn.socket.destroyed || !conn.socket.writable) break;
    conn.socket.write(ch);
    sent++;
    const stop = await Promise.race([conn.closed.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), everyMs))]);
    if (stop) break;
  }
  return sent;
}

describe('HTTP bridge with slow and idle clients', () => {
  let f: BridgeFixture;

  before(async () => {
    f = await BridgeFixture.start(REG);
  });
  after(async () => {
    await f?.cleanup();
  });

  for (const scheme of ['plain', 'tls'] as const) {
    const open = (): Promise<RawConn> => (scheme === 'tls' ? openRawConn(f.tlsUrl, { context: tlsContextOf(f.server) }) : openRawConn(f.plainUrl));

    it(`${scheme}: headers trickled slower than the headers timeout are cut off within it, nothing stored`, async () => {
      await f.storesNothing(async () => {
        const raw = await open();
        const head = `POST ${f.path(':publishEvent')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${await f.good.jwt()}\r\n`;
        raw.socket.write(head);
        void trickle(raw, 'X-Slow: ' + 'a'.repeat(200) + '\r\n', 300);
        const closedMs = await within(raw.closed, BRIDGE_TIMEOUTS.headersMs + SLACK_MS + 1000, `${scheme}: close of trickled headers`);
        console.log(`${scheme}: trickled headers closed after ${closedMs} ms (headers timeout ${BRIDGE_TIMEOUTS.headersMs})`);
        assert.ok(closedMs <= BRIDGE_TIMEOUTS.headersMs + SLACK_MS, `closed after ${closedMs} ms`);
        assert.ok(closedMs >= BRIDGE_TIMEOUTS.headersMs - 100, `closed after ${closedMs} ms, before the timeout`);
        const received = raw.received();
        if (received.length > 0) {
          const r = parseRawResponse(received);
          assert.ok(r.json?.error, `Google error JSON expected, got ${received.toString().slice(0, 200)}`);
        }
      });
    });

    it(`${scheme}: a body trickled past the request timeout is cut off, nothing stored`, async () => {
      await f.storesNothing(async () => {
        const body = JSON.stringify({ binaryData: Buffer.from('slow body must not be stored').toString('base64') });
        const raw = await open();
        raw.socket.write(
          `POST ${f.path(':publishEvent')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
            `Authorization: Bearer ${await f.good.jwt()}\r\nContent-Length: ${body.length}\r\n\r\n`,
        );
        // 300 ms a byte: the whole body would take ~20 s; the request timeout is 3 s.
        void trickle(raw, body, 300);
        const closedMs = await within(raw.closed, BRIDGE_TIMEOUTS.requestMs + SLACK_MS + 1000, `${scheme}: close of a trickled body`);
        console.log(`${scheme}: trickled body closed after ${closedMs} ms (request timeout ${BRIDGE_TIMEOUTS.requestMs})`);
        assert.ok(closedMs <= BRIDGE_TIMEOUTS.requestMs + SLACK_MS, `closed after ${closedMs} ms`);
        const received = raw.received();
        if (received.length > 0) {
          const r = parseRawResponse(received);
          assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
          assert.ok(r.json?.error, `Google error JSON expected, got ${received.toString().slice(0, 200)}`);
        }
      });
    });

    it(`${scheme}: a connection idle after one request is closed after the keep-alive timeout`, async () => {
      const raw = await open();
      raw.socket.write(`GET ${f.path('/config')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await f.good.jwt()}\r\n\r\n`);
      await within(raw.firstByte, 3000, 'getConfig answer');
      const answeredAt = Date.now();
      await within(raw.closed, BRIDGE_TIMEOUTS.keepAliveMs + SLACK_MS + 2000, `${scheme}: close of an idle kept-alive connection`);
      const idleMs = Date.now() - answeredAt;
      console.log(`${scheme}: kept-alive connection closed after ${idleMs} ms idle (keep-alive timeout ${BRIDGE_TIMEOUTS.keepAliveMs})`);
      assert.equal(parseRawResponse(raw.received()).status, 200);
      assert.ok(idleMs >= BRIDGE_TIMEOUTS.keepAliveMs - 200 && idleMs <= BRIDGE_TIMEOUTS.keepAliveMs + 1000 + SLACK_MS, `closed after ${idleMs} ms idle`);
    });

    it(`${scheme}: a connection that sends nothing is closed by the headers timeout`, async () => {
      const raw = await open();
      const closedMs = await within(raw.closed, BRIDGE_TIMEOUTS.headersMs + SLACK_MS + 1000, `${scheme}: close of a silent connection`);
      console.log(`${scheme}: silent connection closed after ${closedMs} ms`);
      assert.ok(closedMs <= BRIDGE_TIMEOUTS.headersMs + SLACK_MS);
    });
  }

  it('2,000 idle TCP and 200 idle TLS connections: the healthy device is served, the idle ones are closed', async () => {
    const plain: RawConn[] = [];
    const tls: { socket: TLSSocket; closed: Promise<number> }[] = [];
    const keptAlive: Agent[] = [];
    try {
      const openedAt = Date.now();
      const url = f.tlsUrl;
      const ca = caOf(f.server);
      for (let i = 0; i < 200; i += 50) {
        tls.push(
          ...(await Promise.all(
            Array.from(
              { length: 50 },
              () =>
                new Promise<{ socket: TLSSocket; closed: Promise<number> }>((resolve, reject) => {
                  const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost' });
                  socket.once('error', reject);
                  socket.once('secureConnect', () => {
                    const at = Date.now();
                    socket.removeListener('error', reject);
                    socket.on('error', () => undefined);
                    resolve({ socket, closed: new Promise((r) => socket.once('close', () => r(Date.now() - at))) });
                  });
                }),
            ),
          )),
        );
      }
      // 50 connections that made one request and then idle on keep-alive.
      const idleAfterOne = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const agent = new Agent({ keepAlive: true, maxSockets: 1 });
          keptAlive.push(agent);
          const r = await f.send(f.path('/config'), { method: 'GET', headers: await f.bearer(), agent });
          assert.equal(r.status, 200, r.text);
          const socket = Object.values(agent.freeSockets)[0]?.[0];
          assert.ok(socket, 'the connection is kept alive');
          const at = Date.now();
          return new Promise<number>((r2) => socket.once('close', () => r2(Date.now() - at)));
        }),
      );
      const tlsMs0 = Date.now() - openedAt;
      // Last, because the headers timeout (1.5 s) starts closing them at once.
      const tcpAt = Date.now();
      for (let i = 0; i < 2000; i += 200) {
        plain.push(...(await Promise.all(Array.from({ length: 200 }, () => openRawConn(f.plainUrl)))));
      }
      const openMs = Date.now() - tcpAt;
      console.log(`TLS + kept-alive opened in ${tlsMs0} ms, 2,000 TCP in ${openMs} ms`);
      const plainMs = await f.assertHealthy(false);
      const tlsMs = await f.assertHealthy(true);
      const stillOpen = plain.filter((c) => !c.socket.destroyed).length;
      console.log(`flood: 2,000 TCP + 200 TLS + 50 kept-alive opened in ${openMs} ms; healthy publish during it: ${plainMs.toFixed(0)} ms plain, ${tlsMs.toFixed(0)} ms TLS; ${stillOpen} idle TCP still open`);
      assert.ok(stillOpen > 0, 'the flood was still there while the healthy device published');
      assert.ok(plainMs < 2000 && tlsMs < 2000, `healthy publish took ${plainMs} / ${tlsMs} ms`);

      // Silent connections never send a request line: the headers timeout closes them.
      const plainClosed = await within(Promise.all(plain.map((c) => c.closed)), BRIDGE_TIMEOUTS.headersMs + openMs + SLACK_MS + 2000, 'idle TCP closed');
      const tlsClosed = await within(Promise.all(tls.map((c) => c.closed)), BRIDGE_TIMEOUTS.keepAliveMs + openMs + SLACK_MS + 2000, 'idle TLS closed');
      const keptClosed = await within(Promise.all(idleAfterOne), BRIDGE_TIMEOUTS.keepAliveMs + SLACK_MS + 2000, 'kept-alive closed');
      console.log(
        `idle closed after at most: TCP ${Math.max(...plainClosed)} ms, TLS ${Math.max(...tlsClosed)} ms, kept-alive ${Math.max(...keptClosed)} ms`,
      );
      assert.ok(Math.min(...keptClosed) >= BRIDGE_TIMEOUTS.keepAliveMs - 200, 'kept-alive connections live for the keep-alive timeout');
      await f.assertHealthy(false);
      await f.assertHealthy(true);
    } finally {
      for (const c of plain) c.socket.destroy();
      for (const c of tls) c.socket.destroy();
      for (const a of keptAlive) a.destroy();
    }
  });

  it('the server is alive at the end', async () => {
    await f.assertAlive();
  });
});

describe('HTTP bridge with --http-bridge-max-connections 100', () => {
  let f: BridgeFixture;

  before(async () => {
    // Timeouts long enough that no idle connection is closed while the cap is tested.
    f = await BridgeFixture.start('reg-http-cap', {
      args: ['--http-bridge-max-connections', '100'],
      env: { BRIDGEHEAD_HTTP_BRIDGE_HEADERS_TIMEOUT_MS: '20000', BRIDGEHEAD_HTTP_BRIDGE_REQUEST_TIMEOUT_MS: '30000', BRIDGEHEAD_HTTP_BRIDGE_KEEP_ALIVE_TIMEOUT_MS: '30000' },
    });
  });
  after(async () => {
    await f?.cleanup();
  });

  it('connection 101+ is closed at once; a kept-alive connection still works', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const idle: RawConn[] = [];
    const extra: RawConn[] = [];
    try {
      const first = await f.send(f.path('/config'), { method: 'GET', headers: await f.bearer(), agent });
      assert.equal(first.status, 200, first.text);
      for (let i = 0; i < 99; i++) idle.push(await openRawConn(f.plainUrl));
      // Let the server count them all before going over.
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < 10; i++) extra.push(await openRawConn(f.plainUrl));
      const closedMs = await within(Promise.all(extra.map((c) => c.closed)), 2000, 'connections over the cap closed');
      console.log(`over the cap: closed after at most ${Math.max(...closedMs)} ms`);
      assert.ok(idle.every((c) => !c.socket.destroyed), 'the 99 under the cap stay open');
      const data = Buffer.from('through the cap').toString('base64');
      const r = await f.send(f.path(':publishEvent'), {
        headers: { 'content-type': 'application/json', ...(await f.bearer()) },
        body: JSON.stringify({ binaryData: data }),
        agent,
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.reused, true, 'the kept-alive connection was reused');
      // Freeing one slot lets a new connection in again.
      idle.pop()!.socket.destroy();
      await new Promise((r2) => setTimeout(r2, 200));
      const after = await openRawConn(f.plainUrl);
      extra.push(after);
      await new Promise((r2) => setTimeout(r2, 300));
      assert.equal(after.socket.destroyed, false, 'a connection under the cap again is accepted');
      await f.assertAlive();
    } finally {
      agent.destroy();
      for (const c of [...idle, ...extra]) c.socket.destroy();
    }
  });
});
