import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CallDeadlines } from '../../src/services/call-deadlines.js';
import { apiErrorOn } from '../support/assertions.js';

class Target {
  readonly writes: string[] = [];
  async write(v: string): Promise<string> {
    this.writes.push(v);
    return v;
  }
  async read(): Promise<number> {
    return this.writes.length;
  }
}

function setup(now = 1000): { clock: { now: () => number }; deadlines: CallDeadlines; target: Target; guarded: Target } {
  const clock = { now: () => now };
  const deadlines = new CallDeadlines(clock);
  const target = new Target();
  return { clock, deadlines, target, guarded: deadlines.guardWrites(target, ['write']) };
}

const never = (): boolean => false;

describe('CallDeadlines', () => {
  test('outside a call nothing is refused (REST, the bridges)', async () => {
    const { guarded, target } = setup();
    assert.equal(await guarded.write('a'), 'a');
    assert.deepEqual(target.writes, ['a']);
  });

  test('a call before its deadline writes; past it (even after awaits) the write is refused and not made', async () => {
    let now = 1000;
    const deadlines = new CallDeadlines({ now: () => now });
    const target = new Target();
    const guarded = deadlines.guardWrites(target, ['write']);
    await deadlines.run({ deadline: 2000, cancelled: never }, async () => {
      await guarded.write('in time');
      await nextTurn();
      now = 2000;
      await assert.rejects(guarded.write('late'), apiErrorOn('DEADLINE_EXCEEDED', undefined, /nothing was changed/));
      // Reads are not guarded: a late call may still finish reading.
      assert.equal(await guarded.read(), 1);
    });
    assert.deepEqual(target.writes, ['in time']);
  });

  test('a cancelled call writes nothing', async () => {
    const { deadlines, guarded, target } = setup();
    let cancelled = false;
    await deadlines.run({ deadline: Infinity, cancelled: () => cancelled }, async () => {
      await guarded.write('a');
      cancelled = true;
      await assert.rejects(guarded.write('b'), apiErrorOn('DEADLINE_EXCEEDED', undefined));
    });
    assert.deepEqual(target.writes, ['a']);
  });

  test('concurrent calls keep their own deadlines', async () => {
    const { deadlines, guarded, target } = setup(1000);
    const late = deadlines.run({ deadline: 500, cancelled: never }, async () => {
      await nextTurn();
      return guarded.write('late');
    });
    const early = deadlines.run({ deadline: 5000, cancelled: never }, async () => {
      await nextTurn();
      return guarded.write('early');
    });
    await assert.rejects(late, apiErrorOn('DEADLINE_EXCEEDED', undefined));
    assert.equal(await early, 'early');
    assert.deepEqual(target.writes, ['early']);
  });
});
