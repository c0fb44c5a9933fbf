import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Metadata, status, type ServerUnaryCall, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { deviceManagerService } from '../../../src/adapters/grpc/device-manager-service.js';
import { MalformedRequest, statusCodec } from '../../../src/adapters/grpc/protos.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { Registry } from '../../../src/domain/model.js';
import { ApiAuth, type Principal } from '../../../src/services/api-auth.js';
import { CallDeadlines } from '../../../src/services/call-deadlines.js';
import type { DeviceAdmin } from '../../../src/services/device-admin.js';

/**
 * The handlers without a network: a call object as grpc-js builds it, a DeviceAdmin double that
 * records its caller, and the callback's answer. What every method shares is checked here once:
 * authentication, anonymous access, malformed messages, deadlines, and our own failures.
 */

const TOKEN = 'unit-admin-token-0123456789';
const REG = 'projects/p/locations/us-central1/registries/reg-1';
const REGISTRY: Registry = {
  project: 'p',
  location: 'us-central1',
  registry: 'reg-1',
  revision: 1,
  eventNotificationConfigs: [],
  stateNotificationConfig: undefined,
  mqttEnabledState: undefined,
  httpEnabledState: undefined,
  logLevel: 'LOG_LEVEL_UNSPECIFIED',
  credentials: [],
};

interface Answer {
  error: Partial<StatusObject> | null;
  value: unknown;
}

function harness(opts: { anonymousAsAdmin?: boolean; now?: () => number; admin?: Partial<DeviceAdmin> } = {}) {
  const callers: Principal[] = [];
  const logged: { obj: unknown; msg: string }[] = [];
  const log = { error: (obj: unknown, msg: string) => logged.push({ obj, msg }) } as unknown as Logger;
  const deadlines = new CallDeadlines({ now: opts.now ?? (() => 1000) });
  const admin = {
    getDeviceRegistry: async (caller: Principal) => {
      callers.push(caller);
      deadlines.check();
      return REGISTRY;
    },
    ...opts.admin,
  } as unknown as DeviceAdmin;
  const service = deviceManagerService({ admin, auth: new ApiAuth(TOKEN), deadlines, codec: statusCodec(), log, anonymousAsAdmin: opts.anonymousAsAdmin ?? false });
  const invoke = (method: string, request: unknown, call: { authorization?: string; deadline?: number; cancelled?: boolean } = {}): Promise<Answer> => {
    const metadata = new Metadata();
    if (call.authorization !== undefined) metadata.set('authorization', call.authorization);
    const unary = { request, metadata, cancelled: call.cancelled ?? false, getDeadline: () => call.deadline ?? Infinity } as unknown as ServerUnaryCall<unknown, unknown>;
    return new Promise((resolve) => {
      const handler = service[method] as (c: ServerUnaryCall<unknown, unknown>, cb: (e: Partial<StatusObject> | null, v?: unknown) => void) => void;
      handler(unary, (error, value) => resolve({ error, value }));
    });
  };
  return { invoke, callers, logged };
}

const reasonOf = (a: Answer): unknown => a.error?.metadata?.get('x-bridgehead-error-reason')[0];

describe('DeviceManager handlers', () => {
  test('a bearer token is required and checked; the caller reaches the service', async () => {
    const h = harness();
    const missing = await h.invoke('GetDeviceRegistry', { name: REG });
    assert.equal(missing.error?.code, status.UNAUTHENTICATED);
    assert.equal(reasonOf(missing), 'CREDENTIALS_MISSING');
    assert.equal(reasonOf(await h.invoke('GetDeviceRegistry', { name: REG }, { authorization: 'Bearer nope' })), 'CREDENTIALS_INVALID');
    const ok = await h.invoke('GetDeviceRegistry', { name: REG }, { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.error, null);
    assert.deepEqual(ok.value, { id: 'reg-1', name: REG });
    assert.deepEqual(h.callers, [{ kind: 'admin' }]);
  });

  test('anonymous access: no credentials run as the admin, but credentials that are sent are checked', async () => {
    const h = harness({ anonymousAsAdmin: true });
    assert.equal((await h.invoke('GetDeviceRegistry', { name: REG })).error, null);
    assert.deepEqual(h.callers, [{ kind: 'admin' }]);
    assert.equal((await h.invoke('GetDeviceRegistry', { name: REG }, { authorization: 'Bearer nope' })).error?.code, status.UNAUTHENTICATED);
  });

  test('a malformed message: INVALID_ARGUMENT after authentication, and the service is not called', async () => {
    const h = harness();
    const malformed = new MalformedRequest('index out of range');
    assert.equal((await h.invoke('GetDeviceRegistry', malformed)).error?.code, status.UNAUTHENTICATED);
    const answer = await h.invoke('GetDeviceRegistry', malformed, { authorization: `Bearer ${TOKEN}` });
    assert.equal(answer.error?.code, status.INVALID_ARGUMENT);
    assert.equal(reasonOf(answer), 'INVALID_BODY');
    assert.match(String(answer.error?.details), /not a valid GetDeviceRegistry request message: index out of range/);
    assert.equal(h.callers.length, 0);
  });

  test("the call's deadline and cancellation reach the service's writes", async () => {
    const h = harness({ now: () => 5000 });
    const late = await h.invoke('GetDeviceRegistry', { name: REG }, { authorization: `Bearer ${TOKEN}`, deadline: 4000 });
    assert.equal(late.error?.code, status.DEADLINE_EXCEEDED);
    const cancelled = await h.invoke('GetDeviceRegistry', { name: REG }, { authorization: `Bearer ${TOKEN}`, deadline: 9000, cancelled: true });
    assert.equal(cancelled.error?.code, status.DEADLINE_EXCEEDED);
    assert.equal((await h.invoke('GetDeviceRegistry', { name: REG }, { authorization: `Bearer ${TOKEN}`, deadline: 9000 })).error, null);
  });

  test('service errors keep their code; anything else is INTERNAL, with the cause logged and not shown', async () => {
    const h = harness({
      admin: {
        getDeviceRegistry: async () => {
          throw new ApiError('NOT_FOUND', 'Registry "x" not found.', { reason: 'REGISTRY_NOT_FOUND' });
        },
        getDevice: async () => {
          throw new TypeError('secret detail of our bug');
        },
      },
    });
    const notFound = await h.invoke('GetDeviceRegistry', { name: REG }, { authorization: `Bearer ${TOKEN}` });
    assert.equal(notFound.error?.code, status.NOT_FOUND);
    assert.equal(reasonOf(notFound), 'REGISTRY_NOT_FOUND');
    assert.equal(h.logged.length, 0, 'a caller fault is not our error');
    const bug = await h.invoke('GetDevice', { name: `${REG}/devices/d` }, { authorization: `Bearer ${TOKEN}` });
    assert.equal(bug.error?.code, status.INTERNAL);
    assert.equal(bug.error?.details, 'Internal error.');
    assert.equal(h.logged.length, 1);
    assert.match(String((h.logged[0]!.obj as { err: Error }).err.message), /secret detail/);
  });
});
