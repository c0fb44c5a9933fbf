import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDeviceFloor, type StormTarget } from '../../bench/loadgen/bare-tls.js';
import { LoadConnection } from '../../bench/loadgen/connection.js';
import { BenchFleet } from '../../bench/loadgen/devices.js';

// The connect bench's floor only means something if it does the work it claims: a device is let
// in only with a JWT its registered key signed, for a device it has a row of.
describe('connect-storm floor server (TLS, CONNECT, JWT, device row)', () => {
  let fleet: BenchFleet;
  let floor: StormTarget;
  before(async () => {
    fleet = await BenchFleet.create();
    floor = await startDeviceFloor(fleet, 3);
  });
  after(async () => floor.stop());

  const connect = async (login: ConstructorParameters<typeof LoadConnection>[0]): Promise<string> => {
    const conn = new LoadConnection(login);
    try {
      await conn.connect(floor.tls, 60, 5_000);
      return 'accepted';
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    } finally {
      await conn.close(500).catch(() => undefined);
    }
  };

  test('a registered device with a JWT of its ES256 or RS256 key gets CONNACK 0', async () => {
    for (const alg of ['ES256', 'RS256'] as const) {
      const [login] = await fleet.logins(alg, 1, 2);
      assert.equal(await connect(login!), 'accepted', alg);
    }
  });

  test('another key, another project, an unknown device or no JWT is refused', async () => {
    const stranger = await BenchFleet.create();
    const forged = await stranger.loginFor('dev-00001', 'ES256');
    assert.notEqual(await connect(forged), 'accepted', 'JWT signed by a key the device does not have');
    const [good] = await fleet.logins('ES256', 1, 1);
    assert.notEqual(await connect({ ...good!, clientId: good!.clientId.replace('projects/bench-project/', 'projects/other/') }), 'accepted', 'aud of another project');
    const unknown = await fleet.loginFor('dev-00009', 'ES256');
    assert.notEqual(await connect(unknown), 'accepted', 'device without a row');
    assert.notEqual(await connect({ ...good!, password: '' }), 'accepted', 'no JWT');
  });
});
