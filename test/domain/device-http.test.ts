import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configReply, delegationOf, RateWindows } from '../../src/domain/device-http.js';
import { ApiError } from '../../src/domain/errors.js';
import type { DeviceConfig } from '../../src/domain/model.js';

/** The HTTP bridge's pure rules (spec §7.2, §7.3, §2.2 limits). */

function isApiError(kind: string, reason: string, field?: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.equal(e.reason, reason, e.message);
    if (field !== undefined) assert.equal(e.field, field);
    return true;
  };
}

describe('delegationOf (spec §7.3)', () => {
  it('gateway_info with both members set is INVALID_ARGUMENT on gateway_info', () => {
    assert.throws(() => delegationOf({ gatewayId: 'gw', delegatedDeviceId: 'd' }, 'gw'), isApiError('INVALID_ARGUMENT', 'INVALID_FIELD', 'gateway_info'));
  });

  it('no gateway_info, or empty members, is the path device itself', () => {
    assert.deepEqual(delegationOf(undefined, 'd'), { kind: 'self' });
    assert.deepEqual(delegationOf({}, 'd'), { kind: 'self' });
    assert.deepEqual(delegationOf({ gatewayId: '', delegatedDeviceId: '' }, 'd'), { kind: 'self' });
  });

  it('a device naming itself (either member) acts for itself', () => {
    assert.deepEqual(delegationOf({ delegatedDeviceId: 'gw' }, 'gw'), { kind: 'self' });
    assert.deepEqual(delegationOf({ gatewayId: 'dev' }, 'dev'), { kind: 'self' });
  });

  it('delegated_device_id names the device a gateway acts for', () => {
    assert.deepEqual(delegationOf({ delegatedDeviceId: 'dev-1' }, 'gw'), { kind: 'delegated', deviceId: 'dev-1' });
    assert.deepEqual(delegationOf({ delegatedDeviceId: 'dev-1', gatewayId: '' }, 'gw'), { kind: 'delegated', deviceId: 'dev-1' });
  });

  it('gateway_id names the gateway a device sends through', () => {
    assert.deepEqual(delegationOf({ gatewayId: 'gw' }, 'dev-1'), { kind: 'via-gateway', gatewayId: 'gw' });
    assert.deepEqual(delegationOf({ gatewayId: 'gw', delegatedDeviceId: '' }, 'dev-1'), { kind: 'via-gateway', gatewayId: 'gw' });
  });
});

describe('configReply (spec §7.2)', () => {
  const config: DeviceConfig = { version: 5, cloudUpdateTime: 1_700_000_000_123, deviceAckTime: 42, binaryData: new Uint8Array([1, 2, 3]) };
  const full = { version: 5, cloudUpdateTime: 1_700_000_000_123, binaryData: new Uint8Array([1, 2, 3]) };

  it('local_version 0 gets the current config (deviceAckTime never appears)', () => {
    assert.deepEqual(configReply(config, 0), full);
  });

  it('a local_version below the current one gets the current config', () => {
    assert.deepEqual(configReply(config, 1), full);
    assert.deepEqual(configReply(config, 4), full);
  });

  it('the current version gets the version alone', () => {
    assert.deepEqual(configReply(config, 5), { version: 5 });
  });

  it('a version above the current one is OUT_OF_RANGE', () => {
    assert.throws(() => configReply(config, 6), isApiError('OUT_OF_RANGE', 'OUT_OF_RANGE'));
  });

  it('a device whose config is still version 0... local_version 0 gets it in full', () => {
    const v0: DeviceConfig = { version: 0, cloudUpdateTime: 0, deviceAckTime: undefined, binaryData: new Uint8Array() };
    assert.deepEqual(configReply(v0, 0), { version: 0, cloudUpdateTime: 0, binaryData: new Uint8Array() });
  });
});

describe('RateWindows', () => {
  it('admits `limit` per window and refuses the rest', () => {
    const w = new RateWindows(3, 1000);
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => w.admit('a', 100 + i)), [true, true, true, false, false]);
    assert.equal(w.admit('b', 104), true, 'another key has its own window');
  });

  it('a new window opens once windowMs has passed since the first admission', () => {
    const w = new RateWindows(2, 1000);
    assert.ok(w.admit('a', 0));
    assert.ok(w.admit('a', 500));
    assert.equal(w.admit('a', 999), false);
    assert.ok(w.admit('a', 1000), 'the window [0, 1000) ended');
    assert.ok(w.admit('a', 1001));
    assert.equal(w.admit('a', 1999), false);
    assert.ok(w.admit('a', 2000));
  });

  it('refused requests are not counted: a key at its limit is admitted as soon as the window rolls over', () => {
    const w = new RateWindows(1, 1000);
    assert.ok(w.admit('a', 0));
    for (let t = 1; t < 1000; t += 10) assert.equal(w.admit('a', t), false);
    assert.ok(w.admit('a', 1000));
    // A refusal does not restart the window either.
    assert.equal(w.admit('a', 1500), false);
    assert.ok(w.admit('a', 2000));
  });

  it('one state per second: limit 1 with a 1 s window', () => {
    const w = new RateWindows(1, 1000);
    assert.ok(w.admit('d', 10_000));
    assert.equal(w.admit('d', 10_999), false);
    assert.ok(w.admit('d', 11_000));
  });

  it('memory stays bounded with many keys: ended windows are swept', () => {
    const w = new RateWindows(5, 1000, 100);
    let now = 0;
    for (let i = 0; i < 10_000; i++) {
      if (i % 50 === 0) now += 1000;
      assert.ok(w.admit(`k${i}`, now));
      assert.ok(w.size <= 200, `size ${w.size} after ${i + 1} keys`);
    }
  });

  it('live windows are never swept, and the sweep threshold grows with them', () => {
    const w = new RateWindows(1, 1000, 10);
    for (let i = 0; i < 100; i++) assert.ok(w.admit(`k${i}`, 0));
    assert.equal(w.size, 100, 'all windows still live');
    for (let i = 0; i < 100; i++) assert.equal(w.admit(`k${i}`, 999), false, `k${i} still limited`);
    // Threshold doubled past 100 (10 -> 20 -> ... -> 160): new keys after the windows ended
    // trigger a sweep once it is reached, which drops the 100 ended ones.
    for (let i = 0; i < 100; i++) assert.ok(w.admit(`late${i}`, 5000));
    assert.equal(w.size, 100, "only the 100 live windows remain: the ended ones were dropped");
  });
});
