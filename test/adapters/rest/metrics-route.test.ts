import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { isLoopback, registerMetricsRoute } from '../../../src/adapters/rest/metrics-route.js';
import type { MetricsAccess } from '../../../src/config/schema.js';
import { HARNESS_TOKEN, harnessAuth, testApiServer } from './api-harness.js';

const EXPOSITION = '# HELP up 1\nup 1\n';

function serverWith(access: MetricsAccess): FastifyInstance {
  const app = testApiServer();
  registerMetricsRoute(app, { access, auth: harnessAuth, render: async () => EXPOSITION, contentType: 'text/plain; version=0.0.4' });
  return app;
}

/** GET /metrics as seen from `remoteAddress`, with the admin token or without. */
async function scrape(app: FastifyInstance, remoteAddress: string, token?: string): Promise<{ status: number; body: string; type: string | undefined }> {
  const res = await app.inject({ method: 'GET', url: '/metrics', remoteAddress, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.statusCode, body: res.body, type: res.headers['content-type'] as string | undefined };
}

const UNAUTHENTICATED = { error: { code: 401, message: 'Request is missing a valid admin bearer token (Authorization: Bearer <token>).', status: 'UNAUTHENTICATED' } };

describe('/metrics access (docs/compat.md C-METRICS-ACCESS)', () => {
  test('loopback (the default): local callers need no token; others need the admin token', async () => {
    const app = serverWith('loopback');
    for (const local of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      const r = await scrape(app, local);
      assert.equal(r.status, 200, local);
      assert.equal(r.body, EXPOSITION);
      assert.equal(r.type, 'text/plain; version=0.0.4');
    }
    for (const remote of ['10.0.0.5', '192.0.2.7', '::ffff:10.0.0.5', 'fd00::2', '128.0.0.1']) {
      const r = await scrape(app, remote);
      assert.equal(r.status, 401, remote);
      assert.deepEqual(JSON.parse(r.body), UNAUTHENTICATED);
      assert.equal((await scrape(app, remote, 'wrong-token-wrong-token-wrong')).status, 401, remote);
      assert.equal((await scrape(app, remote, HARNESS_TOKEN)).status, 200, remote);
    }
    await app.close();
  });

  test('token: every caller needs the admin token, local ones too', async () => {
    const app = serverWith('token');
    for (const caller of ['127.0.0.1', '::1', '10.0.0.5']) {
      const r = await scrape(app, caller);
      assert.equal(r.status, 401, caller);
      assert.deepEqual(JSON.parse(r.body), UNAUTHENTICATED);
      assert.equal((await scrape(app, caller, HARNESS_TOKEN)).body, EXPOSITION);
    }
    await app.close();
  });

  test('public: anyone, without a token', async () => {
    const app = serverWith('public');
    for (const caller of ['127.0.0.1', '10.0.0.5', 'fd00::2']) assert.equal((await scrape(app, caller)).body, EXPOSITION, caller);
    await app.close();
  });
});

describe('isLoopback', () => {
  test('127.0.0.0/8 and ::1, also IPv4-mapped; nothing else', () => {
    for (const yes of ['127.0.0.1', '127.255.255.254', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2']) assert.equal(isLoopback(yes), true, yes);
    for (const no of [undefined, '', '10.0.0.1', '0.0.0.0', '::', '::ffff:10.0.0.1', '::2', '1127.0.0.1', '127.0.0.1.evil', 'fe80::1']) {
      assert.equal(isLoopback(no), false, String(no));
    }
  });
});
