import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { caOf } from '../support/fleet.js';
import { BRIDGE_TIMEOUTS, BridgeFixture, openRawConn, tlsContextOf, within, type RawConn } from '../support/http-bridge-fixture.js';

/**
 * Thousands of idle connections to the HTTP device bridge (issue 10): a healthy device is served
 * quickly while they are open, the server closes them after the headers or keep-alive timeout, and
 * with --http-bridge-max-connections the connections past the cap are closed at once while a
 * kept-alive one still works.
 */

const REG = 'reg-http-flood';
/** The server checks its connections every second (connectionsCheckingInterval), plus scheduling. */
const SLACK_MS = 1500;

describe('HTTP bridge under a flood of idle connections', () => {
  let f: BridgeFixture;

  before(async () => {
    f = await BridgeFixture.start(REG);
  });
  after(async () => {
    await f?.cleanup();
  });

  it('2,000 idle TCP and 200 idle TLS connections: the healthy device is served, the idle ones are closed', async () => {
    const plain: RawConn[] = [];
    const tls: RawConn[] = [];
    const keptAlive: Agent[] = [];
    try {
      const context = tlsContextOf(f.server);
      const startedAt = Date.now();
      for (let i = 0; i < 200; i += 50) {
        tls.push(...(await Promise.all(Array.from({ length: 50 }, () => openRawConn(f.tlsUrl, { context })))));
      }
      const tlsOpenMs = Date.now() - startedAt;
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
      // Last, because the headers timeout starts closing them at once.
      const tcpAt = Date.now();
      for (let i = 0; i < 2000; i += 200) {
        plain.push(...(await Promise.all(Array.from({ length: 200 }, () => openRawConn(f.plainUrl)))));
      }
      const tcpOpenMs = Date.now() - tcpAt;
      const plainMs = await f.assertHealthy(false);
      const tlsMs = await f.assertHealthy(true);
      const stillOpen = plain.filter((c) => !c.socket.destroyed).length;
      console.log(
        `flood: 200 TLS opened in ${tlsOpenMs} ms, 2,000 TCP in ${tcpOpenMs} ms; healthy publish during it: ` +
          `${plainMs.toFixed(0)} ms plain, ${tlsMs.toFixed(0)} ms TLS; ${stillOpen} idle TCP still open then`,
      );
      assert.ok(stillOpen > 1000, 'the flood was still there while the healthy device published');
      assert.ok(plainMs < 2000 && tlsMs < 2000, `healthy publish took ${plainMs} / ${tlsMs} ms`);

      // Silent connections never send a request line: the headers timeout closes them.
      const plainClosed = await within(Promise.all(plain.map((c) => c.closed)), BRIDGE_TIMEOUTS.headersMs + tcpOpenMs + SLACK_MS + 1000, 'idle TCP closed');
      const tlsClosed = await within(Promise.all(tls.map((c) => c.closed)), 1000, 'idle TLS closed');
      const keptClosed = await within(Promise.all(idleAfterOne), BRIDGE_TIMEOUTS.keepAliveMs + 1000 + SLACK_MS, 'kept-alive closed');
      console.log(`idle closed after at most: TCP ${Math.max(...plainClosed)} ms, TLS ${Math.max(...tlsClosed)} ms, kept-alive ${Math.max(...keptClosed)} ms`);
      assert.ok(Math.max(...plainClosed) <= BRIDGE_TIMEOUTS.headersMs + tcpOpenMs + SLACK_MS);
      assert.ok(Math.max(...tlsClosed) <= BRIDGE_TIMEOUTS.headersMs + tcpOpenMs + tlsOpenMs + 5000);
      assert.ok(Math.min(...keptClosed) >= BRIDGE_TIMEOUTS.keepAliveMs - 200, 'kept-alive connections live for the keep-alive timeout');
      await f.assertHealthy(false);
      await f.assertHealthy(true);
    } finally {
      for (const c of [...plain, ...tls]) c.socket.destroy();
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

  for (const scheme of ['plain', 'tls'] as const) {
    it(`${scheme}: connection 101+ is closed at once; a kept-alive connection still works`, async () => {
      const tls = scheme === 'tls';
      const url = tls ? f.tlsUrl : f.plainUrl;
      const agent = tls ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: caOf(f.server), servername: 'localhost' }) : new Agent({ keepAlive: true, maxSockets: 1 });
      const idle: RawConn[] = [];
      const extra: RawConn[] = [];
      try {
        const first = await f.send(f.path('/config'), { method: 'GET', headers: await f.bearer(), agent, tls });
        assert.equal(first.status, 200, first.text);
        // TCP only: the cap counts connections, whatever they send.
        for (let i = 0; i < 99; i++) idle.push(await openRawConn(url));
        // Let the server count them all before going over.
        await new Promise((r) => setTimeout(r, 200));
        for (let i = 0; i < 10; i++) extra.push(await openRawConn(url));
        const closedMs = await within(Promise.all(extra.map((c) => c.closed)), 2000, 'connections over the cap closed');
        console.log(`${scheme}: over the cap closed after at most ${Math.max(...closedMs)} ms`);
        assert.ok(idle.every((c) => !c.socket.destroyed), 'the 99 under the cap stay open');
        const data = Buffer.from(`through the cap ${scheme}`).toString('base64');
        const r = await f.send(f.path(':publishEvent'), {
          headers: { 'content-type': 'application/json', ...(await f.bearer()) },
          body: JSON.stringify({ binaryData: data }),
          agent,
          tls,
        });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.reused, true, 'the kept-alive connection was reused');
        // Freeing one slot lets a new connection in again.
        idle.pop()!.socket.destroy();
        await new Promise((r2) => setTimeout(r2, 200));
        const again = await openRawConn(url);
        extra.push(again);
        await new Promise((r2) => setTimeout(r2, 300));
        assert.equal(again.socket.destroyed, false, 'a connection under the cap again is accepted');
        await f.assertAlive();
      } finally {
        agent.destroy();
        for (const c of [...idle, ...extra]) c.socket.destroy();
      }
    });
  }
});
