import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { DeviceTokenVerifier } from '../../src/adapters/crypto/device-token-verifier.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import type { Device, DeviceCredential, Registry } from '../../src/domain/model.js';
import { DeviceAuthenticator, type AuthOutcome } from '../../src/services/device-auth.js';
import type { Clock } from '../../src/services/ports.js';
import { signRawJwt, type RawJwtOptions } from '../support/mqtt-jwt.js';
import { configV1, deviceInput } from '../support/devices.js';
import { makeDeviceKeys, type DeviceKeys } from '../support/pki.js';

/**
 * DeviceAuthenticator with the real token verifier over the MemoryStore (spec §4.1–§4.3,
 * §10.15 leniency, docs/compat.md C-MQTT-NUMID).
 */

const NOW = Date.UTC(2024, 5, 1, 8, 0, 0);
const NOW_S = NOW / 1000;
const P = 'auth-proj';
const L = 'europe-west1';
const R = 'auth-reg';
const clientId = (d: string, reg = R): string => `projects/${P}/locations/${L}/registries/${reg}/devices/${d}`;
const clock: Clock = { now: () => NOW };

let es: DeviceKeys;
let es2: DeviceKeys;
let rsa: DeviceKeys;

before(async () => {
  [es, es2, rsa] = await Promise.all([makeDeviceKeys('ES256'), makeDeviceKeys('ES256'), makeDeviceKeys('RS256')]);
});

function registry(over: Partial<Registry> = {}): Registry {
  return {
    project: P,
    location: L,
    registry: R,
    revision: 1,
    eventNotificationConfigs: [],
    stateNotificationConfig: undefined,
    mqttEnabledState: undefined,
    httpEnabledState: undefined,
    logLevel: 'NONE',
    credentials: [],
    ...over,
  };
}

const cred = (k: DeviceKeys, expirationTime = 0, cert = false): DeviceCredential => ({
  format: cert ? k.certFormat : k.rawFormat,
  key: cert ? k.certificatePem : k.publicKeyPem,
  expirationTime,
});

async function setup(
  credentials: DeviceCredential[],
  over: { registry?: Partial<Registry>; blocked?: boolean } = {},
): Promise<{ auth: DeviceAuthenticator; store: MemoryStore; device: Device }> {
  const store = new MemoryStore();
  await store.createRegistry(registry(over.registry));
  const device = await store.createDevice(
    deviceInput({ project: P, location: L, registry: R }, 'dev-a', configV1(NOW), { credentials, blocked: over.blocked ?? false }),
  );
  return { auth: new DeviceAuthenticator(store, new DeviceTokenVerifier(), clock), store, device };
}

const jwt = (k: DeviceKeys, payload: Record<string, unknown> = { aud: P, iat: NOW_S, exp: NOW_S + 3600 }, o: Partial<RawJwtOptions> = {}): string =>
  signRawJwt(payload, { alg: k.alg, key: k.privateKeyPem, ...o });

function reasonOf(o: AuthOutcome): string {
  return o.ok ? 'ok' : o.reason;
}

describe('DeviceAuthenticator.authenticateClientId', () => {
  test('ES256 and RS256 devices authenticate; the outcome names the device, registry, credential and the forced-disconnect time', async () => {
    for (const k of [es, rsa]) {
      const { auth, device } = await setup([cred(k)]);
      const o = await auth.authenticateClientId(clientId('dev-a'), jwt(k, { aud: P, iat: NOW_S, exp: NOW_S + 120 }), 'mqtt');
      assert.ok(o.ok, reasonOf(o));
      assert.equal(o.device.numId, device.numId);
      assert.equal(o.registry.registry, R);
      assert.deepEqual(o.credential, cred(k));
      assert.equal(o.expiresAtMs, (NOW_S + 120 + 600) * 1000);
    }
  });

  test('X.509 certificate credentials verify the same way', async () => {
    for (const k of [es, rsa]) {
      const { auth } = await setup([cred(k, 0, true)]);
      assert.equal(reasonOf(await auth.authenticateClientId(clientId('dev-a'), jwt(k), 'mqtt')), 'ok');
    }
  });

  test('the numId in place of the device ID is accepted (docs/compat.md C-MQTT-NUMID)', async () => {
    const { auth, device } = await setup([cred(es)]);
    const o = await auth.authenticateClientId(clientId(device.numId), jwt(es), 'mqtt');
    assert.ok(o.ok);
    assert.equal(o.device.id, 'dev-a');
  });

  test('key rotation: any of up to three credentials verifies; the one used is reported', async () => {
    const { auth } = await setup([cred(es), cred(rsa), cred(es2)]);
    const o = await auth.authenticateClientId(clientId('dev-a'), jwt(es2), 'mqtt');
    assert.ok(o.ok);
    assert.deepEqual(o.credential, cred(es2));
    const o2 = await auth.authenticateClientId(clientId('dev-a'), jwt(rsa), 'mqtt');
    assert.ok(o2.ok);
    assert.deepEqual(o2.credential, cred(rsa));
  });

  test('a credential whose expirationTime has passed is not used; one still in the future is', async () => {
    const expired = await setup([cred(es, NOW - 1)]);
    assert.equal(reasonOf(await expired.auth.authenticateClientId(clientId('dev-a'), jwt(es), 'mqtt')), 'bad-signature');
    const atNow = await setup([cred(es, NOW)]);
    assert.equal(reasonOf(await atNow.auth.authenticateClientId(clientId('dev-a'), jwt(es), 'mqtt')), 'bad-signature');
    const future = await setup([cred(es, NOW + 1)]);
    assert.equal(reasonOf(await future.auth.authenticateClientId(clientId('dev-a'), jwt(es), 'mqtt')), 'ok');
  });

  test('lenient encodings real firmware produces are accepted (spec §4.1, §10.15)', async () => {
    const { auth } = await setup([cred(es), cred(rsa)]);
    // Claims whose JSON needs base64 padding and has `+` and `/` in standard base64, so that the
    // firmware's text really differs from strict base64url; the firmware signs the text it sends.
    const tricky = { aud: P, iat: NOW_S, exp: NOW_S + 3600, note: '>>>???x' };
    const json = Buffer.from(JSON.stringify(tricky));
    assert.notEqual(json.length % 3, 0, 'needs padding');
    assert.match(json.toString('base64'), /[+/]/, 'uses the standard-only characters');
    const variants: [string, string][] = [
      ['strict base64url', jwt(es, tricky)],
      ['padded segments', jwt(es, tricky, { padded: true })],
      ['standard base64 alphabet, unpadded', jwt(es, tricky, { standardAlphabet: true })],
      ['standard base64 alphabet, padded', jwt(es, tricky, { standardAlphabet: true, padded: true })],
      ['DER ES256 signature', jwt(es, tricky, { dsaEncoding: 'der' })],
      ['string iat/exp', jwt(es, { aud: P, iat: String(NOW_S), exp: String(NOW_S + 60) })],
      ['no typ header', jwt(es, undefined, { header: { alg: 'ES256' } })],
      ['RS256 padded', jwt(rsa, tricky, { padded: true })],
      ['RS256 standard alphabet', jwt(rsa, tricky, { standardAlphabet: true })],
    ];
    const refused: string[] = [];
    for (const [label, token] of variants) {
      const o = await auth.authenticateClientId(clientId('dev-a'), token, 'mqtt');
      if (!o.ok) refused.push(`${label}: ${o.reason}`);
    }
    assert.deepEqual(refused, []);
  });

  test('each failure has its own reason; known devices are named in the outcome', async () => {
    const { auth, device } = await setup([cred(es)]);
    const cases: [string, string, string | undefined, string][] = [
      ['not a device name', 'dev-a', jwt(es), 'bad-client-id'],
      ['trailing slash', `${clientId('dev-a')}/`, jwt(es), 'bad-client-id'],
      ['unknown registry', clientId('dev-a', 'other-reg'), jwt(es), 'unknown-registry'],
      ['unknown device', clientId('dev-zz'), jwt(es), 'unknown-device'],
      ['unknown numId', clientId('9999999999'), jwt(es), 'unknown-device'],
      ['no token', clientId('dev-a'), undefined, 'no-password'],
      ['empty token', clientId('dev-a'), '', 'no-password'],
      ['not a JWT', clientId('dev-a'), 'a.b', 'malformed-jwt'],
      ['garbage segments', clientId('dev-a'), '!!.??.**', 'malformed-jwt'],
      ['oversized token', clientId('dev-a'), `${jwt(es)}${'A'.repeat(17 * 1024)}`, 'malformed-jwt'],
      ['alg none', clientId('dev-a'), signRawJwt({ aud: P, iat: NOW_S, exp: NOW_S + 60 }, { alg: 'none' }), 'unsupported-alg'],
      ['HS256', clientId('dev-a'), signRawJwt({ aud: P, iat: NOW_S, exp: NOW_S + 60 }, { alg: 'HS256', key: es.publicKeyPem }), 'unsupported-alg'],
      ['ES384', clientId('dev-a'), jwt(es, undefined, { header: { alg: 'ES384' } }), 'unsupported-alg'],
      ['claims not an object', clientId('dev-a'), jwt(es, [] as unknown as Record<string, unknown>), 'malformed-claims'],
      ['wrong aud', clientId('dev-a'), jwt(es, { aud: 'someone-else', iat: NOW_S, exp: NOW_S + 60 }), 'wrong-audience'],
      ['iat ahead', clientId('dev-a'), jwt(es, { aud: P, iat: NOW_S + 601, exp: NOW_S + 3600 }), 'issued-in-future'],
      ['expired', clientId('dev-a'), jwt(es, { aud: P, iat: NOW_S - 4000, exp: NOW_S - 600 }), 'expired'],
      ['too long', clientId('dev-a'), jwt(es, { aud: P, iat: NOW_S, exp: NOW_S + 87_001 }), 'lifetime-too-long'],
      ['other key', clientId('dev-a'), jwt(es2), 'bad-signature'],
      ['RS256 for an EC credential', clientId('dev-a'), jwt(rsa), 'bad-signature'],
      ['header says RS256, EC signature', clientId('dev-a'), jwt(es, undefined, { header: { alg: 'RS256' } }), 'bad-signature'],
    ];
    for (const [label, id, token, reason] of cases) {
      const o = await auth.authenticateClientId(id, token, 'mqtt');
      assert.equal(reasonOf(o), reason, label);
      if (!o.ok) {
        assert.ok(o.message.length > 0);
        const known = !['bad-client-id', 'unknown-registry', 'unknown-device'].includes(reason);
        assert.equal(o.device?.numId, known ? device.numId : undefined, label);
      }
    }
  });

  test('a forged signature (one character changed) is bad-signature', async () => {
    const { auth } = await setup([cred(es), cred(rsa)]);
    for (const k of [es, rsa]) {
      const t = jwt(k);
      const dot = t.lastIndexOf('.');
      const sig = Buffer.from(t.slice(dot + 1), 'base64url');
      sig[10] = sig[10]! ^ 0xff;
      assert.equal(reasonOf(await auth.authenticateClientId(clientId('dev-a'), `${t.slice(0, dot)}.${sig.toString('base64url')}`, 'mqtt')), 'bad-signature');
    }
  });

  test('blocked and a disabled protocol are told only to a caller whose JWT verified (nothing reveals them to others)', async () => {
    const { auth } = await setup([cred(es)], { blocked: true });
    assert.equal(reasonOf(await auth.authenticateClientId(clientId('dev-a'), jwt(es), 'mqtt')), 'blocked');
    assert.equal(reasonOf(await auth.authenticateClientId(clientId('dev-a'), undefined, 'mqtt')), 'no-password');
    assert.equal(reasonOf(await auth.authenticateClientId(clientId('dev-a'), jwt(es2), 'mqtt')), 'bad-signature');
    const h = await setup([cred(es)], { registry: { httpEnabledState: 'HTTP_DISABLED' } });
    assert.equal(reasonOf(await h.auth.authenticateClientId(clientId('dev-a'), jwt(es2), 'http')), 'bad-signature');
    assert.equal(reasonOf(await h.auth.authenticateClientId(clientId('dev-a'), 'x.y.z', 'http')), 'malformed-jwt');
  });

  test('a token that verified once is not verified again; once its credential is replaced it is refused', async () => {
    const { store, device } = await setup([cred(es)]);
    const jose = new DeviceTokenVerifier();
    let verifies = 0;
    const counting = { decode: (t: string) => jose.decode(t), verify: (d: Parameters<DeviceTokenVerifier['verify']>[0], c: DeviceCredential) => (verifies++, jose.verify(d, c)) };
    const auth = new DeviceAuthenticator(store, counting, clock);
    const token = jwt(es);
    for (let i = 0; i < 5; i++) assert.equal(reasonOf(await auth.authenticateClientId(clientId('dev-a'), token, 'mqtt')), 'ok');
    assert.equal(verifies, 1);
    await store.updateDevice({ ...(await store.getDeviceByNumId(device.numId))!, credentials: [cred(es2)] });
    assert.equal(reasonOf(await auth.authenticateClientId(clientId('dev-a'), token, 'mqtt')), 'bad-signature');
  });

  test('protocol switches: MQTT_DISABLED refuses MQTT only, HTTP_DISABLED refuses HTTP only', async () => {
    const m = await setup([cred(es)], { registry: { mqttEnabledState: 'MQTT_DISABLED' } });
    assert.equal(reasonOf(await m.auth.authenticateClientId(clientId('dev-a'), jwt(es), 'mqtt')), 'mqtt-disabled');
    assert.equal(reasonOf(await m.auth.authenticateClientId(clientId('dev-a'), jwt(es), 'http')), 'ok');
    const h = await setup([cred(es)], { registry: { httpEnabledState: 'HTTP_DISABLED' } });
    assert.equal(reasonOf(await h.auth.authenticateClientId(clientId('dev-a'), jwt(es), 'http')), 'http-disabled');
    assert.equal(reasonOf(await h.auth.authenticateClientId(clientId('dev-a'), jwt(es), 'mqtt')), 'ok');
    const both = await setup([cred(es)], { registry: { mqttEnabledState: 'MQTT_DISABLED', httpEnabledState: 'HTTP_DISABLED' } });
    const reg = (await both.store.getRegistry({ project: P, location: L, registry: R }))!;
    assert.equal(reasonOf(await both.auth.authenticateDevice(reg, both.device, jwt(es), 'attach')), 'ok', 'attach tokens ignore both switches');
  });
});
