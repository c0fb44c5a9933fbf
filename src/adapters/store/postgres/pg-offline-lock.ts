import { hostname } from 'node:os';
import pg from 'pg';

/**
 * `bridgehead import` writes a fleet with no server running on the store (docs/compat.md
 * C-IMPORT-OFFLINE). On SQLite the data directory's lock file says so; on a PostgreSQL store
 * shared by several nodes the database itself does: every server's registry store holds a
 * session-level SHARED advisory lock on a connection of its own for as long as it is open, and an
 * import holds the same key EXCLUSIVE for its whole run. Neither waits: an import refuses while any
 * server holds the key (naming them), and a server refuses to start while an import holds it.
 * Session-level locks go with their connection, so a crashed server or import never leaves one behind.
 */

/** "bhimport" as an int64, apart from the schema lock's key. */
const KEY = '7595444133998883700';
/** The key as pg_locks shows it: high and low 32 bits. */
const KEY_HIGH = Number(BigInt(KEY) >> 32n);
const KEY_LOW = Number(BigInt(KEY) & 0xffffffffn);
const CONNECT_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 5_000;
/** After the connection holding a server's lock dropped (PostgreSQL restarted), how long between attempts to take it again. */
const RETAKE_MS = 2_000;

export class StoreInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreInUseError';
  }
}

const whoAmI = (role: string): string => `bridgehead ${role} (process ${process.pid} on ${hostname()})`;

async function connect(url: string, role: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS + 1_000,
    application_name: whoAmI(role),
    keepAlive: true,
  });
  // Without a listener a dropped connection is an uncaught 'error' that ends the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return client;
}

/** The sessions holding the key, as their application_name says (`bridgehead server (process N on H)`). */
async function holders(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ who: string }>(
    `SELECT coalesce(nullif(a.application_name, ''), 'PostgreSQL backend ' || a.pid) AS who
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1 AND l.granted AND l.pid <> pg_backend_pid()
      ORDER BY a.backend_start`,
    [KEY_HIGH, KEY_LOW],
  );
  return rows.map((r) => r.who);
}

/** Held by an import for its whole run; refuses (StoreInUseError) while a server uses the database. */
export async function acquireImportLock(url: string, shown: string): Promise<{ release(): Promise<void> }> {
  const client = await connect(url, 'import');
  try {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [KEY]);
    if (!rows[0]?.ok) {
      const who = await holders(client).catch(() => []);
      throw new StoreInUseError(
        `store ${shown} is in use by ${who.length > 0 ? who.join(', ') : 'another Bridgehead process'}; stop every server using it first`,
      );
    }
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return { release: () => client.end().catch(() => undefined) };
}

/** Held by a server's registry store while it is open; kept through PostgreSQL restarts. */
export class PgServerPresence {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly url: string,
    private readonly onLost: (error: Error) => void,
  ) {}

  /** Rejects StoreInUseError while an import runs on the database. */
  static async acquire(url: string, shown: string, onLost: (error: Error) => void = () => undefined): Promise<PgServerPresence> {
    const presence = new PgServerPresence(url, onLost);
    const client = await connect(url, 'server');
    try {
      if (!(await PgServerPresence.take(client))) {
        const who = await holders(client).catch(() => []);
        throw new StoreInUseError(`store ${shown}: ${who.length > 0 ? who.join(', ') : 'an import'} is writing to it; start the server once it has finished`);
      }
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    presence.hold(client);
    return presence;
  }

  private static async take(client: pg.Client): Promise<boolean> {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock_shared($1) AS ok', [KEY]);
    return rows[0]?.ok === true;
  }

  private hold(client: pg.Client): void {
    this.client = client;
    client.once('end', () => {
      if (this.client !== client) return;
      this.client = undefined;
      if (!this.closed) this.retakeLater();
    });
  }

  /** The lock went with its connection: taken again once PostgreSQL is back (unless an import got it first; then after it). */
  private retakeLater(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.retake();
    }, RETAKE_MS);
    this.timer.unref();
  }

  private async retake(): Promise<void> {
    let client: pg.Client | undefined;
    try {
      client = await connect(this.url, 'server');
      if (this.closed) return void (await client.end());
      if (await PgServerPresence.take(client)) return this.hold(client);
      await client.end();
    } catch (e) {
      await client?.end().catch(() => undefined);
      this.onLost(e instanceof Error ? e : new Error(String(e)));
    }
    if (!this.closed) this.retakeLater();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
