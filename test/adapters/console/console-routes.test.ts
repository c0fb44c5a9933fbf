import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import Fastify from 'fastify';
import { CONSOLE_CSP, registerConsoleRoutes } from '../../../src/adapters/console/console-routes.js';
import { testApiServer } from '../rest/api-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'bridgehead-console-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('console routes: a clear 404 until built, then index.html for every page and hashed assets cached for good', async () => {
  const app = Fastify();
  registerConsoleRoutes(app, { dir });
  const missing = await app.inject({ url: '/console/' });
  assert.equal(missing.statusCode, 404);
  assert.match(missing.body, /not built.*npm run build/);

  // Built after the server started: served from the next request on.
  mkdirSync(join(dir, 'assets'));
  const html = '<!doctype html><script type="module" src="/console/assets/main-ABC123.js"></script>';
  const js = 'console.log("console");'.repeat(50);
  writeFileSync(join(dir, 'index.html'), html);
  writeFileSync(join(dir, 'index.html.gz'), gzipSync(html));
  writeFileSync(join(dir, 'assets', 'main-ABC123.js'), js);
  writeFileSync(join(dir, 'assets', 'main-ABC123.js.gz'), gzipSync(js));

  for (const url of ['/console', '/console/', '/console/projects/p/locations/l/registries/r/devices/d', '/console/telemetry?topic=x']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200, url);
    assert.equal(res.body, html, url);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['content-security-policy'], CONSOLE_CSP);
    assert.match(String(res.headers['content-type']), /^text\/html/);
  }
  assert.match(CONSOLE_CSP, /default-src 'self'/);
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval/);

  const plain = await app.inject({ url: '/console/assets/main-ABC123.js' });
  assert.equal(plain.body, js);
  assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.match(String(plain.headers['content-type']), /^text\/javascript/);
  const zipped = await app.inject({ url: '/console/assets/main-ABC123.js', headers: { 'accept-encoding': 'gzip, br' } });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'accept-encoding');
  assert.equal(gunzipSync(zipped.rawPayload).toString(), js);

  const unknown = await app.inject({ url: '/console/assets/main-OLD.js' });
  assert.equal(unknown.statusCode, 404, 'an asset of an older build is not answered with index.html');
  await app.close();
});

test('console routes on the API server: a deep link that is not valid percent-encoding (a `%` in an ID) is still the app, not the API 400', async () => {
  const app = testApiServer();
  registerConsoleRoutes(app, { dir });
  await app.ready();
  const page = await app.inject({ url: '/console/projects/p/locations/l/registries/reg%zz/devices/d%4' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.equal(page.headers['content-security-policy'], CONSOLE_CSP);
  // Only the console's own pages: the API and writes keep their refusal.
  for (const [method, url] of [
    ['GET', '/v1/projects/p/locations/l/registries/reg%zz'],
    ['POST', '/console/reg%zz'],
    ['GET', '/consolex/reg%zz'],
  ] as const) {
    const refused = await app.inject({ method, url });
    assert.equal(refused.statusCode, 400, `${method} ${url}`);
    assert.match(refused.body, /not valid URL encoding/, `${method} ${url}`);
  }
  await app.close();
});
