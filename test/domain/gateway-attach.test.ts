import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  attachNeeds,
  decideAttach,
  gatewayErrorJson,
  GATEWAY_ERROR_TYPES,
  parseAttachPayload,
  type AttachFacts,
  type TokenCheck,
} from '../../src/domain/gateway-attach.js';
import { GATEWAY_AUTH_METHODS, type GatewayAuthMethod } from '../../src/domain/model.js';

/**
 * The gateway attach decision (spec §1.7, §6.2, §6.4; docs/compat.md C-GW-ATTACH), the attach
 * payload grammar and the errors-topic JSON (spec §6.5).
 */

const METHODS: readonly GatewayAuthMethod[] = ['GATEWAY_AUTH_METHOD_UNSPECIFIED', 'ASSOCIATION_ONLY', 'DEVICE_AUTH_TOKEN_ONLY', 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN'];
const TOKENS: readonly TokenCheck[] = ['valid', 'invalid', 'absent', 'not-checked'];
const BOOLS = [false, true] as const;
const MAX = 3;

/** Which rules a method applies (spec §1.7 table), written out independently of attachNeeds. */
const RULES: Record<GatewayAuthMethod, { usable: boolean; binding: boolean; token: boolean }> = {
  GATEWAY_AUTH_METHOD_UNSPECIFIED: { usable: false, binding: false, token: false },
  ASSOCIATION_ONLY: { usable: true, binding: true, token: false },
  DEVICE_AUTH_TOKEN_ONLY: { usable: true, binding: false, token: true },
  ASSOCIATION_AND_DEVICE_AUTH_TOKEN: { usable: true, binding: true, token: true },
};

type Failure = 'missing' | 'unspecified' | 'gateway' | 'blocked' | 'unbound' | 'token-absent' | 'token-invalid' | 'limit';

/** Every rule the facts break, in no particular order. The attach succeeds when there is none. */
function broken(f: AttachFacts): Failure[] {
  if (!f.deviceExists) return ['missing'];
  // Attaching a device already attached to this gateway is acknowledged (spec §6.4).
  if (f.alreadyAttached) return [];
  const rules = RULES[f.method];
  const out: Failure[] = [];
  if (!rules.usable) out.push('unspecified');
  // Other gateways never attach (docs/compat.md C-GW-ATTACH).
  if (f.deviceIsGateway) out.push('gateway');
  if (f.deviceBlocked) out.push('blocked');
  if (rules.binding && !f.bound) out.push('unbound');
  if (rules.token && f.token === 'absent') out.push('token-absent');
  if (rules.token && (f.token === 'invalid' || f.token === 'not-checked')) out.push('token-invalid');
  // Max 1,000 (here MAX) devices attached to one gateway at a time (spec §6.2).
  if (f.attachedCount >= f.maxAttached) out.push('limit');
  return out;
}

const REASONS: Record<Failure, RegExp> = {
  missing: /^the device does not exist in the gateway's registry$/,
  unspecified: /^the gateway has no gatewayAuthMethod, so no device may attach through it$/,
  gateway: /^a gateway cannot be attached to another gateway$/,
  blocked: /^the device is blocked$/,
  unbound: /^the device is not bound to the gateway$/,
  'token-absent': /^no device JWT was given in the attach message$/,
  'token-invalid': /^the device JWT is not valid$/,
  limit: new RegExp(`^the gateway already has ${MAX} attached devices$`),
};

function* allFacts(): Generator<AttachFacts> {
  for (const method of METHODS)
    for (const bound of BOOLS)
      for (const token of TOKENS)
        for (const deviceBlocked of BOOLS)
          for (const deviceExists of BOOLS)
            for (const deviceIsGateway of BOOLS)
              for (const alreadyAttached of BOOLS)
                for (const attachedCount of [0, MAX - 1, MAX, MAX + 1])
                  yield { method, bound, token, deviceBlocked, deviceExists, deviceIsGateway, alreadyAttached, attachedCount, maxAttached: MAX };
}

describe('decideAttach (spec §6.2)', () => {
  test('the method table covers every GatewayAuthMethod', () => {
    assert.deepEqual([...GATEWAY_AUTH_METHODS].sort(), [...METHODS].sort());
  });

  test('every combination of method × bound × token × blocked × exists × gateway × attached × limit', () => {
    let count = 0;
    let ok = 0;
    for (const f of allFacts()) {
      count++;
      const expected = broken(f);
      const got = decideAttach(f);
      const label = JSON.stringify(f);
      if (expected.length === 0) {
        ok++;
        assert.deepEqual(got, { ok: true }, label);
      } else {
        assert.equal(got.ok, false, label);
        assert.ok(!got.ok);
        // Whichever broken rule is reported first, it must be one that is broken.
        assert.ok(
          expected.some((e) => REASONS[e].test(got.reason)),
          `${label}: reason ${JSON.stringify(got.reason)} is none of ${expected.join(', ')}`,
        );
      }
    }
    assert.equal(count, 4 * 2 * 4 * 2 * 2 * 2 * 2 * 4);
    // Sanity: the table is not trivially all-fail.
    assert.ok(ok > 100, `only ${ok} successes`);
  });

  const base: AttachFacts = {
    method: 'ASSOCIATION_ONLY',
    deviceExists: true,
    deviceBlocked: false,
    deviceIsGateway: false,
    bound: true,
    token: 'not-checked',
    alreadyAttached: false,
    attachedCount: 0,
    maxAttached: 1000,
  };

  test('ASSOCIATION_ONLY: bound suffices and any device JWT is ignored', () => {
    for (const token of TOKENS) assert.deepEqual(decideAttach({ ...base, token }), { ok: true });
    assert.deepEqual(decideAttach({ ...base, bound: false, token: 'valid' }), { ok: false, reason: 'the device is not bound to the gateway' });
  });

  test('DEVICE_AUTH_TOKEN_ONLY: a valid JWT suffices, binding is not checked (devices may roam)', () => {
    const f = { ...base, method: 'DEVICE_AUTH_TOKEN_ONLY' } as const;
    assert.deepEqual(decideAttach({ ...f, bound: false, token: 'valid' }), { ok: true });
    assert.deepEqual(decideAttach({ ...f, bound: true, token: 'valid' }), { ok: true });
    assert.deepEqual(decideAttach({ ...f, token: 'absent' }), { ok: false, reason: 'no device JWT was given in the attach message' });
    assert.deepEqual(decideAttach({ ...f, token: 'invalid' }), { ok: false, reason: 'the device JWT is not valid' });
  });

  test('ASSOCIATION_AND_DEVICE_AUTH_TOKEN needs both', () => {
    const f = { ...base, method: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN' } as const;
    assert.deepEqual(decideAttach({ ...f, bound: true, token: 'valid' }), { ok: true });
    assert.equal(decideAttach({ ...f, bound: false, token: 'valid' }).ok, false);
    assert.equal(decideAttach({ ...f, bound: true, token: 'absent' }).ok, false);
    assert.equal(decideAttach({ ...f, bound: true, token: 'invalid' }).ok, false);
  });

  test('GATEWAY_AUTH_METHOD_UNSPECIFIED attaches nothing, whatever the facts', () => {
    for (const token of TOKENS) {
      for (const bound of BOOLS) {
        const d = decideAttach({ ...base, method: 'GATEWAY_AUTH_METHOD_UNSPECIFIED', bound, token });
        assert.deepEqual(d, { ok: false, reason: 'the gateway has no gatewayAuthMethod, so no device may attach through it' });
      }
    }
  });

  test('unknown, blocked and gateway devices never attach', () => {
    assert.deepEqual(decideAttach({ ...base, deviceExists: false }), { ok: false, reason: "the device does not exist in the gateway's registry" });
    assert.deepEqual(decideAttach({ ...base, deviceBlocked: true }), { ok: false, reason: 'the device is blocked' });
    assert.deepEqual(decideAttach({ ...base, deviceIsGateway: true }), { ok: false, reason: 'a gateway cannot be attached to another gateway' });
  });

  test('the limit counts devices already attached: below it attaches, at it fails', () => {
    assert.deepEqual(decideAttach({ ...base, attachedCount: 999 }), { ok: true });
    assert.deepEqual(decideAttach({ ...base, attachedCount: 1000 }), { ok: false, reason: 'the gateway already has 1000 attached devices' });
    // Re-attaching an attached device at the limit is still acknowledged (spec §6.4).
    assert.deepEqual(decideAttach({ ...base, attachedCount: 1000, alreadyAttached: true }), { ok: true });
    assert.deepEqual(decideAttach({ ...base, attachedCount: 0, maxAttached: 0 }), { ok: false, reason: 'the gateway already has 0 attached devices' });
  });
});

describe('attachNeeds', () => {
  test('only reads a binding or verifies a JWT when the method uses it', () => {
    assert.deepEqual(attachNeeds('GATEWAY_AUTH_METHOD_UNSPECIFIED'), { binding: false, token: false });
    assert.deepEqual(attachNeeds('ASSOCIATION_ONLY'), { binding: true, token: false });
    assert.deepEqual(attachNeeds('DEVICE_AUTH_TOKEN_ONLY'), { binding: false, token: true });
    assert.deepEqual(attachNeeds('ASSOCIATION_AND_DEVICE_AUTH_TOKEN'), { binding: true, token: true });
  });

  test('agrees with the decision: a fact the method does not need never changes the outcome', () => {
    for (const f of allFacts()) {
      const needs = attachNeeds(f.method);
      if (!needs.binding) assert.deepEqual(decideAttach({ ...f, bound: !f.bound }), decideAttach(f));
      if (!needs.token) {
        for (const token of TOKENS) assert.deepEqual(decideAttach({ ...f, token }), decideAttach(f));
      }
    }
  });
});

// A real-shaped ES256 JWT (three base64url segments); parseAttachPayload never verifies it.
const JWT =
  'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJteS1wcm9qZWN0IiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9.' +
  'MEUCIQDx3k-_aZ9vQ2b0mW1zX7yHqL4tJ8fK0cR5sN2pD6gE9AIgZ3lV8nB1cT4xY7wQ0rS5uK2mJ9hF6dA3eG8bC1iL4o';

describe('parseAttachPayload (spec §6.2, docs/compat.md C-GW-ATTACH)', () => {
  const accepted: [string, string, string][] = [
    ['empty payload', '', ''],
    ['whitespace only', ' \t\r\n ', ''],
    ['{}', '{}', ''],
    ['{} with spaces', ' { } ', ''],
    ['empty authorization', '{"authorization":""}', ''],
    ['python sample spacing', '{"authorization" : ""}', ''],
    ['blank authorization', '{"authorization":"   "}', ''],
    ['null authorization', '{"authorization":null}', ''],
    ['a JWT', `{"authorization":"${JWT}"}`, JWT],
    ['a JWT with spaces around it', `{ "authorization" : " ${JWT} " }`, JWT],
    ['a JWT and other keys', `{"authorization":"${JWT}","extra":1}`, JWT],
    ["the Node sample's single-quoted key and bare token", `{ 'authorization' : ${JWT} }`, JWT],
    ['single-quoted key and token', `{'authorization':'${JWT}'}`, JWT],
    ['single-quoted empty token', `{ 'authorization' : '' }`, ''],
    ['bare key and bare token', `{authorization:${JWT}}`, JWT],
    ['padded standard-alphabet token, single-quoted', `{'authorization':'ab+/cd==.ef.gh='}`, 'ab+/cd==.ef.gh='],
  ];
  for (const [label, payload, token] of accepted) {
    test(`accepts ${label}`, () => {
      assert.deepEqual(parseAttachPayload(payload), { token });
    });
  }

  const refused: [string, string][] = [
    ['a JSON array', '[1]'],
    ['an empty JSON array', '[]'],
    ['a numeric authorization', '{"authorization":5}'],
    ['an object authorization', '{"authorization":{"jwt":"x"}}'],
    ['a boolean authorization', '{"authorization":true}'],
    ['JSON null', 'null'],
    ['a JSON string', `"${JWT}"`],
    ['a JSON number', '42'],
    ['a bare JWT', JWT],
    ['garbage', 'garbage'],
    ['binary junk', '\u0000\u0001\u00ff'],
    ['unterminated JSON', '{"authorization":"abc'],
    ['another key in the single-quoted form', `{ 'token' : ${JWT} }`],
    ['a token with spaces in the single-quoted form', `{ 'authorization' : 'a b' }`],
  ];
  for (const [label, payload] of refused) {
    test(`refuses ${label}`, () => {
      assert.equal(parseAttachPayload(payload), undefined);
    });
  }
});

describe('gatewayErrorJson (spec §6.5)', () => {
  test('compact, keys in the order error_type, device_id, description, mqtt_message_info{message_type, topic, packet_id}', () => {
    assert.equal(
      gatewayErrorJson({
        errorType: 'GATEWAY_DEVICE_NOT_FOUND',
        deviceId: 'sensor-7',
        description: 'Device "sensor-7" is not attached to gateway "gw-1".',
        packet: { messageType: 'PUBLISH', topic: '/devices/sensor-7/state', packetId: 10 },
      }),
      '{"error_type":"GATEWAY_DEVICE_NOT_FOUND","device_id":"sensor-7","description":"Device \\"sensor-7\\" is not attached to gateway \\"gw-1\\".",' +
        '"mqtt_message_info":{"message_type":"PUBLISH","topic":"/devices/sensor-7/state","packet_id":10}}',
    );
  });

  test('without a packet there is no mqtt_message_info (asynchronous detach errors)', () => {
    assert.equal(
      gatewayErrorJson({ errorType: 'GATEWAY_DETACHMENT_DEVICE_ERROR', deviceId: 'sensor-7', description: 'detached' }),
      '{"error_type":"GATEWAY_DETACHMENT_DEVICE_ERROR","device_id":"sensor-7","description":"detached"}',
    );
  });

  test('packet_id is a JSON number, also 0; an empty topic stays a string', () => {
    const json = gatewayErrorJson({
      errorType: 'GATEWAY_UNEXPECTED_PACKET_ID',
      deviceId: 'gw-1',
      description: 'x',
      packet: { messageType: 'PUBACK', topic: '', packetId: 0 },
    });
    assert.equal(json, '{"error_type":"GATEWAY_UNEXPECTED_PACKET_ID","device_id":"gw-1","description":"x","mqtt_message_info":{"message_type":"PUBACK","topic":"","packet_id":0}}');
    assert.equal(json.includes(' '), false);
    assert.equal(json.includes('\n'), false);
  });

  test('control characters and non-ASCII stay on one line and round-trip', () => {
    const description = 'line1\nline2 "quoted" ü';
    const json = gatewayErrorJson({ errorType: 'UNKNOWN', deviceId: 'd', description });
    assert.equal(json.includes('\n'), false);
    assert.deepEqual(JSON.parse(json), { error_type: 'UNKNOWN', device_id: 'd', description });
  });

  test('the error types are exactly those of spec §6.6', () => {
    assert.deepEqual(
      [...GATEWAY_ERROR_TYPES],
      [
        'GATEWAY_ATTACHMENT_ERROR',
        'GATEWAY_DEVICE_NOT_FOUND',
        'GATEWAY_INVALID_MQTT_TOPIC',
        'GATEWAY_UNEXPECTED_PACKET_ID',
        'GATEWAY_UNEXPECTED_MESSAGE_TYPE',
        'GATEWAY_DETACHMENT_DEVICE_ERROR',
        'UNKNOWN',
      ],
    );
  });
});
