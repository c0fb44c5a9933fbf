import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiCallError, ApiClient, buildUrl, ConnectionError, errorFromBody, normalizeBase, resourcePath } from '../../src/cli/api-client.js';
import type { SendRequest } from '../../src/cli/http-request.js';

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A transport that answers from a list and records the requests. */
function fakeSend(responses: { status: number; body: string; headers?: Record<string, string> }[]): { send: SendRequest; calls: Call[] } {
  const calls: Call[] = [];
  const send: SendRequest = async (url, req) => {
    calls.push({ url, method: req.method, headers: req.headers, body: req.body });
    const r = responses.shift();
    if (!r) throw new Error('unexpected request');
    return { status: r.status, headers: { 'content-type': 'application/json', ...r.headers }, text: r.body };
  };
  return { send, calls };
}

describe('URLs', () => {
  test('base normalisation, /v1 prefix, repeated keys, skipped undefined', () => {
    assert.equal(normalizeBase('http://h:1/'), 'http://h:1');
    assert.equal(normalizeBase('http://h:1/v1/'), 'http://h:1');
    assert.equal(
      buildUrl('http://h:1/', 'projects/p/locations/l/registries/r/devices', {
        deviceIds: ['a', 'b'],
        pageSize: 5,
        'gatewayListOptions.gatewayType': 'GATEWAY',
        pageToken: undefined,
      }),
      'http://h:1/v1/projects/p/locations/l/registries/r/devices?deviceIds=a&deviceIds=b&pageSize=5&gatewayListOptions.gatewayType=GATEWAY',
    );
    assert.equal(buildUrl('http://h', 'x'), 'http://h/v1/x');
  });

  test('resource segments are percent-encoded', () => {
    assert.equal(resourcePath('registries', 'a%b+c~d'), 'registries/a%25b%2Bc~d');
  });
});

describe('errors', () => {
  test('API error documents', () => {
    const e = errorFromBody(409, JSON.stringify({ error: { code: 409, message: 'Device d1 already exists.', status: 'ALREADY_EXISTS' } }));
    assert.equal(e.status, 'ALREADY_EXISTS');
    assert.equal(e.message, 'Device d1 already exists.');
    assert.equal(e.httpStatus, 409);
  });

  test('bodies that are not API errors', () => {
    assert.deepEqual({ ...errorFromBody(503, 'Service Unavailable') }, { status: 'HTTP 503', httpStatus: 503, name: 'ApiCallError' });
    assert.equal(errorFromBody(502, '').message, 'the server returned an error without a body');
  });

  test('an unreachable server is a ConnectionError naming the URL', async () => {
    const client = new ApiClient('http://127.0.0.1:1/', 't', async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    });
    await assert.rejects(client.get('x'), (e: unknown) => {
      assert.ok(e instanceof ConnectionError);
      assert.match(e.message, /http:\/\/127\.0\.0\.1:1 \(connect ECONNREFUSED/);
      return true;
    });
  });
});

describe('ApiClient', () => {
  test('sends the bearer token, JSON bodies and the update mask', async () => {
    const f = fakeSend([{ status: 200, body: '{"id":"d1","blocked":true}' }]);
    const client = new ApiClient('http://h', 'sekret', f.send);
    const doc = await client.patch('projects/p/locations/l/registries/r/devices/d1', { blocked: true }, ['blocked', 'metadata']);
    assert.deepEqual(doc, { id: 'd1', blocked: true });
    const call = f.calls[0]!;
    assert.equal(call.method, 'PATCH');
    assert.equal(call.url, 'http://h/v1/projects/p/locations/l/registries/r/devices/d1?updateMask=blocked%2Cmetadata');
    assert.equal(call.headers.authorization, 'Bearer sekret');
    assert.equal(call.headers['content-type'], 'application/json');
    assert.equal(call.body, '{"blocked":true}');
  });

  test('API errors reject with ApiCallError; empty bodies are {}', async () => {
    const f = fakeSend([
      { status: 401, body: '{"error":{"code":401,"message":"no","status":"UNAUTHENTICATED"}}' },
      { status: 200, body: '' },
    ]);
    const client = new ApiClient('http://h', 't', f.send);
    await assert.rejects(client.get('x'), (e: unknown) => e instanceof ApiCallError && e.status === 'UNAUTHENTICATED');
    assert.deepEqual(await client.delete('x'), {});
  });

  test('a redirect is reported, not followed', async () => {
    const f = fakeSend([{ status: 308, body: '', headers: { location: 'https://h/v1/x' } }]);
    const client = new ApiClient('http://h', 't', f.send);
    await assert.rejects(client.get('x'), (e: unknown) => {
      assert.ok(e instanceof ApiCallError);
      assert.equal(e.status, 'HTTP 308');
      assert.match(e.message, /redirected to https:\/\/h\/v1\/x; check --api/);
      return true;
    });
    assert.equal(f.calls.length, 1);
  });

  test('listAll follows nextPageToken and merges the pages', async () => {
    const f = fakeSend([
      { status: 200, body: '{"devices":[{"id":"a"},{"id":"b"}],"nextPageToken":"t1"}' },
      { status: 200, body: '{"devices":[{"id":"c"}],"nextPageToken":"t2"}' },
      { status: 200, body: '{}' },
    ]);
    const client = new ApiClient('http://h', 't', f.send);
    const doc = await client.listAll('r/devices', 'devices', { pageSize: 2, fieldMask: 'blocked' });
    assert.deepEqual(doc, { devices: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] });
    assert.deepEqual(
      f.calls.map((c) => new URL(c.url).search),
      ['?pageSize=2&fieldMask=blocked', '?pageSize=2&fieldMask=blocked&pageToken=t1', '?pageSize=2&fieldMask=blocked&pageToken=t2'],
    );
  });

  test('listAll keeps an empty list the server sent, and omits one it did not', async () => {
    const client1 = new ApiClient('http://h', 't', fakeSend([{ status: 200, body: '{"deviceRegistries":[]}' }]).send);
    assert.deepEqual(await client1.listAll('x', 'deviceRegistries'), { deviceRegistries: [] });
    const client2 = new ApiClient('http://h', 't', fakeSend([{ status: 200, body: '{}' }]).send);
    assert.deepEqual(await client2.listAll('x', 'devices'), {});
  });

  test('listAll stops on a repeated page token', async () => {
    const page = { status: 200, body: '{"devices":[{"id":"a"}],"nextPageToken":"same"}' };
    const client = new ApiClient('http://h', 't', fakeSend([page, page, page]).send);
    await assert.rejects(client.listAll('x', 'devices'), /repeated page token/);
  });
});
