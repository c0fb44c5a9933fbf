import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getConfigRequest, publishEventRequest, routeOf, setStateRequest } from '../../../src/adapters/http-bridge/device-routes.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { Json } from '../../../src/adapters/rest/json-read.js';

/** The HTTP bridge's URL grammar and bodies (spec §7.1, §7.2; docs/compat.md C-HTTP-BODY). */

const BASE = '/v1/projects/p-1/locations/us-central1/registries/reg-1/devices/dev-1';

function apiError(kind: string, reason?: string, field?: string, messageIncludes?: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    if (reason !== undefined) assert.equal(e.reason, reason, e.message);
    if (field !== undefined) assert.equal(e.field, field, e.message);
    if (messageIncludes !== undefined) assert.ok(e.message.includes(messageIncludes), e.message);
    return true;
  };
}

const noSuchMethod = apiError('NOT_FOUND', 'NO_SUCH_METHOD');
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe('routeOf', () => {
  it('the three methods under /v1/', () => {
    const path = { registryKey: { project: 'p-1', location: 'us-central1', registry: 'reg-1' }, device: 'dev-1' };
    assert.deepEqual(routeOf('POST', `${BASE}:publishEvent`), { method: 'publishEvent', path });
    assert.deepEqual(routeOf('POST', `${BASE}:setState`), { method: 'setState', path });
    assert.deepEqual(routeOf('GET', `${BASE}/config`), { method: 'getConfig', path });
    assert.deepEqual(routeOf('GET', `${BASE}/config?local_version=3`), { method: 'getConfig', path });
    assert.deepEqual(routeOf('HEAD', `${BASE}/config`), { method: 'getConfig', path });
  });

  it('/v1beta1/ is the same API', () => {
    const beta = BASE.replace('/v1/', '/v1beta1/');
    assert.equal(routeOf('POST', `${beta}:publishEvent`).method, 'publishEvent');
    assert.equal(routeOf('POST', `${beta}:setState`).method, 'setState');
    assert.deepEqual(routeOf('GET', `${beta}/config`).path.device, 'dev-1');
    assert.throws(() => routeOf('POST', BASE.replace('/v1/', '/v2/') + ':publishEvent'), noSuchMethod);
    assert.throws(() => routeOf('POST', BASE.replace('/v1/', '/v1beta2/') + ':publishEvent'), noSuchMethod);
  });

  it('percent-encoded segments are decoded', () => {
    const r = routeOf('POST', '/v1/projects/my%2Dproj/locations/us%2Dcentral1/registries/r%25x/devices/d%2Bplus~t:publishEvent');
    assert.deepEqual(r.path, { registryKey: { project: 'my-proj', location: 'us-central1', registry: 'r%x' }, device: 'd+plus~t' });
  });

  it('an invalid percent-encoding is INVALID_ARGUMENT, not a crash', () => {
    assert.throws(() => routeOf('POST', '/v1/projects/p/locations/l/registries/r/devices/d%E0%A4:publishEvent'), apiError('INVALID_ARGUMENT'));
  });

  it('a numId in place of the device ID is passed on as the device', () => {
    assert.equal(routeOf('GET', '/v1/projects/p/locations/l/registries/r/devices/2820138943912345/config').path.device, '2820138943912345');
  });

  it('the wrong HTTP method is NOT_FOUND NO_SUCH_METHOD', () => {
    for (const [m, tail] of [
      ['GET', ':publishEvent'],
      ['PUT', ':publishEvent'],
      ['DELETE', ':setState'],
      ['GET', ':setState'],
      ['HEAD', ':publishEvent'],
      ['POST', '/config'],
      ['PUT', '/config'],
      ['PATCH', '/config'],
    ] as const) {
      assert.throws(() => routeOf(m, `${BASE}${tail}`), noSuchMethod, `${m} ${tail}`);
    }
  });

  it('an unknown verb or no verb is NOT_FOUND', () => {
    for (const tail of [':publishevent', ':publish', ':', ':getConfig', ':setState:publishEvent', '', '/states', '/configVersions']) {
      assert.throws(() => routeOf('POST', `${BASE}${tail}`), noSuchMethod, tail);
      assert.throws(() => routeOf('GET', `${BASE}${tail}`), noSuchMethod, tail);
    }
  });

  it('extra or missing segments are NOT_FOUND', () => {
    for (const url of [
      `${BASE}/config/extra`,
      `${BASE}/extra:publishEvent`,
      `${BASE}/:publishEvent`,
      `/v1/projects/p/locations/l/registries/r/devices/:publishEvent`,
      `/v1/projects/p/locations/l/devices/d:publishEvent`,
      `/v1/projects/p/registries/r/devices/d:publishEvent`,
      `/x${BASE}:publishEvent`,
      `${BASE}:publishEvent/`,
      `v1/projects/p/locations/l/registries/r/devices/d:publishEvent`,
    ]) {
      assert.throws(() => routeOf('POST', url), noSuchMethod, url);
      assert.throws(() => routeOf('GET', url.replace(':publishEvent', '/config')), noSuchMethod, url);
    }
  });

  it('the NOT_FOUND message names the method and path, cut to a bounded length', () => {
    assert.throws(() => routeOf('PUT', `${BASE}:publishEvent?x=1`), apiError('NOT_FOUND', 'NO_SUCH_METHOD', undefined, `PUT ${BASE}:publishEvent`));
    assert.throws(
      () => routeOf('GET', `/${'x'.repeat(10_000)}`),
      (e: unknown) => e instanceof ApiError && e.message.length < 600,
    );
  });
});

describe('publishEventRequest', () => {
  it('camelCase and snake_case keys', () => {
    assert.deepEqual(publishEventRequest({ binaryData: 'AQID', subFolder: 'a/b', gatewayInfo: { delegatedDeviceId: 'd' } }), {
      data: bytes(1, 2, 3),
      subFolder: 'a/b',
      gatewayInfo: { gatewayId: undefined, delegatedDeviceId: 'd' },
    });
    assert.deepEqual(publishEventRequest({ binary_data: 'AQID', sub_folder: 'a/b', gateway_info: { gateway_id: 'gw' } }), {
      data: bytes(1, 2, 3),
      subFolder: 'a/b',
      gatewayInfo: { gatewayId: 'gw', delegatedDeviceId: undefined },
    });
  });

  it('no sub_folder or gateway_info: empty subfolder, no gateway info', () => {
    assert.deepEqual(publishEventRequest({ binary_data: 'AQID' }), { data: bytes(1, 2, 3), subFolder: '', gatewayInfo: undefined });
  });

  it('standard and URL-safe base64, with or without padding', () => {
    const raw = bytes(0xfb, 0xff, 0xbf, 0x01);
    for (const s of ['+/+/AQ==', '+/+/AQ', '-_-_AQ==', '-_-_AQ']) {
      assert.deepEqual(publishEventRequest({ binaryData: s }).data, raw, s);
    }
  });

  it('an empty string is an empty event', () => {
    assert.deepEqual(publishEventRequest({ binaryData: '' }).data, bytes());
  });

  it('invalid base64 is INVALID_ARGUMENT on binary_data', () => {
    for (const s of ['A', 'AQID!', 'AQ=I', 'AQ===']) {
      assert.throws(() => publishEventRequest({ binaryData: s }), apiError('INVALID_ARGUMENT', undefined, 'binary_data'), s);
    }
    assert.throws(() => publishEventRequest({ binaryData: 12 }), apiError('INVALID_ARGUMENT', undefined, 'binary_data'));
  });

  it('missing (or null) binary_data is REQUIRED_FIELD', () => {
    for (const body of [{}, { binaryData: null }, { sub_folder: 'x' }, undefined] as (Json | undefined)[]) {
      assert.throws(() => publishEventRequest(body), apiError('INVALID_ARGUMENT', 'REQUIRED_FIELD', 'binary_data'), JSON.stringify(body));
    }
  });

  it('an unknown field is refused, naming it', () => {
    assert.throws(() => publishEventRequest({ binaryData: 'AQ', payload: 'x' }), apiError('INVALID_ARGUMENT', undefined, 'payload', '"payload"'));
    assert.throws(
      () => publishEventRequest({ binaryData: 'AQ', gatewayInfo: { gatewayID: 'x' } }),
      apiError('INVALID_ARGUMENT', undefined, undefined, '"gatewayID"'),
    );
  });

  it('one field given twice (both spellings) is refused', () => {
    assert.throws(() => publishEventRequest({ binaryData: 'AQ', binary_data: 'AQ' }), apiError('INVALID_ARGUMENT', undefined, 'binary_data', 'twice'));
    assert.throws(() => publishEventRequest({ binaryData: 'AQ', subFolder: 'a', sub_folder: 'b' }), apiError('INVALID_ARGUMENT', undefined, 'sub_folder', 'twice'));
  });

  it('a body that is not an object is INVALID_BODY', () => {
    for (const body of [[], 'x', 1, null] as Json[]) {
      assert.throws(() => publishEventRequest(body), apiError('INVALID_ARGUMENT', 'INVALID_BODY'), JSON.stringify(body));
    }
  });

  it('wrong JSON types are refused', () => {
    assert.throws(() => publishEventRequest({ binaryData: 'AQ', subFolder: 3 }), apiError('INVALID_ARGUMENT'));
    assert.throws(() => publishEventRequest({ binaryData: 'AQ', gatewayInfo: 'gw' }), apiError('INVALID_ARGUMENT'));
  });
});

describe('setStateRequest', () => {
  it('camelCase and snake_case keys', () => {
    assert.deepEqual(setStateRequest({ state: { binaryData: 'AQID' }, gatewayInfo: { gatewayId: 'gw' } }), {
      data: bytes(1, 2, 3),
      gatewayInfo: { gatewayId: 'gw', delegatedDeviceId: undefined },
    });
    assert.deepEqual(setStateRequest({ state: { binary_data: 'AQID' }, gateway_info: { delegated_device_id: 'd' } }), {
      data: bytes(1, 2, 3),
      gatewayInfo: { gatewayId: undefined, delegatedDeviceId: 'd' },
    });
    assert.deepEqual(setStateRequest({ state: { binary_data: 'AQID' } }), { data: bytes(1, 2, 3), gatewayInfo: undefined });
  });

  it('standard and URL-safe base64, with or without padding', () => {
    for (const s of ['+/+/AQ==', '+/+/AQ', '-_-_AQ==', '-_-_AQ']) {
      assert.deepEqual(setStateRequest({ state: { binaryData: s } }).data, bytes(0xfb, 0xff, 0xbf, 0x01), s);
    }
  });

  it('missing state or state.binary_data is REQUIRED_FIELD', () => {
    for (const body of [{}, { state: {} }, { state: null }, { state: { binaryData: null } }, undefined] as (Json | undefined)[]) {
      assert.throws(() => setStateRequest(body), apiError('INVALID_ARGUMENT', 'REQUIRED_FIELD', 'state.binary_data'), JSON.stringify(body));
    }
  });

  it('invalid base64 names state.binary_data', () => {
    assert.throws(() => setStateRequest({ state: { binaryData: 'A' } }), apiError('INVALID_ARGUMENT', undefined, 'state.binary_data'));
  });

  it('an unknown field is refused, naming it; a field twice is refused', () => {
    assert.throws(() => setStateRequest({ state: { binaryData: 'AQ' }, binaryData: 'AQ' }), apiError('INVALID_ARGUMENT', undefined, 'binaryData', '"binaryData"'));
    assert.throws(() => setStateRequest({ state: { binaryData: 'AQ', data: 'AQ' } }), apiError('INVALID_ARGUMENT', undefined, undefined, '"data"'));
    assert.throws(() => setStateRequest({ state: { binaryData: 'AQ', binary_data: 'AQ' } }), apiError('INVALID_ARGUMENT', undefined, 'state.binary_data', 'twice'));
    assert.throws(
      () => setStateRequest({ state: { binaryData: 'AQ' }, gatewayInfo: { gatewayId: 'a' }, gateway_info: { gatewayId: 'a' } }),
      apiError('INVALID_ARGUMENT', undefined, 'gateway_info', 'twice'),
    );
  });
});

describe('getConfigRequest', () => {
  it('no query: local_version 0, no gateway info', () => {
    assert.deepEqual(getConfigRequest(`${BASE}/config`), { localVersion: 0, gatewayInfo: undefined });
    assert.deepEqual(getConfigRequest(`${BASE}/config?`), { localVersion: 0, gatewayInfo: undefined });
    assert.deepEqual(getConfigRequest(`${BASE}/config?local_version=`), { localVersion: 0, gatewayInfo: undefined });
  });

  it('both spellings of every parameter', () => {
    assert.deepEqual(getConfigRequest(`${BASE}/config?local_version=7`), { localVersion: 7, gatewayInfo: undefined });
    assert.deepEqual(getConfigRequest(`${BASE}/config?localVersion=7`), { localVersion: 7, gatewayInfo: undefined });
    assert.deepEqual(getConfigRequest(`${BASE}/config?gateway_info.gateway_id=gw`), { localVersion: 0, gatewayInfo: { gatewayId: 'gw', delegatedDeviceId: undefined } });
    assert.deepEqual(getConfigRequest(`${BASE}/config?gatewayInfo.gatewayId=gw`), { localVersion: 0, gatewayInfo: { gatewayId: 'gw', delegatedDeviceId: undefined } });
    assert.deepEqual(getConfigRequest(`${BASE}/config?gateway_info.delegated_device_id=d&local_version=2`), {
      localVersion: 2,
      gatewayInfo: { gatewayId: undefined, delegatedDeviceId: 'd' },
    });
    assert.deepEqual(getConfigRequest(`${BASE}/config?gatewayInfo.delegatedDeviceId=d%2Dx`), {
      localVersion: 0,
      gatewayInfo: { gatewayId: undefined, delegatedDeviceId: 'd-x' },
    });
  });

  it('system parameters are ignored', () => {
    assert.deepEqual(getConfigRequest(`${BASE}/config?alt=json&prettyPrint=false&fields=version&key=k&quotaUser=u&$alt=json&local_version=1`), {
      localVersion: 1,
      gatewayInfo: undefined,
    });
  });

  it('an unknown parameter is refused, naming it', () => {
    assert.throws(() => getConfigRequest(`${BASE}/config?version=1`), apiError('INVALID_ARGUMENT', undefined, 'version', '"version"'));
    assert.throws(() => getConfigRequest(`${BASE}/config?local_version=1&gateway_id=g`), apiError('INVALID_ARGUMENT', undefined, 'gateway_id', '"gateway_id"'));
  });

  it('a parameter given twice, in either spelling, is refused', () => {
    assert.throws(() => getConfigRequest(`${BASE}/config?local_version=1&local_version=1`), apiError('INVALID_ARGUMENT', undefined, 'local_version', 'twice'));
    assert.throws(() => getConfigRequest(`${BASE}/config?local_version=1&localVersion=2`), apiError('INVALID_ARGUMENT', undefined, 'local_version', 'twice'));
    assert.throws(
      () => getConfigRequest(`${BASE}/config?gatewayInfo.gatewayId=a&gateway_info.gateway_id=a`),
      apiError('INVALID_ARGUMENT', undefined, 'gateway_info.gateway_id', 'twice'),
    );
  });

  it('a local_version that is not an integer is INVALID_ARGUMENT on local_version', () => {
    for (const v of ['abc', '1.5', '1e3', '0x10', '99999999999999999999', ' 1']) {
      assert.throws(() => getConfigRequest(`${BASE}/config?local_version=${encodeURIComponent(v)}`), apiError('INVALID_ARGUMENT', undefined, 'local_version'), v);
    }
  });

  it('a negative local_version parses; the service refuses it', () => {
    assert.equal(getConfigRequest(`${BASE}/config?local_version=-1`).localVersion, -1);
  });
});
