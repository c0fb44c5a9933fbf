import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registryName, type Registry, type RegistryKey } from '../../src/domain/model.js';
import { RegistryCache } from '../../src/services/registry-cache.js';
import { makeRegistry, regKey } from '../contracts/store-fixtures.js';

/** A store whose registry the test changes behind the cache's back, as a missed bus event would. */
function fakeStore(initial: Registry) {
  const state = { current: initial as Registry | undefined, reads: 0 };
  return {
    state,
    store: {
      getRegistry: async (_k: RegistryKey) => {
        state.reads++;
        return state.current;
      },
    },
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('RegistryCache', () => {
  it('serves from memory until the entry is older than maxAge, then reloads', async () => {
    const k = regKey();
    const { state, store } = fakeStore(makeRegistry(k, { logLevel: 'INFO' }));
    let now = 0;
    const cache = new RegistryCache(store, { now: () => now }, 30_000);
    assert.equal((await cache.get(k))?.logLevel, 'INFO');
    state.current = makeRegistry(k, { logLevel: 'DEBUG', revision: 2 });
    now = 29_999;
    assert.equal((await cache.get(k))?.logLevel, 'INFO');
    assert.equal(state.reads, 1);
    now = 30_000;
    assert.equal((await cache.get(k))?.logLevel, 'DEBUG', 'a missed change must not stay stale past maxAge');
    assert.equal(state.reads, 2);
  });

  it('peek never waits: an old entry is returned once more and reloaded in the background', async () => {
    const k = regKey();
    const { state, store } = fakeStore(makeRegistry(k, { logLevel: 'INFO' }));
    let now = 0;
    const cache = new RegistryCache(store, { now: () => now }, 1000);
    await cache.get(k);
    state.current = makeRegistry(k, { logLevel: 'ERROR', revision: 2 });
    now = 5000;
    assert.equal(cache.peek(registryName(k))?.logLevel, 'INFO');
    assert.equal(cache.peek(registryName(k))?.logLevel, 'INFO');
    await settle();
    assert.equal(state.reads, 2, 'one background reload, not one per peek');
    assert.equal(cache.peek(registryName(k))?.logLevel, 'ERROR');
  });

  it('peek ages entries by the time its caller read (the last packet), without reading the clock', async () => {
    const k = regKey();
    const { state, store } = fakeStore(makeRegistry(k, { logLevel: 'INFO' }));
    let clockReads = 0;
    const cache = new RegistryCache(store, { now: () => (clockReads++, 0) }, 1000);
    await cache.get(k);
    clockReads = 0;
    state.current = makeRegistry(k, { logLevel: 'ERROR', revision: 2 });
    assert.equal(cache.peek(registryName(k), 999)?.logLevel, 'INFO');
    await settle();
    assert.equal(state.reads, 1, 'younger than maxAge at the time given');
    assert.equal(cache.peek(registryName(k), 1000)?.logLevel, 'INFO');
    await settle();
    assert.equal(state.reads, 2, 'old at the time given: reloaded in the background');
    assert.equal(clockReads, 1, 'only the reload stamped its entry with the clock');
    assert.equal(cache.peek(registryName(k), 1000)?.logLevel, 'ERROR');
  });

  it('refresh drops a deleted registry', async () => {
    const k = regKey();
    const { state, store } = fakeStore(makeRegistry(k));
    const cache = new RegistryCache(store, { now: () => 0 }, 30_000);
    await cache.get(k);
    state.current = undefined;
    await cache.refresh(registryName(k));
    assert.equal(cache.peek(registryName(k)), undefined);
  });
});
