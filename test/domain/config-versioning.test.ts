import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nextConfigVersion } from '../../src/domain/config-versioning.js';
import { ApiError } from '../../src/domain/errors.js';
import { apiErrorOn } from '../support/assertions.js';

const T = 1_700_000_000_000;
const MIN = 1000;

describe('nextConfigVersion (spec §3.5)', () => {
  test('versionToUpdate 0 is unconditional and increments the latest version', () => {
    assert.equal(nextConfigVersion({ version: 1, cloudUpdateTime: T }, 0, T + 5000, MIN), 2);
    assert.equal(nextConfigVersion({ version: 41, cloudUpdateTime: T }, 0, T + 5000, MIN), 42);
  });

  test('a matching versionToUpdate succeeds', () => {
    assert.equal(nextConfigVersion({ version: 7, cloudUpdateTime: T }, 7, T + MIN, MIN), 8);
  });

  test('a stale or future versionToUpdate is FAILED_PRECONDITION on version_to_update (C-CONFIG-STALE)', () => {
    assert.throws(
      () => nextConfigVersion({ version: 7, cloudUpdateTime: T }, 6, T + 5000, MIN),
      apiErrorOn('FAILED_PRECONDITION', 'version_to_update', 'The config version to update (6) does not match the current version (7).'),
    );
    assert.throws(
      () => nextConfigVersion({ version: 7, cloudUpdateTime: T }, 8, T + 5000, MIN),
      apiErrorOn('FAILED_PRECONDITION', 'version_to_update', 'The config version to update (8) does not match the current version (7).'),
    );
  });

  test('the stale check comes before the rate check', () => {
    assert.throws(() => nextConfigVersion({ version: 3, cloudUpdateTime: T }, 2, T, MIN), (e: unknown) => e instanceof ApiError && e.kind === 'FAILED_PRECONDITION');
  });

  test('a second update within the interval is RESOURCE_EXHAUSTED (C-CONFIG-RATE); at the interval it passes', () => {
    const tooSoon = apiErrorOn('RESOURCE_EXHAUSTED', undefined, 'Too many config updates for this device: at most one per second.');
    assert.throws(() => nextConfigVersion({ version: 2, cloudUpdateTime: T }, 0, T, MIN), tooSoon);
    assert.throws(() => nextConfigVersion({ version: 2, cloudUpdateTime: T }, 2, T + MIN - 1, MIN), tooSoon);
    assert.equal(nextConfigVersion({ version: 2, cloudUpdateTime: T }, 0, T + MIN, MIN), 3);
  });

  test('version 1 (written at creation) does not count against the rate: the first update may follow at once', () => {
    assert.equal(nextConfigVersion({ version: 1, cloudUpdateTime: T }, 0, T, MIN), 2);
    assert.equal(nextConfigVersion({ version: 1, cloudUpdateTime: T }, 1, T + 1, MIN), 2);
  });

  test('the interval is the caller’s: 0 disables the rate limit', () => {
    assert.equal(nextConfigVersion({ version: 5, cloudUpdateTime: T }, 0, T, 0), 6);
  });
});
