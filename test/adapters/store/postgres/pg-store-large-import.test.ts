import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { PgStore } from '../../../../src/adapters/store/postgres/pg-store.js';
import type { ImportedDevice } from '../../../../src/services/ports.js';
import { makeDevice, makeRegistry, regKey } from '../../../contracts/store-fixtures.js';
import { startPostgres } from '../../../support/postgres.js';

// Its own file (and server): at about 10 s it is the slowest PgStore case by far.
const server = await startPostgres({ fast: true });
after(() => server.cleanup());

describe('PgStore: large imports', () => {
  it('imports a registry of 150,000 devices in one call, and numbering continues above them', async () => {
    const url = await server.createDatabase();
    const store = await PgStore.open(url);
    try {
      const k = regKey();
      const n = 150_000;
      const devices: ImportedDevice[] = Array.from({ length: n }, (_, i) => ({ ...makeDevice(k, `d-${i}`), numId: String(3_000_000_000_000_000 + i) }));
      const progress: number[] = [];
      const result = await store.importRegistry(makeRegistry(k), devices, [], (done) => progress.push(done));
      assert.equal(result.devicesCreated, n);
      assert.equal(progress.length, 150);
      const after = await store.createDevice(makeDevice(k, 'after'));
      assert.equal(after.numId, String(3_000_000_000_000_000 + n));
    } finally {
      await store.close();
    }
  });
});
