import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decideBind, type BindParty } from '../../src/domain/bindings.js';
import { ApiError } from '../../src/domain/errors.js';

const REG = { project: 'p', location: 'us-central1', registry: 'r' };
const party = (id: string, gatewayType: BindParty['gatewayType'], registry = 'r'): BindParty => ({ id, gatewayType, registryKey: { ...REG, registry } });
const FREE = { alreadyBound: false, devicesOfGateway: 0, gatewaysOfDevice: 0 };
const LIMITS = { maxDevicesPerGateway: 10_000, maxGatewaysPerDevice: 10 };

describe('decideBind', () => {
  test('a gateway and a plain device of one registry: bound, or already bound', () => {
    assert.equal(decideBind(party('gw', 'GATEWAY'), party('dev', 'NON_GATEWAY'), FREE, LIMITS), 'insert');
    assert.equal(decideBind(party('gw', 'GATEWAY'), party('dev', 'NON_GATEWAY'), { ...FREE, alreadyBound: true }, LIMITS), 'already-bound');
  });

  test('each refusal quotes the IDs cut to 64 characters (docs/compat.md C-ERROR-ECHO)', () => {
    const long = `d${'x'.repeat(254)}`;
    const cut = `${long.slice(0, 64)}…`;
    const refusals: [BindParty, BindParty, typeof FREE][] = [
      [party(long, 'NON_GATEWAY'), party('dev', 'NON_GATEWAY'), FREE],
      [party('gw', 'GATEWAY'), party(long, 'GATEWAY'), FREE],
      [party(long, 'GATEWAY'), party(long, 'NON_GATEWAY', 'other'), FREE],
      [party(long, 'GATEWAY'), party('dev', 'NON_GATEWAY'), { ...FREE, devicesOfGateway: LIMITS.maxDevicesPerGateway }],
    ];
    for (const [gw, dev, counts] of refusals) {
      assert.throws(
        () => decideBind(gw, dev, counts, LIMITS),
        (e: unknown) => e instanceof ApiError && e.message.includes(`"${cut}"`) && !e.message.includes(long),
      );
    }
  });
});
