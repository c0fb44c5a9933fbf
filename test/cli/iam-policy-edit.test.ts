import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiCallError } from '../../src/cli/api-client.js';
import {
  addBinding,
  EDIT_ATTEMPTS,
  editPolicy,
  hasBinding,
  parseMember,
  parsePolicyFile,
  parseRole,
  PolicyInputError,
  removeBinding,
} from '../../src/cli/iam-policy-edit.js';
import type { JsonObject } from '../../src/cli/output.js';

const VIEWER = 'roles/cloudiot.viewer';
const ALICE = 'user:alice@example.com';
const BOB = 'serviceAccount:bob@p.iam.gserviceaccount.com';

const policy = (bindings: { role: string; members: string[] }[], etag = 'BwE='): JsonObject => ({ version: 1, etag, bindings });

describe('IAM policy binding edits', () => {
  test('add creates the binding, appends to an existing role, and keeps version and etag', () => {
    const one = addBinding(policy([]), ALICE, VIEWER);
    assert.deepEqual(one, policy([{ role: VIEWER, members: [ALICE] }]));
    const two = addBinding(one, BOB, VIEWER);
    assert.deepEqual(two.bindings, [{ role: VIEWER, members: [ALICE, BOB] }]);
    assert.equal(two.etag, 'BwE=', 'the etag read goes back with the write');
    const other = addBinding(two, ALICE, 'roles/cloudiot.editor');
    assert.deepEqual(other.bindings, [
      { role: VIEWER, members: [ALICE, BOB] },
      { role: 'roles/cloudiot.editor', members: [ALICE] },
    ]);
  });

  test('add is idempotent and does not modify its input', () => {
    const start = policy([{ role: VIEWER, members: [ALICE] }]);
    const copy = structuredClone(start);
    assert.deepEqual(addBinding(start, ALICE, VIEWER), start);
    addBinding(start, BOB, VIEWER);
    assert.deepEqual(start, copy);
  });

  test('add works on the empty policy of a registry nobody set one on (no bindings field)', () => {
    assert.deepEqual(addBinding({ etag: 'QUNBQg==' }, ALICE, VIEWER), { etag: 'QUNBQg==', bindings: [{ role: VIEWER, members: [ALICE] }] });
  });

  test('remove takes one member out, drops an emptied binding, and is idempotent', () => {
    const start = policy([
      { role: VIEWER, members: [ALICE, BOB] },
      { role: 'roles/cloudiot.editor', members: [ALICE] },
    ]);
    const a = removeBinding(start, ALICE, VIEWER);
    assert.deepEqual(a.bindings, [
      { role: VIEWER, members: [BOB] },
      { role: 'roles/cloudiot.editor', members: [ALICE] },
    ]);
    assert.deepEqual(removeBinding(a, ALICE, VIEWER), a);
    const b = removeBinding(a, BOB, VIEWER);
    assert.deepEqual(b.bindings, [{ role: 'roles/cloudiot.editor', members: [ALICE] }]);
    assert.equal(hasBinding(b, BOB, VIEWER), false);
    assert.equal(hasBinding(b, ALICE, 'roles/cloudiot.editor'), true);
  });

  test('member and role flags: gcloud shapes accepted, others refused with an example', () => {
    assert.equal(parseMember(ALICE), ALICE);
    assert.equal(parseMember('allUsers'), 'allUsers');
    assert.equal(parseMember('domain:example.com'), 'domain:example.com');
    assert.throws(() => parseMember('alice@example.com'), (e: unknown) => e instanceof PolicyInputError && /--member=serviceAccount:/.test(e.message));
    assert.equal(parseRole('roles/cloudiot.admin'), 'roles/cloudiot.admin');
    assert.equal(parseRole('cloudiot.viewer'), VIEWER);
    assert.throws(() => parseRole(''), PolicyInputError);
  });

  test('policy files: JSON policy or {policy}, YAML refused with the way out', () => {
    const p = policy([{ role: VIEWER, members: [ALICE] }]);
    assert.deepEqual(parsePolicyFile(JSON.stringify(p), 'p.json'), p);
    assert.deepEqual(parsePolicyFile(JSON.stringify({ policy: p }), 'p.json'), p);
    assert.throws(() => parsePolicyFile('bindings:\n- role: roles/x\n', 'p.yaml'), (e: unknown) => e instanceof PolicyInputError && /only JSON/.test(e.message));
    assert.throws(() => parsePolicyFile('{"bindings": [{"role": "roles/x"}]}', 'p.json'), /bindings\[0\]/);
    assert.throws(() => parsePolicyFile('[]', 'p.json'), PolicyInputError);
  });
});

describe('editPolicy: read, edit, conditional write, again on ETAG_MISMATCH', () => {
  const mismatch = (): ApiCallError => new ApiCallError('ABORTED', 'etag mismatch', 409);

  test('a write that lost the race is re-applied to the newer policy, so both edits survive', async () => {
    // The "server": the policy with an etag; a write naming another etag is refused.
    let stored = policy([], 'e0');
    let n = 0;
    const read = async (): Promise<JsonObject> => structuredClone(stored);
    const write = async (p: JsonObject): Promise<JsonObject> => {
      if (p.etag !== stored.etag) throw mismatch();
      stored = { ...p, etag: `e${++n}` };
      return structuredClone(stored);
    };
    // Another client's write lands between this one's read and write, once.
    let interfered = false;
    const racingRead = async (): Promise<JsonObject> => {
      const p = await read();
      if (!interfered) {
        interfered = true;
        await write(addBinding(await read(), BOB, VIEWER));
      }
      return p;
    };
    const r = await editPolicy(racingRead, write, (p) => addBinding(p, ALICE, VIEWER));
    assert.equal(r.changed, true);
    assert.deepEqual(stored.bindings, [{ role: VIEWER, members: [BOB, ALICE] }]);
    assert.deepEqual(r.policy, stored);
  });

  test('an edit with nothing to change writes nothing', async () => {
    let writes = 0;
    const r = await editPolicy(
      async () => policy([{ role: VIEWER, members: [ALICE] }]),
      async (p) => {
        writes++;
        return p;
      },
      () => undefined,
    );
    assert.equal(r.changed, false);
    assert.equal(writes, 0);
  });

  test('gives up after EDIT_ATTEMPTS mismatches; other errors are not retried', async () => {
    let writes = 0;
    await assert.rejects(
      editPolicy(async () => policy([]), async () => {
        writes++;
        throw mismatch();
      }, (p) => addBinding(p, ALICE, VIEWER)),
      (e: unknown) => e instanceof ApiCallError && e.status === 'ABORTED',
    );
    assert.equal(writes, EDIT_ATTEMPTS);
    writes = 0;
    await assert.rejects(
      editPolicy(async () => policy([]), async () => {
        writes++;
        throw new ApiCallError('PERMISSION_DENIED', 'no', 403);
      }, (p) => addBinding(p, ALICE, VIEWER)),
      /no/,
    );
    assert.equal(writes, 1);
  });
});
