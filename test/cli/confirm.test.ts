import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { confirm, confirmOrStop, Declined, withQuiet, type Terminal } from '../../src/cli/confirm.js';

/** A terminal that answers `answer` and records the questions. */
function terminal(isTTY: boolean, answer: string): Terminal & { asked: string[] } {
  const asked: string[] = [];
  return {
    isTTY,
    asked,
    ask: (q) => {
      asked.push(q);
      return Promise.resolve(answer);
    },
  };
}

describe('confirmation before deleting', () => {
  test('no terminal: goes ahead without asking', async () => {
    const t = terminal(false, 'n');
    assert.equal(await confirm('Device [d] will be deleted.', false, t), true);
    assert.deepEqual(t.asked, []);
  });

  test('--quiet on a terminal: goes ahead without asking', async () => {
    const t = terminal(true, 'n');
    assert.equal(await confirm('x', true, t), true);
    assert.deepEqual(t.asked, []);
  });

  test('a terminal is asked; empty and yes go ahead, anything else stops', async () => {
    for (const [answer, expected] of [['', true], ['Y', true], ['yes', true], ['n', false], ['no', false], ['maybe', false]] as const) {
      const t = terminal(true, answer);
      assert.equal(await confirm('Device [d] will be deleted.', false, t), expected, `answer "${answer}"`);
      assert.match(t.asked[0]!, /Device \[d\] will be deleted\.[\s\S]*Do you want to continue \(Y\/n\)\?/);
    }
  });

  test('confirmOrStop reads --quiet from the command and throws Declined on no', async () => {
    const cmd = withQuiet(new Command('delete')).exitOverride();
    cmd.parse([], { from: 'user' });
    await assert.rejects(confirmOrStop(cmd, 'x', terminal(true, 'n')), (e: unknown) => e instanceof Declined && /nothing was changed/.test(e.message));
    const quiet = withQuiet(new Command('delete')).exitOverride();
    quiet.parse(['-q'], { from: 'user' });
    await confirmOrStop(quiet, 'x', terminal(true, 'n'));
  });

  test('withQuiet does not add a second --quiet', () => {
    const cmd = withQuiet(withQuiet(new Command('delete')));
    assert.equal(cmd.options.filter((o) => o.long === '--quiet').length, 1);
  });
});
