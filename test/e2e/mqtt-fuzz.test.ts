import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDevice, createRegistry, mqttUrl, type TestDevice } from '../support/fleet.js';
import { adminSnapshot, assertServerHealthy } from '../support/mqtt-health.js';
import mqttPacket from 'mqtt-packet';
import { attachPacket, bodyLength, connectPacket, encode, PINGREQ, shrink, splitAt } from '../support/mqtt-fuzz-inputs.js';
import { FuzzConnection } from '../support/mqtt-fuzz-lane.js';
import { createFuzzFleet, runFuzz } from '../support/mqtt-fuzz.js';
import type { LaneIdentities } from '../support/mqtt-fuzz-lane.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * Fuzzing the MQTT path of a real server over plain TCP (docs/compat.md C-MQTT-FAULTS): a valid
 * gateway session split at every byte, then seeded random inputs (valid and mutated packets,
 * pipelined behind CONNECT and attaches, split at random offsets). The process must survive,
 * every batch must be answered or closed (never left hanging), a healthy device must still
 * publish with PUBACK, and the registry must be unchanged. BRIDGEHEAD_FUZZ_SEED replays a seed;
 * `npm run bench -- fuzz` runs a million inputs.
 */

const REG = 'reg-fuzz';
const LANES = 4;
const SEED = Number(process.env.BRIDGEHEAD_FUZZ_SEED ?? 20_240_515);
const SYNC_TIMEOUT_MS = 5_000;

describe(`MQTT fuzz (seed ${SEED})`, () => {
  let server: StartedServer;
  let good: TestDevice;
  let lanes: LaneIdentities[];
  let baseline: unknown;

  const assertHealthy = (): Promise<void> => assertServerHealthy(server, REG, good, baseline);

  before(async () => {
    // No rate limit: the fuzz sends far more than 100 packets a second per connection.
    server = await startServer({ args: ['--mqtt-max-msgs-per-sec', '0'] });
    await createRegistry(server, REG);
    good = await createDevice(server, REG, 'good-dev');
    // ES256: the shortest CONNECT, so the fewest connections for splitting it at every byte.
    lanes = await createFuzzFleet(server, REG, LANES, 'ES256');
    baseline = await adminSnapshot(server, REG);
  });
  after(async () => {
    await server.cleanup();
  });

  /** The start of a gateway's session: CONNECT and two attaches. */
  const opening = (ids: LaneIdentities): Buffer => {
    const [a, b] = ids.gateway.attachable as [string, string];
    return Buffer.concat([connectPacket(ids.gateway), attachPacket(a, 1), attachPacket(b, 2)]);
  };

  /** The rest of it: subscriptions, telemetry, state, detach; valid again and again on one connection. */
  const rest = (ids: LaneIdentities): Buffer => {
    const [a, b] = ids.gateway.attachable as [string, string];
    const publish = (topic: string, messageId: number): Buffer => encode({ cmd: 'publish', topic, payload: Buffer.from('split'), qos: 1, messageId, retain: false, dup: false });
    return Buffer.concat([
      attachPacket(b, 3),
      encode({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: `/devices/${a}/config`, qos: 1 }, { topic: `/devices/${ids.gateway.id}/errors`, qos: 0 }] }),
      publish(`/devices/${a}/events`, 5),
      publish(`/devices/${b}/state`, 6),
      encode({ cmd: 'unsubscribe', messageId: 7, unsubscriptions: [`/devices/${a}/config`] }),
      encode({ cmd: 'puback', messageId: 1 }),
      publish(`/devices/${b}/detach`, 8),
      PINGREQ,
    ]);
  };

  /** The packets of `bytes`, each as its own bytes. */
  const packetsOf = (bytes: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => out.push(encode(p)));
    parser.parse(bytes);
    return out;
  };

  it('CONNECT and attaches split in two at every byte, with the session pipelined behind them, are always answered', async () => {
    const failures: string[] = [];
    let splits = 0;
    await Promise.all(
      lanes.map(async (ids, lane) => {
        const head = opening(ids);
        const bytes = Buffer.concat([head, rest(ids)]);
        for (let k = lane + 1; k <= head.length; k += LANES) {
          const conn = await FuzzConnection.open(mqttUrl(server), SYNC_TIMEOUT_MS);
          await conn.write(splitAt(bytes, [k]));
          const outcome = await conn.sync(SYNC_TIMEOUT_MS);
          conn.destroy();
          splits++;
          if (outcome !== 'answered') failures.push(`lane ${lane}, split at ${k}: ${outcome}`);
        }
      }),
    );
    assert.deepEqual(failures, [], `${splits} splits`);
    await assertHealthy();
  });

  it('the rest of a gateway session split in two at every byte, and sent byte by byte, is always answered', async () => {
    const ids = lanes[0]!;
    const conn = await FuzzConnection.open(mqttUrl(server), SYNC_TIMEOUT_MS);
    try {
      await conn.write([opening(ids)]);
      assert.equal(await conn.sync(SYNC_TIMEOUT_MS), 'answered');
      const tail = rest(ids);
      for (let k = 1; k < tail.length; k++) {
        await conn.write(splitAt(tail, [k]));
        assert.equal(await conn.sync(SYNC_TIMEOUT_MS), 'answered', `split at ${k}`);
      }
      await conn.write(splitAt(tail, Array.from({ length: tail.length - 1 }, (_, i) => i + 1)));
      assert.equal(await conn.sync(SYNC_TIMEOUT_MS), 'answered', 'byte by byte');
    } finally {
      conn.destroy();
    }
    await assertHealthy();
  });

  it('every packet of the session cut short at every byte (its length fixed), pipelined behind CONNECT and an attach, last or followed by a PINGREQ: answered or closed', async () => {
    const failures: string[] = [];
    let cases = 0;
    await Promise.all(
      lanes.map(async (ids, lane) => {
        const packets = packetsOf(rest(ids));
        const all = packets.flatMap((p, i) => Array.from({ length: bodyLength(p)! + 1 }, (_, keep) => [false, true].map((ping) => ({ i, keep, ping }))).flat());
        for (let c = lane; c < all.length; c += LANES) {
          const { i, keep, ping } = all[c]!;
          const conn = await FuzzConnection.open(mqttUrl(server), SYNC_TIMEOUT_MS);
          // Written at once, so the cut packet waits behind authentication and the attach; the
          // parser may read what follows it (a PINGREQ) as its missing fields.
          await conn.write([Buffer.concat([opening(ids), shrink(packets[i]!, keep), ...(ping ? [PINGREQ] : [])])]);
          // Else the CONNACK and the attaches' PUBACKs first: the synchronising PINGREQ then
          // cannot arrive in the same read as the cut packet.
          if (!ping) await conn.receivedAtLeast(3, SYNC_TIMEOUT_MS);
          const outcome = await conn.sync(SYNC_TIMEOUT_MS);
          conn.destroy();
          cases++;
          if (outcome !== 'answered' && outcome !== 'closed') failures.push(`packet ${i} cut to ${keep} bytes${ping ? ', then a PINGREQ' : ''}: ${outcome}`);
        }
      }),
    );
    assert.deepEqual(failures, [], `${cases} cases`);
    await assertHealthy();
  });

  it('seeded random and mutated inputs, pipelined and split: nothing hangs, the process survives', async () => {
    const stats = await runFuzz(mqttUrl(server), lanes, {
      seed: SEED,
      inputs: 6_000,
      deadline: Date.now() + 20_000,
      options: { batch: 16, mutationRate: 0.08, connectMutationRate: 0.1, syncTimeoutMs: SYNC_TIMEOUT_MS },
    });
    assert.deepEqual(stats.stallsAt, [], 'every batch was answered or its connection closed');
    assert.ok(stats.inputs >= 6_000, `${stats.inputs} inputs before the deadline`);
    // The mutations bite (connections are closed) and most batches still get through.
    assert.ok(stats.outcomes.closed > 0 && stats.outcomes.answered > stats.outcomes.closed, JSON.stringify(stats.outcomes));
    await assertHealthy();
  });
});
