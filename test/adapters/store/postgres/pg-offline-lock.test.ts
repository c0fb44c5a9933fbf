import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { acquireImportLock, PgServerPresence, StoreInUseError } from '../../../../src/adapters/store/postgres/pg-offline-lock.js';
import { startPostgres } from '../../../support/postgres.js';

// Its own server: a test restarts it.
const server = await startPostgres({ fast: true });
after(() => server.cleanup());

const refused = async (url: string, pattern: RegExp): Promise<void> => {
  await assert.rejects(acquireImportLock(url, 'db'), (e: unknown) => {
    assert.ok(e instanceof StoreInUseError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
};

/** The import lock, once the presence's reconnect took its share again (bounded by the caller's wait). */
async function untilRefused(url: string, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const lock = await acquireImportLock(url, 'db').catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    if (lock instanceof StoreInUseError) return;
    if (!(lock instanceof Error)) await lock.release();
    assert.ok(Date.now() < deadline, `the server's presence not back within ${withinMs} ms: ${String(lock)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('PostgreSQL import lock and server presence', () => {
  it('servers share it; an import refuses while one holds it and names each; it gets it once they are gone', async () => {
    const url = await server.createDatabase();
    const [a, b] = await Promise.all([PgServerPresence.acquire(url, 'db'), PgServerPresence.acquire(url, 'db')]);
    await refused(url, new RegExp(`in use by bridgehead server \\(process ${process.pid} on [^)]+\\), bridgehead server \\(process ${process.pid} on [^)]+\\); stop every server`));
    await a.close();
    await refused(url, /in use by bridgehead server/);
    await b.close();
    const lock = await acquireImportLock(url, 'db');
    await lock.release();
  });

  it('a server cannot take it while an import holds it', async () => {
    const url = await server.createDatabase();
    const lock = await acquireImportLock(url, 'db');
    await assert.rejects(PgServerPresence.acquire(url, 'db'), (e: unknown) => e instanceof StoreInUseError && /bridgehead import \(process \d+/.test(e.message));
    await lock.release();
    await (await PgServerPresence.acquire(url, 'db')).close();
  });

  it('a server holds it again after PostgreSQL restarted, without a restart of its own', async () => {
    const url = await server.createDatabase();
    const presence = await PgServerPresence.acquire(url, 'db');
    try {
      await server.stop('fast');
      await server.start();
      await untilRefused(url, 10_000);
    } finally {
      await presence.close();
    }
    const lock = await acquireImportLock(url, 'db');
    await lock.release();
  });
});
