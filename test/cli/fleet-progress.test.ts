import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Progress } from '../../src/cli/commands/fleet-progress.js';

/** A stderr stand-in that records what is written. */
function sink(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('fleet progress', () => {
  it('on a terminal: a bar redrawn in place with percent, counts and rate, ended by a newline', () => {
    const out = sink(true);
    const p = new Progress(out, 'devices');
    p.begin('importing', 200);
    // Drawn on the next update 100 ms into the phase; then the end draws the last figure.
    const t0 = Date.now();
    while (Date.now() - t0 < 110) {
      // a busy phase: the bar is throttled by time, not by calls
    }
    p.update(100);
    p.end(200);
    assert.ok(out.text.startsWith('\r') && out.text.endsWith('\u001b[K\n'), JSON.stringify(out.text));
    assert.match(out.text, /importing \[#{30}\] 100% 200\/200 devices, [\d,]+\/s/);
  });

  it('a phase too short to watch shows nothing, on a terminal too', () => {
    const out = sink(true);
    const p = new Progress(out, 'devices');
    p.begin('comparing', 10);
    p.end(10);
    assert.equal(out.text, '');
  });

  it('elsewhere: no bar, nothing for a phase shorter than a second', () => {
    const out = sink(false);
    const p = new Progress(out, 'devices');
    p.begin('checking', 10);
    p.update(5);
    p.end(10);
    assert.equal(out.text, '');
  });

  it('quiet: nothing at all', () => {
    const out = sink(true);
    const p = new Progress(out, 'devices', true);
    p.begin('importing', 1);
    p.update(1);
    p.end(1);
    assert.equal(out.text, '');
  });
});
