import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sendRequest } from '../../src/cli/http-request.js';

/** A loopback server that echoes what it received, and answers /status/N with that status. */
let server: Server;
let base: string;

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

before(async () => {
  server = createServer((req, res) => {
    void bodyOf(req).then((body) => {
      const status = /^\/status\/(\d+)$/.exec(req.url ?? '')?.[1];
      if (status !== undefined) {
        res.writeHead(Number(status), { location: '/elsewhere' }).end('{"error":{"message":"m"}}');
        return;
      }
      if (req.url === '/hang-up') {
        res.writeHead(200, { 'content-length': '100' }).write('partial');
        res.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('sendRequest over node:http', () => {
  test('sends the method, path, query, headers and a UTF-8 body with its byte length', async () => {
    const body = JSON.stringify({ note: 'größe ✓' });
    const res = await sendRequest(`${base}/v1/a%2Fb?x=1&x=2`, { method: 'PATCH', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const echo = JSON.parse(res.text) as { method: string; url: string; headers: Record<string, string>; body: string };
    assert.equal(echo.method, 'PATCH');
    assert.equal(echo.url, '/v1/a%2Fb?x=1&x=2');
    assert.equal(echo.headers.authorization, 'Bearer t');
    assert.equal(echo.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(echo.body, body);
  });

  test('a request without a body sends none', async () => {
    const echo = JSON.parse((await sendRequest(`${base}/x`, { method: 'GET', headers: {} })).text) as { headers: Record<string, string>; body: string };
    assert.equal(echo.body, '');
    assert.equal(echo.headers['content-length'], undefined);
  });

  test('error and redirect statuses resolve with their body and headers (redirects are not followed)', async () => {
    const err = await sendRequest(`${base}/status/409`, { method: 'GET', headers: {} });
    assert.equal(err.status, 409);
    assert.equal(err.text, '{"error":{"message":"m"}}');
    const moved = await sendRequest(`${base}/status/301`, { method: 'GET', headers: {} });
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, '/elsewhere');
  });

  test('a connection closed mid-body rejects', async () => {
    await assert.rejects(sendRequest(`${base}/hang-up`, { method: 'GET', headers: {} }));
  });

  test('a refused connection rejects with its code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(sendRequest(`http://127.0.0.1:${port}/`, { method: 'GET', headers: {} }), { code: 'ECONNREFUSED' });
  });

  test('URLs that are not http(s) reject with a clear message', async () => {
    await assert.rejects(sendRequest('ftp://h/x', { method: 'GET', headers: {} }), /unsupported URL scheme "ftp:" \(use http:\/\/ or https:\/\/\)/);
    await assert.rejects(sendRequest('not a url/v1/x', { method: 'GET', headers: {} }), { code: 'ERR_INVALID_URL' });
  });
});
