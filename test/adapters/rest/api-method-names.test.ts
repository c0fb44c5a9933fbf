import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BRIDGEHEAD_EXTENSION, codeOfStatus, DEVICE_MANAGER_REST_METHODS, restMethodName } from '../../../src/adapters/rest/api-method-names.js';
import { ROUTE_KEYS } from '../../../src/adapters/rest/device-manager-routes.js';
import { DEVICE_MANAGER_METHODS } from '../../../src/adapters/grpc/device-manager-service.js';
import { codeName } from '../../../src/adapters/grpc/grpc-calls.js';
import { createApiServer } from '../../../src/adapters/rest/api-server.js';
import { registerHealthRoutes } from '../../../src/adapters/rest/health-routes.js';
import { registerMetricsRoute } from '../../../src/adapters/rest/metrics-route.js';
import { pino } from 'pino';
import { HARNESS_TOKEN, harnessAuth, memoryAdmin } from './api-harness.js';

const call = (method: string, url: string, override?: string): Parameters<typeof restMethodName>[0] => ({ method, url, route: '/v1/*', override });
const REG = '/v1/projects/p/locations/us-central1/registries/r';

describe('REST calls named as their RPC (docs/compat.md C-METRICS-API)', () => {
  test('every Device Manager REST route has a name, and every name is a DeviceManager gRPC method', () => {
    assert.deepEqual([...ROUTE_KEYS].sort(), Object.keys(DEVICE_MANAGER_REST_METHODS).sort());
    for (const rpc of Object.values(DEVICE_MANAGER_REST_METHODS)) {
      assert.ok((DEVICE_MANAGER_METHODS as string[]).includes(rpc) || rpc.startsWith(BRIDGEHEAD_EXTENSION), rpc);
    }
  });

  test('paths, verbs, percent-encoding and the method override', () => {
    assert.equal(restMethodName(call('GET', `${REG}/devices/d1?fieldMask=name`)), 'google.cloud.iot.v1.DeviceManager/GetDevice');
    assert.equal(restMethodName(call('GET', `${REG}/devices/d%31`)), 'google.cloud.iot.v1.DeviceManager/GetDevice');
    assert.equal(restMethodName(call('POST', `${REG}/devices/d1`, 'patch')), 'google.cloud.iot.v1.DeviceManager/UpdateDevice');
    assert.equal(restMethodName(call('POST', `${REG}:bindDeviceToGateway`)), 'google.cloud.iot.v1.DeviceManager/BindDeviceToGateway');
    assert.equal(restMethodName(call('GET', '/v1/projects/p/locations/l/registries')), 'google.cloud.iot.v1.DeviceManager/ListDeviceRegistries');
    assert.equal(restMethodName(call('POST', '/v1/projects/p/serviceAccounts')), 'google.iam.admin.v1.IAM/CreateServiceAccount');
    assert.equal(restMethodName(call('POST', '/v1/projects/p:getIamPolicy')), 'google.cloud.resourcemanager.v1.Projects/GetIamPolicy');
  });

  test('anything the API does not answer is "unknown", whatever the client sends', () => {
    for (const u of [`${REG}/devices/d1:explode`, `${REG}/whatever/x`, '/v1/%zz', `${REG}/devices/d1/a/b/c/d`]) assert.equal(restMethodName(call('GET', u)), 'unknown', u);
    assert.equal(restMethodName(call('PUT', `${REG}/devices/d1`)), 'unknown');
    assert.equal(restMethodName({ method: 'GET', url: '/nope/random-1234', route: undefined, override: undefined }), 'unknown');
  });

  test('other routes are named by their pattern, not their path', () => {
    const r = { method: 'GET', url: '/v1/projects/p/topics/t-12345/messages', route: '/v1/projects/:project/topics/:topic/messages', override: undefined };
    assert.equal(restMethodName(r), 'GET /v1/projects/:project/topics/:topic/messages');
    assert.equal(restMethodName({ method: 'GET', url: '/metrics', route: '/metrics', override: undefined }), 'GET /metrics');
  });

  test('status and code names', () => {
    assert.equal(codeOfStatus(200), 'OK');
    assert.equal(codeOfStatus(404), 'NOT_FOUND');
    assert.equal(codeOfStatus(418), 'FAILED_PRECONDITION');
    assert.equal(codeName(5), 'NOT_FOUND');
    assert.equal(codeName(16), 'UNAUTHENTICATED');
    assert.equal(codeName(99), 'UNKNOWN');
  });
});

describe('the API server reports every answered request', () => {
  test('routes of other adapters, unmatched paths, errors by kind, and the time taken', async () => {
    const seen: string[] = [];
    const app = createApiServer({
      admin: memoryAdmin(),
      auth: harnessAuth,
      bodyLimitBytes: 1024,
      logger: pino({ level: 'silent' }),
      observer: {
        apiCall: (transport, method, code, seconds) => {
          assert.ok(seconds !== undefined && seconds >= 0 && seconds < 10, String(seconds));
          seen.push(`${transport} ${method} ${code}`);
        },
      },
    });
    // Added after the hook, as the composition root adds its routes.
    registerMetricsRoute(app, { access: 'token', auth: harnessAuth, render: async () => '', contentType: 'text/plain' });
    registerHealthRoutes(app, { checks: async () => ({}) });
    const auth = { authorization: `Bearer ${HARNESS_TOKEN}` };
    const inject = async (method: 'GET' | 'POST', url: string, headers: Record<string, string> = auth, payload?: string): Promise<number> =>
      (await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) })).statusCode;
    assert.equal(await inject('GET', '/healthz'), 200);
    assert.equal(await inject('GET', '/metrics', {}), 401);
    assert.equal(await inject('GET', '/no/such/thing-123'), 404);
    assert.equal(await inject('GET', `${REG}/devices/d1`), 404);
    assert.equal(await inject('POST', '/v1/projects/p/locations/l/registries', auth, 'x'.repeat(2048)), 400);
    assert.equal(await inject('GET', '/v1/projects/p/locations/l/registries', {}), 401);
    assert.deepEqual(seen, [
      'rest GET /healthz OK',
      'rest GET /metrics UNAUTHENTICATED',
      'rest unknown NOT_FOUND',
      'rest google.cloud.iot.v1.DeviceManager/GetDevice NOT_FOUND',
      'rest google.cloud.iot.v1.DeviceManager/CreateDeviceRegistry INVALID_ARGUMENT',
      'rest google.cloud.iot.v1.DeviceManager/ListDeviceRegistries UNAUTHENTICATED',
    ]);
    await app.close();
  });
});
