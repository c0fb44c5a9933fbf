import assert from 'node:assert/strict';
import { connect as http2Connect } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { caOf } from '../support/fleet.js';
import { assertGoogleError, BRIDGE_TIMEOUTS, BridgeFixture, openRawConn, parseRawResponse, tlsContextOf, within, type RawConn } from '../support/http-bridge-fixture.js';

/**
 * Slow clients of the HTTP device bridge on both listeners (issue 10: headers, request and
 * keep-alive timeouts): trickled headers or bodies are cut off in time and store nothing, silent
 * and idle connections are closed, and a healthy device is served after each. Floods of idle
 * connections and --http-bridge-max-connections: http-bridge-idle-flood.
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
        assert.ok(closedMs <= BRIDGE_TIMEOUTS.headersMs + SLACK_MS, `closed after ${closedMs} ms`);
        assert.ok(closedMs >= BRIDGE_TIMEOUTS.headersMs - 100, `closed after ${closedMs} ms, before the timeout`);
        const received = raw.received();
        console.log(`${scheme}: trickled headers closed after ${closedMs} ms (headers timeout ${BRIDGE_TIMEOUTS.headersMs}); answer: ${received.toString().split('\r\n', 1)[0] || 'none'} ${received.toString().split('\r\n\r\n')[1] ?? ''}`);
        // Node's headers timeout, answered in Google's JSON before the close.
        assertGoogleError(parseRawResponse(received), 400, 'INVALID_ARGUMENT');
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
        assert.ok(closedMs <= BRIDGE_TIMEOUTS.requestMs + SLACK_MS, `closed after ${closedMs} ms`);
        const received = raw.received();
        console.log(`${scheme}: trickled body closed after ${closedMs} ms (request timeout ${BRIDGE_TIMEOUTS.requestMs}); answer: ${received.toString().split('\r\n', 1)[0] || 'none'} ${received.toString().split('\r\n\r\n')[1] ?? ''}`);
        assertGoogleError(parseRawResponse(received), 400, 'INVALID_ARGUMENT');
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

  it('tls HTTP/2: a body trickled past the request timeout is cut off, nothing stored', async () => {
    await f.storesNothing(async () => {
      const session = http2Connect(f.tlsUrl.origin, { ca: caOf(f.server), servername: 'localhost' });
      session.on('error', () => undefined);
      try {
        const body = JSON.stringify({ binaryData: Buffer.from('slow h2 body must not be stored').toString('base64') });
        const stream = session.request({
          ':method': 'POST',
          ':path': f.path(':publishEvent'),
          authorization: `Bearer ${await f.good.jwt()}`,
          'content-type': 'application/json',
          'content-length': body.length,
        });
        stream.on('error', () => undefined);
        stream.resume();
        const startedAt = Date.now();
        const closed = new Promise<number>((r) => stream.once('close', () => r(Date.now() - startedAt)));
        const timer = setInterval(() => {
          if (!stream.destroyed && stream.writable) stream.write(body[Math.floor((Date.now() - startedAt) / 300) % body.length]!);
        }, 300);
        try {
          const closedMs = await within(closed, BRIDGE_TIMEOUTS.requestMs + SLACK_MS + 1000, 'close of a trickled HTTP/2 stream');
          console.log(`tls HTTP/2: trickled body's stream closed after ${closedMs} ms (request timeout ${BRIDGE_TIMEOUTS.requestMs}), RST code ${stream.rstCode}`);
          assert.ok(closedMs <= BRIDGE_TIMEOUTS.requestMs + SLACK_MS, `closed after ${closedMs} ms`);
        } finally {
          clearInterval(timer);
        }
      } finally {
        session.destroy();
      }
    });
  });

  it('the server is alive at the end', async () => {
    await f.assertAlive();
  });
});
