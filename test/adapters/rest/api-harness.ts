import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createApiServer } from '../../../src/adapters/rest/api-server.js';
import { LocalBus } from '../../../src/adapters/bus/local-bus.js';
import { NodeKeyInspector } from '../../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../../src/adapters/store/memory/memory-store.js';
import { BridgeCommandSender } from '../../../src/services/bridge-command-sender.js';
import { DeviceAdmin } from '../../../src/services/device-admin.js';
import { SessionDirectory } from '../../../src/services/session-directory.js';

export const HARNESS_TOKEN = 'api-harness-token-0123456789';

/** A DeviceAdmin over the memory store, as the REST adapter's tests need one. */
export function memoryAdmin(): DeviceAdmin {
  return new DeviceAdmin(new MemoryStore(), new NodeKeyInspector(), { now: () => Date.now() }, new LocalBus(), new BridgeCommandSender(new SessionDirectory()));
}

/** The admin HTTP server in process, silent, over the memory store (not listening yet). */
export function testApiServer(bodyLimitBytes = 2 * 1024 * 1024): FastifyInstance {
  return createApiServer({ admin: memoryAdmin(), adminToken: HARNESS_TOKEN, bodyLimitBytes, logger: pino({ level: 'silent' }) });
}
