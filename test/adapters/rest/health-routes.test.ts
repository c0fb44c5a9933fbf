import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { registerHealthRoutes, type DependencyHealth } from '../../../src/adapters/rest/health-routes.js';

async function probe(checks: () => Promise<Record<string, DependencyHealth>>, timeoutMs?: number) {
  const app = Fastify();
  registerHealthRoutes(app, { checks, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  const healthz = await app.inject({ method: 'GET', url: '/healthz' });
  const readyz = await app.inject({ method: 'GET', url: '/readyz' });
  await app.close();
  return { healthz: { status: healthz.statusCode, body: healthz.json() }, readyz: { status: readyz.statusCode, body: readyz.json() } };
}

describe('/healthz and /readyz', () => {
  test('every dependency up: both 200, each check listed', async () => {
    const r = await probe(async () => ({ store: { ok: true, detail: 'postgres://db/x' }, bus: { ok: true, detail: 'nats://n:4222' } }));
    assert.equal(r.healthz.status, 200);
    assert.equal(r.healthz.body.status, 'ok');
    assert.deepEqual(Object.keys(r.healthz.body.checks), ['store', 'bus']);
    assert.equal(r.readyz.status, 200);
    assert.equal(r.readyz.body.status, 'ready');
  });

  test('one dependency down: alive (200, degraded) but not ready (503), naming it', async () => {
    const r = await probe(async () => ({ store: { ok: false, detail: 'connection refused' }, bus: { ok: true, detail: 'nats' } }));
    assert.equal(r.healthz.status, 200);
    assert.equal(r.healthz.body.status, 'degraded');
    assert.equal(r.readyz.status, 503);
    assert.equal(r.readyz.body.checks.store.ok, false);
    assert.match(r.readyz.body.checks.store.detail, /refused/);
  });

  test('a check that hangs or throws is a failed check within the bound, not a hung probe', async () => {
    const t0 = Date.now();
    const hung = await probe(() => new Promise(() => undefined), 200);
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(hung.readyz.status, 503);
    assert.match(hung.readyz.body.checks.checks.detail, /no answer within 200 ms/);
    const thrown = await probe(async () => {
      throw new Error('boom');
    });
    assert.equal(thrown.readyz.status, 503);
    assert.equal(thrown.healthz.status, 200);
  });
});
