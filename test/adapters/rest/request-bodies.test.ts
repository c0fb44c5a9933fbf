import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { handleDeviceManager, ROUTE_KEYS } from '../../../src/adapters/rest/device-manager-routes.js';
import { REQUEST_BODIES } from '../../../src/adapters/rest/request-bodies.js';
import { invalidOn } from '../../support/assertions.js';
import { memoryAdmin } from './api-harness.js';

const ADMIN = { kind: 'admin' } as const;

/** Path segments and verb of a route key such as `PLRD:sendCommandToDevice POST`. */
function requestOf(key: string): { method: string; segments: string[]; verb: string | undefined } {
  const [path, method] = key.split(' ') as [string, string];
  const [shape, verb] = path.split(':') as [string, string | undefined];
  const [ids, collection] = shape.split('/') as [string, string | undefined];
  const names: Record<string, string[]> = { P: ['projects', 'p'], L: ['locations', 'l'], R: ['registries', 'reg'], D: ['devices', 'dev'] };
  const segments = [...ids].flatMap((c) => names[c]!);
  if (collection !== undefined) segments.push(collection);
  return { method, segments, verb };
}

describe('REQUEST_BODIES: the body message of every method', () => {
  test('every method that takes a body (POST, PATCH) has its message, and every entry is a real route', () => {
    const withBody = ROUTE_KEYS.filter((k) => k.endsWith(' POST') || k.endsWith(' PATCH')).sort();
    assert.deepEqual(Object.keys(REQUEST_BODIES).sort(), withBody);
  });

  for (const key of Object.keys(REQUEST_BODIES)) {
    test(`${key}: an unknown name is refused before the method runs`, async () => {
      const { path } = REQUEST_BODIES[key]!;
      await assert.rejects(
        handleDeviceManager({ ...requestOf(key), query: {}, body: { foo: 1 }, enc: { enumsAsInt: false } }, memoryAdmin(), ADMIN),
        invalidOn(path || 'foo', new RegExp(`Unknown name "foo"${path ? ` at '${path}'` : ''}: Cannot find field\\.`)),
      );
    });
  }

  test('a method without a body ignores what it is sent (GET, DELETE)', async () => {
    const admin = memoryAdmin();
    await admin.createDeviceRegistry(ADMIN, { parent: 'projects/p/locations/l', deviceRegistry: { id: 'reg' } });
    const got = await handleDeviceManager({ ...requestOf('PLR GET'), query: {}, body: { foo: 1 }, enc: { enumsAsInt: false } }, admin, ADMIN);
    assert.equal(got.id, 'reg');
  });
});
