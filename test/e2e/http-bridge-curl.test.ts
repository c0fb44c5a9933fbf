import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDevice, createRegistry, logMessages, PROJECT, type TestDevice } from '../support/fleet.js';
import {
  adminDevice,
  bridgeDeviceUrl,
  curl,
  httpsBridge,
  identityAttributes,
  plainBridge,
  pollUntil,
  setConfig,
  type CurlReply,
} from '../support/http-device.js';
import { claims, signRawJwt } from '../support/mqtt-jwt.js';
import { run } from '../support/processes.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * The HTTP device bridge driven by the curl binary, as a device without an SDK talks to
 * cloudiotdevice.googleapis.com (spec §7): HTTPS trusting the server's CA over HTTP/1.1 and HTTP/2,
 * the plaintext listener, both JSON spellings and both base64 alphabets; what reached the embedded
 * log and the device's bookkeeping are read back through the admin API.
 */

const REG = 'reg-curl';
const GOOGLE_HOST = 'cloudiotdevice.googleapis.com';

describe('HTTP device bridge with curl', () => {
  let server: StartedServer;
  let rs: TestDevice;
  let es: TestDevice;

  before(async () => {
    server = await startServer({
      args: ['--http-bridge-listen', '127.0.0.1:0', '--http-bridge-plain-listen', '127.0.0.1:0', '--tls-hostname', GOOGLE_HOST],
    });
    await createRegistry(server, REG);
    [rs, es] = await Promise.all([createDevice(server, REG, 'curl-rs', { alg: 'RS256' }), createDevice(server, REG, 'curl-es', { alg: 'ES256' })]);
  });
  after(async () => {
    await server?.cleanup();
  });

  const tls = (): string[] => ['--cacert', server.info.caFile];
  const auth = (jwt: string): string[] => ['-H', `authorization: Bearer ${jwt}`];
  /** As Google's samples sent it: JSON with content-type and cache-control headers. */
  const post = (url: string, jwt: string, body: unknown, extra: string[] = []): Promise<CurlReply> =>
    curl(['-X', 'POST', url, ...auth(jwt), '-H', 'content-type: application/json', '-H', 'cache-control: no-cache', '--data-binary', JSON.stringify(body), ...tls(), ...extra]);
  const get = (url: string, jwt: string, extra: string[] = []): Promise<CurlReply> => curl([url, ...auth(jwt), '-H', 'cache-control: no-cache', ...tls(), ...extra]);

  it('getConfig: the current config at local_version=0, only the version when current, OUT_OF_RANGE beyond', async () => {
    const data = Buffer.from([0xfb, 0xff, 0x00, 0x3e, 0x3f, 0x7b, 0x22]);
    const set = await setConfig(server, REG, es.id, data);
    assert.equal(set.version, '2');
    const jwt = await es.jwt();
    const url = `${bridgeDeviceUrl(httpsBridge(server), REG, es.id)}/config`;

    for (const proto of ['--http1.1', '--http2']) {
      const r = await get(`${url}?local_version=0`, jwt, [proto]);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.httpVersion, proto === '--http2' ? '2' : '1.1');
      assert.deepEqual(Object.keys(r.json).sort(), ['binaryData', 'cloudUpdateTime', 'version']);
      assert.equal(r.json.version, '2');
      assert.equal(r.json.cloudUpdateTime, set.cloudUpdateTime);
      assert.deepEqual(Buffer.from(String(r.json.binaryData), 'base64'), data);
    }
    const current = await get(`${url}?local_version=2`, jwt);
    assert.equal(current.status, 200, current.body);
    assert.deepEqual(current.json, { version: '2' });
    const camel = await get(`${url}?localVersion=1`, jwt);
    assert.equal(camel.status, 200, camel.body);
    assert.equal(camel.json.version, '2');
    assert.deepEqual(Buffer.from(String(camel.json.binaryData), 'base64'), data);
    const ahead = await get(`${url}?local_version=3`, jwt);
    assert.equal(ahead.status, 400, ahead.body);
    assert.equal((ahead.json.error as { status: string }).status, 'OUT_OF_RANGE');
  });

  it('publishEvent: each spelling, alphabet, listener, path form and protocol reaches the routed topic with the §8.1 attributes', async () => {
    const rsJwt = await rs.jwt();
    const esJwt = await es.jwt();
    // Bytes whose base64 differs between the two alphabets (+ / versus - _) and needs padding.
    const bytes = (tag: number): Buffer => Buffer.from([tag, 0xfb, 0xef, 0xff, 0x3e, 0x3f, 0x00]);
    const urlSafePadded = (b: Buffer): string => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    const stdUnpadded = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');
    assert.match(urlSafePadded(bytes(1)), /[-_].*=$/);
    assert.match(stdUnpadded(bytes(1)), /[+/]/);

    const https = httpsBridge(server);
    const cases: { tag: number; dev: TestDevice; jwt: string; base: string; body: (b: Buffer) => unknown; subFolder?: string; extra?: string[]; path?: string; version?: 'v1beta1' }[] = [
      // What the Python sample sent: snake_case, URL-safe with padding.
      { tag: 1, dev: rs, jwt: rsJwt, base: https, body: (b) => ({ binary_data: urlSafePadded(b) }), extra: ['--http1.1'] },
      { tag: 2, dev: rs, jwt: rsJwt, base: https, body: (b) => ({ binary_data: urlSafePadded(b), sub_folder: 'alerts' }), subFolder: 'alerts', extra: ['--http2'] },
      { tag: 3, dev: es, jwt: esJwt, base: https, body: (b) => ({ binaryData: stdUnpadded(b) }), extra: ['--http2'] },
      { tag: 4, dev: es, jwt: esJwt, base: https, body: (b) => ({ binaryData: stdUnpadded(b), subFolder: 'alerts' }), subFolder: 'alerts', extra: ['--http1.1'] },
      // A subfolder without its own config goes to the default topic and keeps its attribute.
      { tag: 5, dev: es, jwt: esJwt, base: https, body: (b) => ({ binaryData: b.toString('base64'), subFolder: 'misc/deep' }), subFolder: 'misc/deep' },
      { tag: 6, dev: rs, jwt: rsJwt, base: plainBridge(server), body: (b) => ({ binary_data: urlSafePadded(b) }) },
      { tag: 7, dev: es, jwt: esJwt, base: https, body: (b) => ({ binaryData: stdUnpadded(b) }), path: 'numId' },
      { tag: 8, dev: rs, jwt: rsJwt, base: https, body: (b) => ({ binary_data: urlSafePadded(b), sub_folder: 'alerts' }), subFolder: 'alerts', version: 'v1beta1' },
    ];
    for (const c of cases) {
      const url = `${bridgeDeviceUrl(c.base, REG, c.path === 'numId' ? c.dev.numId : c.dev.id, c.version ? { version: c.version } : {})}:publishEvent`;
      const r = await post(url, c.jwt, c.body(bytes(c.tag)), c.extra);
      assert.equal(r.status, 200, `case ${c.tag}: ${r.body}`);
      assert.deepEqual(r.json, {}, `case ${c.tag}`);
      if (c.extra?.[0] === '--http2') assert.equal(r.httpVersion, '2');
      if (c.extra?.[0] === '--http1.1' || c.base.startsWith('http:')) assert.equal(r.httpVersion, '1.1');
    }

    // 200 is sent only after the commit: the log already holds every message.
    const [telemetry, alerts] = await Promise.all([logMessages(server, `telemetry-${REG}`), logMessages(server, `alerts-${REG}`)]);
    const byTag = new Map<number, { topic: string; attributes: Record<string, string> }>();
    for (const [topic, msgs] of [['telemetry', telemetry], ['alerts', alerts]] as const) {
      for (const m of msgs) {
        const data = Buffer.from(m.data, 'base64');
        const tag = data[0]!;
        assert.deepEqual(data, bytes(tag), `exact bytes of message ${tag}`);
        assert.ok(!byTag.has(tag), `message ${tag} once`);
        byTag.set(tag, { topic, attributes: m.attributes });
      }
    }
    assert.deepEqual([...byTag.keys()].sort(), cases.map((c) => c.tag));
    for (const c of cases) {
      const got = byTag.get(c.tag)!;
      assert.equal(got.topic, c.subFolder === 'alerts' ? 'alerts' : 'telemetry', `topic of ${c.tag}`);
      assert.deepEqual(got.attributes, { ...identityAttributes(REG, c.dev), ...(c.subFolder === undefined ? {} : { subFolder: c.subFolder }) }, `attributes of ${c.tag}`);
    }
  });

  it('setState: stored in the state history, notified on the state topic', async () => {
    const state = Buffer.from('{"temp": 21.5, "fan": "on"}');
    const r = await post(`${bridgeDeviceUrl(httpsBridge(server), REG, rs.id)}:setState`, await rs.jwt(), {
      state: { binary_data: state.toString('base64url') },
    });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json, {});
    const states = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/us-central1/registries/${REG}/devices/${rs.id}/states`);
    assert.equal(states.status, 200);
    const history = states.json.deviceStates as { binaryData: string; updateTime: string }[];
    assert.equal(history.length, 1);
    assert.deepEqual(Buffer.from(history[0]!.binaryData, 'base64'), state);
    // The notification is best effort and appended after the reply (spec §8.4): awaited, bounded.
    const notified = await pollUntil(() => logMessages(server, `state-${REG}`), (m) => m.length > 0, 'state notification', 5_000);
    assert.equal(notified.length, 1);
    assert.deepEqual(Buffer.from(notified[0]!.data, 'base64'), state);
    assert.deepEqual(notified[0]!.attributes, identityAttributes(REG, rs));
  });

  it('the device bookkeeping: lastEventTime, lastStateTime and lastConfigSendTime, never a config ack', async () => {
    const started = Date.now() - 60_000;
    const es1 = await pollUntil(
      () => adminDevice(server, REG, es.id),
      (d) => d.lastEventTime !== undefined && d.lastConfigSendTime !== undefined,
      'curl-es activity',
    );
    assert.ok(Date.parse(String(es1.lastEventTime)) > started);
    assert.ok(Date.parse(String(es1.lastConfigSendTime)) > started);
    assert.equal(es1.lastConfigAckTime, undefined);
    assert.equal((es1.config as { deviceAckTime?: string }).deviceAckTime, undefined);
    const rs1 = await pollUntil(() => adminDevice(server, REG, rs.id), (d) => d.lastEventTime !== undefined && d.lastStateTime !== undefined, 'curl-rs activity');
    assert.ok(Date.parse(String(rs1.lastStateTime)) > started);
    assert.equal((rs1.state as { binaryData: string }).binaryData, Buffer.from('{"temp": 21.5, "fan": "on"}').toString('base64'));
  });

  it('refuses: no token 401, registry with HTTP disabled 403, blocked device 403, another device’s JWT 403', async () => {
    const body = { binaryData: 'aGk=' };
    const https = httpsBridge(server);
    const noAuth = await curl(['-X', 'POST', `${bridgeDeviceUrl(https, REG, es.id)}:publishEvent`, '--data-binary', JSON.stringify(body), ...tls()]);
    assert.equal(noAuth.status, 401, noAuth.body);
    assert.equal((noAuth.json.error as { status: string }).status, 'UNAUTHENTICATED');

    await createRegistry(server, 'reg-nohttp', { httpConfig: { httpEnabledState: 'HTTP_DISABLED' } });
    const off = await createDevice(server, 'reg-nohttp', 'off-1');
    const disabled = await post(`${bridgeDeviceUrl(https, 'reg-nohttp', off.id)}:publishEvent`, await off.jwt(), body);
    assert.equal(disabled.status, 403, disabled.body);
    assert.equal((disabled.json.error as { status: string }).status, 'PERMISSION_DENIED');
    const disabledConfig = await get(`${bridgeDeviceUrl(https, 'reg-nohttp', off.id)}/config?local_version=0`, await off.jwt());
    assert.equal(disabledConfig.status, 403, disabledConfig.body);

    const blocked = await createDevice(server, REG, 'blocked-1', { body: { blocked: true } });
    const jwt = await blocked.jwt();
    for (const r of [
      await post(`${bridgeDeviceUrl(https, REG, blocked.id)}:publishEvent`, jwt, body),
      await post(`${bridgeDeviceUrl(https, REG, blocked.id)}:setState`, jwt, { state: body }),
      await get(`${bridgeDeviceUrl(https, REG, blocked.id)}/config`, jwt),
    ]) {
      assert.equal(r.status, 403, r.body);
      assert.equal((r.json.error as { status: string }).status, 'PERMISSION_DENIED');
      assert.equal(r.headers['x-bridgehead-error-reason'], 'DEVICE_AUTH_FAILED');
    }
    const foreign = await post(`${bridgeDeviceUrl(https, REG, rs.id)}:publishEvent`, await es.jwt(), body);
    assert.equal(foreign.status, 403, foreign.body);
    // None of the refused requests reached the log.
    assert.deepEqual(await logMessages(server, 'telemetry-reg-nohttp'), []);
    assert.ok((await logMessages(server, `telemetry-${REG}`)).every((m) => m.attributes.deviceId !== blocked.id));
  });

  // docs/errors.md DEVICE_AUTH_FAILED: "unknown devices answer the same". A caller holding no
  // device key must not learn which devices exist, which are blocked or which registries have
  // HTTP off: every refusal it can provoke reads like the one for a device that does not exist.
  it('a caller without the device key cannot tell an existing, blocked or HTTP-disabled device from an unknown one', async () => {
    await createDevice(server, REG, 'probe-blocked', { body: { blocked: true } });
    await createRegistry(server, 'reg-probe-off', { httpConfig: { httpEnabledState: 'HTTP_DISABLED' } });
    await createDevice(server, 'reg-probe-off', 'probe-off');
    const strangerKeys = (await createDevice(server, REG, 'stranger')).keys;
    const now = Math.floor(Date.now() / 1000);
    const https = httpsBridge(server);
    const targets: [string, string][] = [
      [REG, 'no-such-device'],
      [REG, es.id],
      [REG, 'probe-blocked'],
      ['reg-probe-off', 'probe-off'],
    ];
    const tokens = [
      'not-a-jwt',
      // Well-formed, signed by a key none of these devices has.
      signRawJwt(claims(PROJECT, now), { alg: 'ES256', key: strangerKeys.privateKeyPem }),
      // Expired, by the same foreign key.
      signRawJwt(claims(PROJECT, now - 10_000, 3600), { alg: 'ES256', key: strangerKeys.privateKeyPem }),
    ];
    for (const token of tokens) {
      const answers = new Map<string, string>();
      for (const [reg, dev] of targets) {
        const r = await post(`${bridgeDeviceUrl(https, reg, dev)}:publishEvent`, token, { binaryData: '' });
        assert.equal(r.status, 403, r.body);
        answers.set(`${reg}/${dev}`, r.body);
      }
      const unknown = answers.get(`${REG}/no-such-device`);
      for (const [target, body] of answers) assert.equal(body, unknown, `${target} answers like an unknown device (token ${token.slice(0, 12)}…)`);
    }
  });

  it('IDs with + ~ . % in the path, as sent and percent-encoded, name the device they spell', async () => {
    const reg = 'reg.a+b~c';
    await createRegistry(server, reg);
    const plus = await createDevice(server, reg, 'dev+1~x');
    const pct = await createDevice(server, reg, 'dev%41');
    const cases: [TestDevice, string, number][] = [
      [plus, 'dev+1~x', 200],
      [plus, 'dev%2B1~x', 200],
      [pct, 'dev%2541', 200],
      // Decoded, "dev%41" is "devA": another (unknown) device.
      [pct, 'dev%41', 403],
    ];
    for (const [dev, segment, status] of cases) {
      const r = await post(`${bridgeDeviceUrl(httpsBridge(server), encodeURIComponent(reg), segment)}:publishEvent`, await dev.jwt(), { binaryData: Buffer.from(segment).toString('base64') }, ['--path-as-is']);
      assert.equal(r.status, status, `${segment}: ${r.body}`);
    }
    const logged = await logMessages(server, `telemetry-${reg}`);
    assert.deepEqual(
      logged.map((m) => [Buffer.from(m.data, 'base64').toString(), m.attributes.deviceId, m.attributes.deviceRegistryId]),
      [
        ['dev+1~x', 'dev+1~x', reg],
        ['dev%2B1~x', 'dev+1~x', reg],
        ['dev%2541', 'dev%41', reg],
      ],
    );
  });

  it('one connection carries many requests: HTTP/1.1 keep-alive and HTTP/2 streams in parallel', async () => {
    const jwt = await es.jwt();
    const url = `${bridgeDeviceUrl(httpsBridge(server), REG, es.id)}/config?local_version=2`;
    for (const mode of [['--http1.1'], ['--http2', '--parallel']]) {
      // One line per transfer: connections it opened, protocol, status.
      const r = await run('curl', ['-sS', ...tls(), ...auth(jwt), '-w', '%{num_connects} %{http_version} %{http_code}\n', ...[1, 2, 3, 4].flatMap(() => ['-o', '/dev/null', url]), ...mode]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
      assert.equal(lines.length, 4, r.stdout);
      for (const [, version, status] of lines) {
        assert.equal(status, '200');
        assert.equal(version, mode[0] === '--http2' ? '2' : '1.1');
      }
      assert.equal(lines.reduce((n, [connects]) => n + Number(connects), 0), 1, `${mode.join(' ')}: one connection for all: ${r.stdout}`);
    }
  });

  it(`a client resolving ${GOOGLE_HOST} to the server verifies its certificate against the CA (--tls-hostname)`, async () => {
    const port = new URL(httpsBridge(server)).port;
    const url = `${bridgeDeviceUrl(`https://${GOOGLE_HOST}:${port}`, REG, es.id)}/config?local_version=0`;
    const resolve = ['--resolve', `${GOOGLE_HOST}:${port}:127.0.0.1`];
    for (const proto of ['--http1.1', '--http2']) {
      const r = await get(url, await es.jwt(), [...resolve, proto]);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.httpVersion, proto === '--http2' ? '2' : '1.1');
      assert.equal(r.json.version, '2');
    }
    // The check is real: a name the certificate does not carry fails verification.
    await assert.rejects(
      curl([`https://elsewhere.example.test:${port}/v1/x`, '--resolve', `elsewhere.example.test:${port}:127.0.0.1`, ...tls()]),
      /exited 60|SSL/,
    );
  });
});
