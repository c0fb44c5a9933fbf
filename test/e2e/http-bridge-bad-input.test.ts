import assert from 'node:assert/strict';
import { connect as http2Connect } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { caOf, devicePath } from '../support/fleet.js';
import { assertGoogleError, BridgeFixture, openRawConn, parseRawResponse, within, PROJECT, type BridgeResponse } from '../support/http-bridge-fixture.js';
import { claims, forgeSignature, signRawJwt } from '../support/mqtt-jwt.js';
import { api } from '../support/server.js';

/**
 * Bad requests to the HTTP device bridge (spec §7, issue 10): each gets its documented status in
 * Google's error JSON, stores nothing (embedded log, state history), and a healthy device's
 * publishEvent succeeds right after it. Slow clients and connection floods: http-bridge-slow-clients.
 */

const REG = 'reg-http-bad';
const KiB = 1024;

describe('HTTP bridge under bad input', () => {
  let f: BridgeFixture;

  before(async () => {
    f = await BridgeFixture.start(REG);
  });
  after(async () => {
    await f?.cleanup();
  });

  const publishWith = async (authorization: string | undefined): Promise<BridgeResponse> =>
    f.send(f.path(':publishEvent'), {
      headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
      body: JSON.stringify({ binaryData: Buffer.from('should not be stored').toString('base64') }),
    });

  it('no Authorization header: 401 UNAUTHENTICATED', async () => {
    await f.storesNothing(async () => {
      assertGoogleError(await publishWith(undefined), 401, 'UNAUTHENTICATED');
    });
  });

  it('every bad credential is 403 PERMISSION_DENIED, reason DEVICE_AUTH_FAILED', async () => {
    const now = Math.floor(Date.now() / 1000);
    const key = f.good.keys.privateKeyPem;
    const cases: Record<string, string> = {
      basic: `Basic ${Buffer.from('good-dev:secret').toString('base64')}`,
      garbage: 'Bearer not-a-jwt-at-all',
      'alg none': `Bearer ${signRawJwt(claims(PROJECT, now), { alg: 'none' })}`,
      // Key confusion: the device's public key used as an HMAC secret.
      HS256: `Bearer ${signRawJwt(claims(PROJECT, now), { alg: 'HS256', key: f.good.keys.publicKeyPem })}`,
      expired: `Bearer ${signRawJwt(claims(PROJECT, now - 7200, 3600), { alg: 'ES256', key })}`,
      'wrong aud': `Bearer ${signRawJwt(claims('some-other-project', now), { alg: 'ES256', key })}`,
      forged: `Bearer ${forgeSignature(await f.good.jwt())}`,
      "another device's JWT": `Bearer ${await f.other.jwt()}`,
    };
    await f.storesNothing(async () => {
      for (const [name, authorization] of Object.entries(cases)) {
        const r = await publishWith(authorization);
        assert.equal(r.status, 403, `${name}: ${r.text}`);
        assertGoogleError(r, 403, 'PERMISSION_DENIED', 'DEVICE_AUTH_FAILED');
      }
      // The same on setState and getConfig.
      for (const tail of [':setState', '/config']) {
        const r = await f.send(f.path(tail), {
          method: tail === '/config' ? 'GET' : 'POST',
          headers: { authorization: cases.forged! },
          ...(tail === ':setState' ? { body: JSON.stringify({ state: { binaryData: 'aGk=' } }) } : {}),
        });
        assertGoogleError(r, 403, 'PERMISSION_DENIED', 'DEVICE_AUTH_FAILED');
      }
    });
  });

  it('a Content-Length of 10 MB is refused before the body is sent, and the connection closed', async () => {
    await f.storesNothing(async () => {
      const raw = await openRawConn(f.plainUrl);
      raw.socket.write(
        `POST ${f.path(':publishEvent')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Authorization: Bearer ${await f.good.jwt()}\r\nContent-Length: ${10 * 1024 * KiB}\r\n\r\n`,
      );
      // Not one body byte written: the answer must come anyway.
      const answerMs = await within(raw.firstByte, 3000, 'answer to the announced 10 MB');
      const closedMs = await within(raw.closed, 3000, 'close after the 10 MB refusal');
      console.log(`10 MB announced: answered after ${answerMs} ms, closed after ${closedMs} ms, no body byte sent`);
      const r = parseRawResponse(raw.received());
      assertGoogleError(r, 400, 'INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE');
      assert.ok(closedMs < 3000);
    });
  });

  it('a chunked body is cut near 384 KiB, never read whole', async () => {
    await f.storesNothing(async () => {
      const raw = await openRawConn(f.plainUrl);
      raw.socket.write(
        `POST ${f.path(':publishEvent')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Authorization: Bearer ${await f.good.jwt()}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      let answered = false;
      let closed = false;
      void raw.firstByte.then(() => (answered = true));
      void raw.closed.then(() => (closed = true));
      const chunk = Buffer.alloc(16 * KiB, 'A');
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      let written = 0;
      let writtenAtAnswer = -1;
      const deadline = Date.now() + 20_000;
      while (!answered && !closed && written < 20 * 1024 * KiB && Date.now() < deadline) {
        const ok = raw.socket.write(frame);
        written += chunk.length;
        // Paced like a real uploader, so that what the kernel buffers does not hide when the server stopped reading.
        if (!ok) await Promise.race([new Promise((r) => raw.socket.once('drain', r)), raw.firstByte, raw.closed]);
        await new Promise((r) => setTimeout(r, 2));
      }
      writtenAtAnswer = written;
      await within(raw.closed, 5000, 'close after the body limit');
      console.log(`chunked body: ${writtenAtAnswer} bytes written before the server answered/closed`);
      assert.ok(writtenAtAnswer < 20 * 1024 * KiB, 'the server stopped the stream');
      assert.ok(writtenAtAnswer >= 384 * KiB - chunk.length, `stopped early at ${writtenAtAnswer}`);
      // Bounded: the limit plus a few chunks in flight.
      assert.ok(writtenAtAnswer <= 512 * KiB, `${writtenAtAnswer} bytes written before the answer`);
      const received = raw.received();
      if (received.length > 0) assertGoogleError(parseRawResponse(received), 400, 'INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE');
    });
  });

  it('telemetry of 256 KiB + 1 is 400 PAYLOAD_TOO_LARGE, exactly 256 KiB is stored', async () => {
    await f.storesNothing(async () => {
      const r = await f.post(':publishEvent', { binaryData: Buffer.alloc(256 * KiB + 1, 7).toString('base64') });
      const error = assertGoogleError(r, 400, 'INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE');
      assert.match(JSON.stringify(error.details ?? ''), /binary_data/);
    });
    const before = await f.stored();
    const exact = Buffer.alloc(256 * KiB, 9);
    const ok = await f.post(':publishEvent', { binaryData: exact.toString('base64') });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(await f.stored(), { ...before, telemetry: before.telemetry + 1 });
  });

  it('state of 64 KiB + 1 is 400 PAYLOAD_TOO_LARGE', async () => {
    await f.storesNothing(async () => {
      const r = await f.post(':setState', { state: { binaryData: Buffer.alloc(64 * KiB + 1, 1).toString('base64') } });
      assertGoogleError(r, 400, 'INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE');
    });
  });

  it('broken bodies are 400 INVALID_ARGUMENT', async () => {
    const cases: Record<string, string | Buffer> = {
      'invalid base64': '{"binaryData":"***not base64***"}',
      'unknown field': '{"binaryData":"aGk=","colour":"blue"}',
      'both spellings': '{"binaryData":"aGk=","binary_data":"aGk="}',
      'not JSON': 'binaryData=aGk=',
      'truncated JSON': '{"binaryData":"aGk=',
      'a JSON array': '[{"binaryData":"aGk="}]',
      'a JSON string': '"aGk="',
      'deeply nested': `{"binaryData":"aGk=","gatewayInfo":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      'deeply nested objects': `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`,
      'invalid UTF-8': Buffer.concat([Buffer.from('{"binaryData":"aGk=","subFolder":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]),
      'missing binaryData': '{"subFolder":"x"}',
    };
    await f.storesNothing(async () => {
      for (const [name, body] of Object.entries(cases)) {
        const r = await f.post(':publishEvent', body);
        assert.equal(r.status, 400, `${name}: ${r.status} ${r.text.slice(0, 300)}`);
        assertGoogleError(r, 400, 'INVALID_ARGUMENT');
      }
      const invalid = assertGoogleError(await f.post(':publishEvent', cases['invalid base64']!), 400, 'INVALID_ARGUMENT');
      assert.match(JSON.stringify(invalid.details ?? ''), /binary_data/);
      const unknown = assertGoogleError(await f.post(':publishEvent', cases['unknown field']!), 400, 'INVALID_ARGUMENT');
      assert.match(JSON.stringify(unknown), /colour/);
      assertGoogleError(await f.post(':publishEvent', cases['missing binaryData']!), 400, 'INVALID_ARGUMENT', 'REQUIRED_FIELD');
      assertGoogleError(await f.post(':setState', '{"state":{"binaryData":"%%%"}}'), 400, 'INVALID_ARGUMENT');
    });
  });

  it('content types: multipart, XML and octet-stream are 400 INVALID_BODY; gzip is 400', async () => {
    const body = JSON.stringify({ binaryData: 'aGk=' });
    await f.storesNothing(async () => {
      for (const type of ['multipart/form-data; boundary=xyz', 'application/xml', 'application/octet-stream']) {
        const r = await f.post(':publishEvent', body, { 'content-type': type });
        assertGoogleError(r, 400, 'INVALID_ARGUMENT', 'INVALID_BODY');
      }
      const gz = await f.post(':publishEvent', body, { 'content-encoding': 'gzip' });
      assertGoogleError(gz, 400, 'INVALID_ARGUMENT', 'INVALID_BODY');
    });
  });

  it('content types: none, text/plain and curl\'s form-urlencoded are read as JSON', async () => {
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/vnd.custom+json']) {
      const before = await f.stored();
      const data = Buffer.from(`typed ${type ?? 'none'}`).toString('base64');
      const r = await f.send(f.path(':publishEvent'), {
        headers: { ...(await f.bearer()), ...(type ? { 'content-type': type } : {}) },
        body: JSON.stringify({ binaryData: data }),
      });
      assert.equal(r.status, 200, `${type}: ${r.text}`);
      assert.deepEqual(await f.stored(), { ...before, telemetry: before.telemetry + 1 });
    }
  });

  it('unknown methods and paths are 404 NO_SUCH_METHOD', async () => {
    const auth = await f.bearer();
    const cases: [string, string][] = [
      ['PUT', f.path(':publishEvent')],
      ['DELETE', f.path('')],
      ['PATCH', f.path(':setState')],
      ['PUT', f.path('/config')],
      ['DELETE', f.path('/config')],
      ['GET', f.path(':publishEvent')],
      ['GET', f.path(':setState')],
      ['POST', f.path('/config')],
      ['POST', f.path(':foo')],
      ['POST', f.path('')],
      ['GET', f.path('')],
      ['GET', '/'],
      ['GET', '/healthz'],
      ['POST', `/v2${f.path(':publishEvent').slice(3)}`],
      ['POST', `/v1/projects/${PROJECT}/topics/x:publish`],
      ['GET', `/v1/projects/${PROJECT}/locations/us-central1/registries/${REG}/devices`],
    ];
    await f.storesNothing(async () => {
      for (const [method, path] of cases) {
        const r = await f.send(path, { method, headers: { ...auth, 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{"binaryData":"aGk="}' }) });
        assert.equal(r.status, 404, `${method} ${path}: ${r.status} ${r.text}`);
        assertGoogleError(r, 404, 'NOT_FOUND', 'NO_SUCH_METHOD');
      }
    });
  });

  it('malformed HTTP on a raw socket: 400 in Google JSON, then close', async () => {
    const inputs = ['GARBAGE\r\n\r\n', 'POST /v1 HTTP/9.9\r\n\r\n', `POST ${devicePath(REG, 'good-dev')}:publishEvent HTTP/1.1\r\nContent-Length: abc\r\n\r\n`, '\x00\x01\x02\x03\r\n\r\n'];
    await f.storesNothing(async () => {
      for (const input of inputs) {
        const raw = await openRawConn(f.plainUrl);
        raw.socket.write(input);
        await within(raw.closed, 3000, `close after ${JSON.stringify(input)}`);
        const r = parseRawResponse(raw.received());
        assertGoogleError(r, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT');
      }
    });
  });

  it('two states within a second: the second is 429 STATE_RATE_EXCEEDED and lastErrorStatus says so', async () => {
    const before = await f.stored();
    const first = await f.post(':setState', { state: { binaryData: Buffer.from('s1').toString('base64') } });
    assert.equal(first.status, 200, first.text);
    const second = await f.post(':setState', { state: { binaryData: Buffer.from('s2').toString('base64') } });
    assertGoogleError(second, 429, 'RESOURCE_EXHAUSTED', 'STATE_RATE_EXCEEDED');
    // The state notification is appended after the state is stored, and the answer does not wait
    // for it (best effort, spec §8.4): it may reach the log just after the 200.
    const expected = { ...before, state: before.state + 1, states: before.states + 1 };
    let stored = await f.stored();
    for (const until = Date.now() + 5_000; stored.state < expected.state && Date.now() < until; stored = await f.stored()) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(stored, expected);
    // Activity is flushed every 5 s.
    const deadline = Date.now() + 10_000;
    let last: unknown;
    for (;;) {
      const d = await api(f.server, 'GET', devicePath(REG, f.good.id));
      last = d.json.lastErrorStatus;
      if (/state/i.test(JSON.stringify(last ?? '')) && /per second/.test(JSON.stringify(last))) break;
      assert.ok(Date.now() < deadline, `lastErrorStatus never recorded the state rate: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal((last as { code?: number }).code, 8, 'RESOURCE_EXHAUSTED');
    await f.assertHealthy();
  });

  it('over HTTP/2: no JWT is 401, a forged one 403, 10 MB announced is 400; the session keeps serving', async () => {
    await f.storesNothing(async () => {
      const session = http2Connect(f.tlsUrl.origin, { ca: caOf(f.server), servername: 'localhost' });
      session.on('error', () => undefined);
      try {
        const h2 = (headers: Record<string, string | number>, body?: string | null): Promise<BridgeResponse> =>
          new Promise((resolve, reject) => {
            const stream = session.request({ ':method': 'POST', ':path': f.path(':publishEvent'), 'content-type': 'application/json', ...headers });
            let status = 0;
            let got: Record<string, string | string[] | undefined> = {};
            const chunks: Buffer[] = [];
            stream.on('response', (h) => {
              status = Number(h[':status']);
              got = h;
            });
            stream.on('data', (c: Buffer) => chunks.push(c));
            stream.on('end', () => {
              // null: the request side is left open (its announced body never sent).
              if (body === null) stream.close();
              const text = Buffer.concat(chunks).toString();
              resolve({ status, headers: got, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined });
            });
            stream.on('error', reject);
            if (body === undefined) stream.end();
            else if (body !== null) stream.end(body);
          });
        const body = JSON.stringify({ binaryData: Buffer.from('h2 must not be stored').toString('base64') });
        assertGoogleError(await h2({}, body), 401, 'UNAUTHENTICATED');
        assertGoogleError(await h2({ authorization: `Bearer ${forgeSignature(await f.good.jwt())}` }, body), 403, 'PERMISSION_DENIED', 'DEVICE_AUTH_FAILED');
        // The body is never sent: the answer must come from the announced length alone.
        const big = await within(h2({ authorization: `Bearer ${await f.good.jwt()}`, 'content-length': 10 * 1024 * KiB }, null), 3000, 'h2 10 MB refusal');
        assertGoogleError(big, 400, 'INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE');
        assertGoogleError(await h2({ authorization: `Bearer ${await f.good.jwt()}` }, '[1]'), 400, 'INVALID_ARGUMENT');
        assertGoogleError(await h2({ authorization: `Bearer ${await f.good.jwt()}`, ':method': 'PUT' }, body), 404, 'NOT_FOUND', 'NO_SUCH_METHOD');
        assert.equal(session.closed || session.destroyed, false, 'the HTTP/2 session survives refused streams');
      } finally {
        session.close();
      }
    });
  });

  it('the server is alive at the end', async () => {
    await f.assertHealthy(true);
    await f.assertAlive();
  });
});
