import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { createApiServer } from '../adapters/rest/api-server.js';
import { SqliteStore } from '../adapters/store/sqlite/sqlite-store.js';
import { NodeKeyInspector } from '../adapters/crypto/key-inspector.js';
import { DeviceAdmin } from '../services/device-admin.js';
import { DeviceChangeHub } from '../services/device-events.js';
import { noBridgeCommandSender } from '../services/command-sender.js';
import type { Clock } from '../services/ports.js';
import { createLogger } from '../observability/logger.js';
import { resolveAdminToken } from './admin-token.js';

export interface RunningServer {
  /** What the `listening` line reports. */
  info: {
    api: string;
    dataDir: string;
    database: string;
    adminTokenFile: string | undefined;
  };
  close(): Promise<void>;
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * The composition root: the only place that chooses implementations. Starts parts in dependency
 * order and stops them in reverse.
 */
export async function startServer(config: Config): Promise<RunningServer> {
  const logger = createLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { token, file: adminTokenFile } = resolveAdminToken(config.adminToken, dataDir);

  const databasePath = join(dataDir, 'registry.db');
  const store = SqliteStore.open(databasePath);
  const hub = new DeviceChangeHub();
  const admin = new DeviceAdmin(store, new NodeKeyInspector(), systemClock, hub, noBridgeCommandSender);

  const api = createApiServer({ admin, adminToken: token, bodyLimitBytes: config.apiBodyLimitBytes, logger });
  try {
    await api.listen({ host: config.apiListen.host, port: config.apiListen.port });
  } catch (e) {
    await store.close();
    throw e;
  }
  const address = api.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    info: { api: `http://${host}:${address.port}`, dataDir, database: databasePath, adminTokenFile },
    close() {
      closing ??= (async () => {
        await api.close();
        await store.close();
        logger.flush();
      })();
      return closing;
    },
  };
}
