import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiClient } from '../../src/cli/api-client.js';
import type { SendRequest } from '../../src/cli/http-request.js';
import { evaluate, parseFilter } from '../../src/cli/filter.js';

/** --page-size, --limit and --filter as they reach ApiClient.listAll (ListOptions). */

function pages(bodies: unknown[]): { send: SendRequest; urls: URL[] } {
  const urls: URL[] = [];
  const send: SendRequest = async (url) => {
    urls.push(new URL(url));
    const body = bodies.shift();
    if (body === undefined) throw new Error('unexpected request');
    return { status: 200, headers: { 'content-type': 'application/json' }, text: JSON.stringify(body) };
  };
  return { send, urls };
}

const THREE_PAGES = [
  { devices: [{ id: 'a' }, { id: 'x1' }], nextPageToken: 't1' },
  { devices: [{ id: 'x2' }, { id: 'b' }], nextPageToken: 't2' },
  { devices: [{ id: 'x3' }] },
];

describe('ApiClient list options', () => {
  test('the page size is sent when the command set none; the command\'s own wins', async () => {
    const f = pages([{ devices: [] }, { devices: [] }]);
    const client = new ApiClient('http://h', 't', f.send, { pageSize: 5 });
    await client.listAll('r/devices', 'devices');
    await client.listAll('r/devices', 'devices', { pageSize: 9 });
    assert.deepEqual(
      f.urls.map((u) => u.searchParams.get('pageSize')),
      ['5', '9'],
    );
  });

  test('paging stops once --limit items match --filter', async () => {
    const filter = parseFilter('id:x');
    const f = pages([...THREE_PAGES]);
    const client = new ApiClient('http://h', 't', f.send, { limit: 2, matches: (d) => evaluate(filter, d) });
    const doc = await client.listAll('r/devices', 'devices');
    assert.equal(f.urls.length, 2);
    assert.deepEqual(doc, { devices: [{ id: 'a' }, { id: 'x1' }, { id: 'x2' }, { id: 'b' }] });
  });

  test('without a limit every page is fetched', async () => {
    const f = pages([...THREE_PAGES]);
    const doc = await new ApiClient('http://h', 't', f.send, { matches: () => false }).listAll('r/devices', 'devices');
    assert.equal(f.urls.length, 3);
    assert.equal((doc.devices as unknown[]).length, 5);
  });

  test('fields the filter reads are added to a fieldMask; lists without one are left alone', async () => {
    const f = pages([{ devices: [] }, { deviceRegistries: [] }]);
    const client = new ApiClient('http://h', 't', f.send, { maskFields: ['metadata', 'blocked'] });
    await client.listAll('r/devices', 'devices', { fieldMask: 'blocked,gatewayConfig' });
    await client.listAll('l/registries', 'deviceRegistries');
    assert.equal(f.urls[0]!.searchParams.get('fieldMask'), 'blocked,gatewayConfig,metadata');
    assert.equal(f.urls[1]!.searchParams.has('fieldMask'), false);
  });
});
