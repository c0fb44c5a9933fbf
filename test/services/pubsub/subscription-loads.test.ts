import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../../src/domain/errors.js';
import { SubscriptionLoads } from '../../../src/services/pubsub/subscription-loads.js';

interface Loaded {
  name: string;
  ended: ApiError | undefined;
}

function loader(fail: (name: string, n: number) => boolean = () => false): { loads: SubscriptionLoads<Loaded>; count: () => number } {
  let n = 0;
  const loads = new SubscriptionLoads<Loaded>(async (name) => {
    n++;
    await new Promise((r) => setImmediate(r));
    if (fail(name, n)) throw new ApiError('UNAVAILABLE', `load ${n} failed`);
    return { name, ended: undefined };
  });
  return { loads, count: () => n };
}

describe('SubscriptionLoads', () => {
  it('loads a subscription once for concurrent first uses and shares it', async () => {
    const { loads, count } = loader();
    const [a, b] = await Promise.all([loads.get('s'), loads.get('s')]);
    assert.equal(a, b);
    assert.equal(await loads.get('s'), a);
    assert.equal(count(), 1);
    assert.deepEqual(loads.names(), ['s']);
  });

  it('forgets a failed load, so that the next use loads afresh', async () => {
    const { loads, count } = loader((_, n) => n === 1);
    await assert.rejects(loads.get('s'), /load 1 failed/);
    assert.equal(loads.peek('s'), undefined);
    assert.equal((await loads.get('s')).name, 's');
    assert.equal(count(), 2);
  });

  it('an ended subscription answers with why; forget() hands it over and the next use loads it again', async () => {
    const { loads, count } = loader();
    const first = await loads.get('s');
    first.ended = new ApiError('NOT_FOUND', 'gone');
    await assert.rejects(loads.get('s'), /gone/);
    assert.equal(await loads.forget('s'), first);
    assert.equal(await loads.forget('s'), undefined);
    assert.notEqual(await loads.get('s'), first);
    assert.equal(count(), 2);
  });

  it('loaded() lists the successful loads only', async () => {
    const { loads } = loader((name) => name === 'bad');
    await loads.get('a');
    await assert.rejects(loads.get('bad'));
    const pending = loads.get('b');
    assert.deepEqual((await loads.loaded()).map((l) => l.name).sort(), ['a', 'b']);
    await pending;
  });
});
