import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { clientErrorToApiError, frameworkToApiError, rawResponse } from '../../../src/adapters/rest/http-errors.js';
import { ApiError } from '../../../src/domain/errors.js';
import { testApiServer } from './api-harness.js';

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Parses every HTTP/1.1 response in `text` (Content-Length framed). */
function parseResponses(text: string): RawReply[] {
  const out: RawReply[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, headEnd).split('\r\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = Number(headers['content-length']);
    const bodyText = Buffer.from(rest.slice(headEnd + 4)).subarray(0, length).toString();
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(bodyText) as unknown });
    rest = rest.slice(headEnd + 4 + bodyText.length);
  }
  return out;
}

/** Writes `request` on a fresh connection and reads until the server closes it. */
function exchange(port: number, request: string | string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    for (const part of Array.isArray(request) ? request : [request]) socket.write(part);
  });
}

const googleError = (status: number, kind: string, message: RegExp) => (r: RawReply | undefined) => {
  assert.ok(r, 'a response');
  assert.equal(r.status, status);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  const { error } = r.body as { error: { code: number; status: string; message: string } };
  assert.equal(error.code, status);
  assert.equal(error.status, kind);
  assert.match(error.message, message);
  assert.deepEqual(Object.keys(r.body as object), ['error']);
};

describe('mapping of HTTP-level failures to the error vocabulary', () => {
  test('Node parser errors', () => {
    assert.match(clientErrorToApiError({ code: 'HPE_HEADER_OVERFLOW' }).message, /URL or headers are larger/);
    assert.match(clientErrorToApiError({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }).message, /not received in time/);
    assert.match(clientErrorToApiError({ code: 'HPE_INVALID_METHOD' }).message, /not valid HTTP\/1\.1/);
    for (const code of ['HPE_HEADER_OVERFLOW', 'HPE_INVALID_CHUNK_SIZE', undefined]) assert.equal(clientErrorToApiError({ code }).kind, 'INVALID_ARGUMENT');
  });

  test('router errors; anything else is ours', () => {
    assert.equal(frameworkToApiError({ code: 'FST_ERR_BAD_URL' }).kind, 'INVALID_ARGUMENT');
    assert.equal(frameworkToApiError({ code: 'FST_ERR_MAX_PARAM_LENGTH' }).kind, 'INVALID_ARGUMENT');
    assert.equal(frameworkToApiError({ code: 'FST_ERR_ASYNC_CONSTRAINT' }).kind, 'INTERNAL');
  });

  test('rawResponse is one well-framed HTTP/1.1 response that closes the connection', () => {
    const [r, ...more] = parseResponses(rawResponse(new ApiError('INVALID_ARGUMENT', 'nope')));
    assert.deepEqual(more, []);
    googleError(400, 'INVALID_ARGUMENT', /^nope$/)(r);
    assert.equal(r!.headers.connection, 'close');
  });
});

describe('the admin server answers malformed HTTP in Google’s error JSON', () => {
  let app: FastifyInstance;
  let port: number;
  before(async () => {
    app = testApiServer();
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  });
  after(() => app.close());

  test('a header block over Node’s 16 KiB limit (Node would answer 431 in its own shape)', async () => {
    const text = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    googleError(400, 'INVALID_ARGUMENT', /URL or headers are larger than the server accepts/)(parseResponses(text)[0]);
  });

  test('an over-long request line', async () => {
    const text = await exchange(port, `GET /v1/projects/${'p'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    googleError(400, 'INVALID_ARGUMENT', /URL or headers are larger/)(parseResponses(text)[0]);
  });

  test('an unknown method, a control character in the URL, a broken chunk', async () => {
    for (const request of [
      'FROB / HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /v1/\x01 HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    ]) {
      googleError(400, 'INVALID_ARGUMENT', /not valid HTTP\/1\.1/)(parseResponses(await exchange(port, request))[0]);
    }
  });

  test('bad percent-encoding in the path (Fastify would answer FST_ERR_BAD_URL in its own shape)', async () => {
    for (const path of ['/v1/%zz', '/v1/projects/p/locations/l/registries/%', '/v1/%C0%AF']) {
      const text = await exchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      googleError(400, 'INVALID_ARGUMENT', /not valid URL encoding/)(parseResponses(text)[0]);
    }
  });
});

describe('while the server drains', () => {
  test('a request arriving before the listener closes is UNAVAILABLE in Google’s shape (not Fastify’s 503 body)', async () => {
    const app = testApiServer();
    let closingSeen!: () => void;
    const closing = new Promise<void>((r) => (closingSeen = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    // preClose hooks run in order, before the listener closes: this one runs after the server's
    // own has marked it closing, and holds the window open (as closing SSE streams do).
    app.addHook('preClose', async () => {
      closingSeen();
      await released;
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const closed = app.close();
    await closing;
    const text = await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    googleError(503, 'UNAVAILABLE', /shutting down/)(parseResponses(text)[0]);
    release();
    await closed;
  });
});
