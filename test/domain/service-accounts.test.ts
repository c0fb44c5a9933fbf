import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../../src/domain/errors.js';
import {
  checkAccountId,
  checkServiceAccountProject,
  isKeyId,
  isUniqueId,
  keyName,
  parseServiceAccountEmail,
  serviceAccountEmail,
  serviceAccountName,
} from '../../src/domain/service-accounts.js';

describe('service-account names', () => {
  test('account IDs follow Google\'s rule: 6-30 of [a-z0-9-], a letter first, no trailing hyphen', () => {
    for (const ok of ['robot1', 'my-backend', 'a'.repeat(30), 'a12345']) assert.equal(checkAccountId(ok, 'account_id'), ok);
    for (const bad of ['short', 'a'.repeat(31), '1robot', 'robot-', 'Robot1', 'robot_1', 'robot.1']) {
      assert.throws(() => checkAccountId(bad, 'account_id'), (e: unknown) => e instanceof ApiError && e.field === 'account_id' && e.reason === 'INVALID_FIELD', bad);
    }
    assert.throws(() => checkAccountId(undefined, 'account_id'), (e: unknown) => e instanceof ApiError && e.reason === 'REQUIRED_FIELD');
  });

  test('e-mails round-trip; other text does not parse', () => {
    const email = serviceAccountEmail('my-proj', 'robot-1');
    assert.equal(email, 'robot-1@my-proj.iam.gserviceaccount.com');
    assert.deepEqual(parseServiceAccountEmail(email), { accountId: 'robot-1', project: 'my-proj' });
    for (const bad of ['robot-1@my-proj.gserviceaccount.com', 'robot-1@example.com', 'r@p.iam.gserviceaccount.com', 'robot-1@.iam.gserviceaccount.com']) {
      assert.equal(parseServiceAccountEmail(bad), undefined, bad);
    }
  });

  test('projects must fit an e-mail domain', () => {
    checkServiceAccountProject('proj-e2e', 'name');
    checkServiceAccountProject('p', 'name');
    for (const bad of ['example.com:proj', 'Proj', 'my_proj', '-proj']) {
      assert.throws(() => checkServiceAccountProject(bad, 'name'), ApiError, bad);
    }
  });

  test('unique IDs are 21 digits, key IDs 40 hex digits; resource names are Google\'s', () => {
    assert.equal(isUniqueId('123456789012345678901'), true);
    assert.equal(isUniqueId('12345678901234567890'), false);
    assert.equal(isKeyId('0123456789abcdef0123456789abcdef01234567'), true);
    assert.equal(isKeyId('0123456789ABCDEF0123456789abcdef01234567'), false);
    const a = { project: 'p1', email: 'robot-1@p1.iam.gserviceaccount.com', keyId: 'k' };
    assert.equal(serviceAccountName(a), 'projects/p1/serviceAccounts/robot-1@p1.iam.gserviceaccount.com');
    assert.equal(keyName(a), 'projects/p1/serviceAccounts/robot-1@p1.iam.gserviceaccount.com/keys/k');
  });
});
