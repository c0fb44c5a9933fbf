import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createApiServer } from '../../../src/adapters/rest/api-server.js';
import { LocalBus } from '../../../src/adapters/bus/local-bus.js';
import { NodeKeyInspector } from '../../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../../src/adapters/store/memory/memory-store.js';
import { ApiAuth } from '../../../src/services/api-auth.js';
import { DeviceAdmin } from '../../../src/services/device-admin.js';

export const HARNESS_TOKEN = 'api-harness-token-0123456789';

/** A DeviceAdmin over the memory store, as the REST adapter's tests need one. */
export function memoryAdmin(): DeviceAdmin {
  const offline = { send: async (): Promise<void> => undefined };
  return new DeviceAdmin(new MemoryStore(), new NodeKeyInspector(), { now: () => Date.now() }, new LocalBus(), offline, harnessAuth);
}

export const harnessAuth = new ApiAuth(HARNESS_TOKEN);

/** The admin HTTP server in process, silent, over the memory store (not listening yet). */
export function testApiServer(bodyLimitBytes = 2 * 1024 * 1024): FastifyInstance {
  return createApiServer({ admin: memoryAdmin(), auth: harnessAuth, bodyLimitBytes, logger: pino({ level: 'silent' }) });
}
