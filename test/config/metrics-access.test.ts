import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/loader.js';
import { ConfigError } from '../../src/config/schema.js';

describe('metricsAccess setting', () => {
  test('defaults to loopback', () => {
    assert.equal(loadConfig({}, {}).metricsAccess, 'loopback');
  });

  test('BRIDGEHEAD_METRICS_ACCESS sets it; the flag wins over it; case does not matter', () => {
    assert.equal(loadConfig({}, { BRIDGEHEAD_METRICS_ACCESS: 'token' }).metricsAccess, 'token');
    assert.equal(loadConfig({ metricsAccess: 'public' }, { BRIDGEHEAD_METRICS_ACCESS: 'token' }).metricsAccess, 'public');
    assert.equal(loadConfig({ metricsAccess: 'TOKEN' }, {}).metricsAccess, 'token');
  });

  test('anything else is a problem naming the choices', () => {
    for (const bad of ['open', '', 1, true]) {
      assert.throws(
        () => loadConfig({ metricsAccess: bad }, {}),
        (e: unknown) =>
          e instanceof ConfigError && e.problems.length === 1 && e.problems[0] === `metricsAccess: expected one of loopback, token, public, got ${JSON.stringify(bad)}`,
        String(bad),
      );
    }
  });
});
