import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryMessageLog } from '../../../src/adapters/sinks/memory-log/memory-message-log.js';
import { messageLogContract } from '../../contracts/message-log.contract.js';

messageLogContract('MemoryMessageLog', async () => {
  const log = new MemoryMessageLog();
  return { log, sink: log, close: () => log.close() };
});

describe('MemoryMessageLog specifics', () => {
  it('a throwing watcher neither fails the append nor stops the other watchers', async () => {
    const errors: unknown[] = [];
    const log = new MemoryMessageLog({ onError: (e) => errors.push(e) });
    const heard: number[] = [];
    log.watch('t', () => {
      throw new Error('listener bug');
    });
    log.watch('t', (s) => heard.push(s));
    assert.deepEqual(await log.append([{ topic: 't', attributes: {}, data: new Uint8Array([1]), publishTime: 1 }]), ['1']);
    assert.deepEqual(heard, [1]);
    assert.equal(errors.length, 1);
    assert.equal(log.watcherCount(), 2);
  });

  it('a closed log refuses appends with UNAVAILABLE and drops its watchers', async () => {
    const log = new MemoryMessageLog();
    log.watch('t', () => undefined);
    await log.close();
    assert.equal(log.watcherCount(), 0);
    await assert.rejects(log.append([{ topic: 't', attributes: {}, data: new Uint8Array(), publishTime: 1 }]), { kind: 'UNAVAILABLE' });
  });
});
