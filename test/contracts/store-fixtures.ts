import assert from 'node:assert/strict';
import { ApiError, type ErrorKind } from '../../src/domain/errors.js';
import type { IamPolicy, Registry, RegistryKey } from '../../src/domain/model.js';
import type { DeviceListFilter, Store } from '../../src/services/ports.js';
import { configV1, deviceInput, gatewayConfig, type DeviceInput } from '../support/devices.js';

/**
 * What an implementation hands the contract. `reopen`, for persistent stores, opens a second store
 * on the same data once the test has closed the first.
 */
export interface StoreUnderTest {
  store: Store;
  reopen?: () => Promise<Store>;
}

export const T0 = Date.UTC(2023, 0, 1);

export const regKey = (registry = 'reg-1', project = 'proj', location = 'us-central1'): RegistryKey => ({
  project,
  location,
  registry,
});

export const makeRegistry = (k: RegistryKey, over: Partial<Registry> = {}): Registry => ({
  ...k,
  revision: 1,
  eventNotificationConfigs: [{ pubsubTopicName: 'projects/proj/topics/telemetry', subfolderMatches: '' }],
  stateNotificationConfig: undefined,
  mqttEnabledState: undefined,
  httpEnabledState: 'HTTP_ENABLED',
  logLevel: 'INFO',
  credentials: [],
  ...over,
});

export const makeDevice = (k: RegistryKey, id: string, over: Partial<DeviceInput> = {}): DeviceInput =>
  deviceInput(k, id, configV1(T0, new Uint8Array([0, 1, 2, 255])), {
    credentials: [
      { format: 'ES256_PEM', key: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n', expirationTime: 0 },
    ],
    metadata: { site: 'north' },
    ...over,
  });

export const makeGateway = (k: RegistryKey, id: string): DeviceInput =>
  makeDevice(k, id, { gatewayConfig: gatewayConfig('GATEWAY', 'ASSOCIATION_ONLY') });

export const policy = (version: number, etag: number[]): IamPolicy => ({
  version,
  bindings: [{ role: 'roles/viewer', members: ['user:ops@example.com'] }],
  etag: new Uint8Array(etag),
});

export async function rejectsWith(p: Promise<unknown>, kind: ErrorKind, message?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

/** Walks every page, checking that each `next` is the last ID of its page and the end is undefined. */
export async function listAllIds(
  store: Store,
  k: RegistryKey,
  filter: DeviceListFilter,
  limit: number,
): Promise<{ ids: string[]; pages: number[] }> {
  const ids: string[] = [];
  const pages: number[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listDevices(k, filter, after, limit);
    assert.ok(page.items.length <= limit, 'page larger than the limit');
    pages.push(page.items.length);
    ids.push(...page.items.map((d) => d.id));
    if (page.next === undefined) break;
    assert.equal(page.next, page.items[page.items.length - 1]?.id);
    after = page.next;
    assert.ok(pages.length < 10_000, 'paging does not terminate');
  }
  return { ids, pages };
}

/** A stable permutation of 0..n-1 (n not a multiple of 7) so inserts do not arrive in sorted order. */
export const scrambled = (n: number): number[] => Array.from({ length: n }, (_, i) => (i * 7) % n);

export const pad = (i: number): string => String(i).padStart(2, '0');

export interface ContractContext {
  /** A new, empty store; closed automatically after the test. */
  fresh(): Promise<Store>;
  /** Like fresh() but also returns the reopen hook (undefined for non-persistent stores). */
  freshWithReopen(): Promise<StoreUnderTest>;
}

/** Everything the store holds about one device, to prove that a failed operation changed nothing. */
export async function snapshot(store: Store, numId: string): Promise<unknown> {
  return {
    device: await store.getDeviceByNumId(numId),
    configs: await store.listConfigVersions(numId, 0),
    states: await store.listStates(numId, 0),
  };
}

export const bytesOf = (b: Uint8Array | undefined): number[] => [...(b ?? [])];
