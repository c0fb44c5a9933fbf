import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AsyncLocalStorage } from 'node:async_hooks';
import { systemTimers } from '../../../src/adapters/timers/system-timers.js';
import { ApiError } from '../../../src/domain/errors.js';
import { StreamRechecks, type CheckedStream } from '../../../src/services/pubsub/stream-rechecks.js';
import { ManualTime } from '../../support/manual-time.js';

const INTERVAL = 30_000;

/** A stream whose recheck answers with `verdict()` (undefined: passes), recording checks and its end. */
function stream(name: string, verdict: () => Error | undefined | Promise<never>, key = name) {
  const s = {
    checks: 0,
    ended: [] as ApiError[],
    checked: {
      resource: `projects/p/subscriptions/${name}`,
      key,
      recheck: async (): Promise<void> => {
        s.checks++;
        const v = verdict();
        if (v instanceof Promise) return v;
        if (v !== undefined) throw v;
      },
      end: (error: ApiError) => void s.ended.push(error),
    } satisfies CheckedStream,
  };
  return s;
}

function rechecks() {
  const time = new ManualTime();
  const errors: string[] = [];
  const r = new StreamRechecks(time, INTERVAL, (err, resource, failed) => errors.push(`${resource} (${failed}): ${String(err)}`));
  return { time, errors, r };
}

const denied = new ApiError('PERMISSION_DENIED', 'Permission "pubsub.subscriptions.consume" denied.');
const revoked = new ApiError('UNAUTHENTICATED', 'Service-account key "k" is disabled.', { reason: 'JWT_KEY_DISABLED' });

describe('StreamRechecks (docs/compat.md C-PS-STREAM-AUTH)', () => {
  it('checks every open stream once per interval and ends those refused, with the refusal', async () => {
    const { time, r } = rechecks();
    const verdicts: { a?: Error; b?: Error } = {};
    const a = stream('a', () => verdicts.a);
    const b = stream('b', () => verdicts.b);
    const c = stream('c', () => undefined);
    r.add(a.checked);
    r.add(b.checked);
    r.add(c.checked);
    verdicts.a = denied;
    verdicts.b = revoked;
    await time.advance(INTERVAL - 1);
    assert.deepEqual([a.checks, b.checks, c.checks], [0, 0, 0], 'not before the interval');
    await time.advance(1);
    assert.deepEqual([a.checks, b.checks, c.checks], [1, 1, 1]);
    assert.deepEqual(a.ended, [denied]);
    assert.deepEqual(b.ended, [revoked]);
    assert.deepEqual(c.ended, []);
    assert.equal(r.size, 1, 'the ended streams are no longer followed');
    await time.advance(INTERVAL);
    assert.deepEqual([a.checks, b.checks, c.checks], [1, 1, 2], 'an ended stream is not checked (or ended) again');
    assert.equal(a.ended.length + b.ended.length, 2);
  });

  it('a check that cannot be made (the store is down) keeps the stream open and tries again next round', async () => {
    const { time, errors, r } = rechecks();
    let verdict: Error | undefined = new ApiError('UNAVAILABLE', 'store down');
    const a = stream('a', () => verdict);
    r.add(a.checked);
    await time.advance(INTERVAL);
    assert.deepEqual(a.ended, []);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /subscriptions\/a \(1\): .*store down/);
    verdict = new Error('a bug');
    await time.advance(INTERVAL);
    assert.deepEqual(a.ended, [], 'not an API refusal either');
    verdict = denied;
    await time.advance(INTERVAL);
    assert.deepEqual(a.ended, [denied]);
  });

  it('no timer while no stream is open; a stream removed before its round is not checked', async () => {
    const { time, r } = rechecks();
    assert.equal(time.pending, 0);
    const a = stream('a', () => denied);
    const remove = r.add(a.checked);
    assert.equal(time.pending, 1);
    remove();
    assert.equal(time.pending, 0, 'the timer went with the last stream');
    await time.advance(INTERVAL * 3);
    assert.equal(a.checks, 0);
    assert.deepEqual(a.ended, []);
  });

  it('a stream that ends while an earlier one is being checked is skipped; rounds never overlap', async () => {
    const { time, r } = rechecks();
    let release!: () => void;
    const held = new Promise<never>((_resolve, reject) => {
      release = () => reject(denied);
    });
    const slow = stream('slow', () => held);
    const later = stream('later', () => denied);
    r.add(slow.checked);
    const removeLater = r.add(later.checked);
    await time.advance(INTERVAL);
    assert.equal(slow.checks, 1);
    // The round waits on the slow check: no second round starts, however long it takes.
    await time.advance(INTERVAL * 5);
    assert.equal(slow.checks, 1);
    assert.equal(time.pending, 0, 'the next round is timed from the end of this one');
    removeLater();
    release();
    await time.advance(0);
    assert.deepEqual(slow.ended, [denied]);
    assert.equal(later.checks, 0, 'removed while the round ran: not checked');
    assert.equal(r.size, 0);
    assert.equal(time.pending, 0);
  });

  it('streams with the same key share one check per round; a store outage is reported once per round, with how many checks failed', async () => {
    const { time, errors, r } = rechecks();
    let verdict: Error | undefined;
    const same = [stream('s', () => verdict, 'robot|k-1|s'), stream('s', () => verdict, 'robot|k-1|s'), stream('s', () => verdict, 'robot|k-1|s')];
    const other = stream('t', () => verdict, 'robot|k-1|t');
    for (const x of [...same, other]) r.add(x.checked);
    await time.advance(INTERVAL);
    assert.deepEqual([...same, other].map((x) => x.checks), [1, 0, 0, 1], 'one check per key and round');
    verdict = new ApiError('UNAVAILABLE', 'store down');
    await time.advance(INTERVAL);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /subscriptions\/s \(2\): .*store down/);
    verdict = denied;
    await time.advance(INTERVAL);
    assert.deepEqual([...same, other].map((x) => x.ended.length), [1, 1, 1, 1], 'the shared refusal ends every stream of the key');
    assert.equal(r.size, 0);
  });

  it('a stream whose end throws is reported; the round goes on and the timer keeps running', async () => {
    const { time, errors, r } = rechecks();
    const broken = stream('broken', () => denied);
    broken.checked.end = () => {
      throw new Error('bug in end');
    };
    const next = stream('next', () => denied);
    const stays = stream('stays', () => undefined);
    for (const x of [broken, next, stays]) r.add(x.checked);
    await time.advance(INTERVAL);
    assert.deepEqual(next.ended, [denied]);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /subscriptions\/broken \(1\): Error: bug in end/);
    assert.equal(time.pending, 1, 'the next round is scheduled');
    await time.advance(INTERVAL);
    assert.equal(stays.checks, 2);
  });

  it('rounds run outside the context of the call that opened a stream (its deadline, its memory)', async () => {
    const als = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const r = new StreamRechecks(systemTimers, 20, () => undefined);
    const s = stream('a', () => {
      seen.push(als.getStore());
      return undefined;
    });
    const remove = als.run('the opening call', () => r.add(s.checked));
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((res) => setTimeout(res, 10));
    remove();
    assert.ok(seen.length >= 2, `checked ${seen.length} times`);
    assert.deepEqual(new Set(seen), new Set([undefined]));
  });
});
