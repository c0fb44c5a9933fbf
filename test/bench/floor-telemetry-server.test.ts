import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { startTelemetryFloor } from '../../bench/loadgen/bare-tls.js';
import type { BenchTarget } from '../../bench/loadgen/target.js';

// The latency floor only means something if it does the work it claims: a PUBACK only for a
// message already committed to its SQLite file, so that none is lost to a kill -9.
describe('durable telemetry floor server (QoS 1 PUBACK after COMMIT)', () => {
  let floor: BenchTarget & { dir: string };
  before(async () => {
    floor = await startTelemetryFloor();
  });
  after(async () => {
    await floor.stop();
    rmSync(floor.dir, { recursive: true, force: true });
  });

  test('every PUBACKed message is in the log file after a kill -9, on TLS and plain TCP', async () => {
    const dial = [
      { url: `mqtts://127.0.0.1:${floor.tls.port}`, ca: floor.tls.caPem, servername: 'localhost' },
      { url: `mqtt://127.0.0.1:${floor.plain.port}` },
    ];
    let acked = 0;
    const payloads = new Set<string>();
    for (const [i, d] of dial.entries()) {
      const client = await mqtt.connectAsync(d.url, { clientId: `floor-test-${i}`, ca: d.ca, servername: d.servername, reconnectPeriod: 0, protocolVersion: 4 });
      // Several in flight at once, so that they share transactions as under load.
      await Promise.all(
        Array.from({ length: 50 }, (_, k) => {
          const body = `m-${i}-${k}`;
          payloads.add(body);
          return client.publishAsync(`/devices/d${i}/events`, body, { qos: 1 }).then(() => acked++);
        }),
      );
      client.end(true);
    }
    assert.equal(acked, 100);
    process.kill(floor.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const db = new Database(join(floor.dir, 'log.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT data FROM messages').all() as Array<{ data: Buffer }>;
      assert.deepEqual(new Set(rows.map((r) => r.data.toString('utf8'))), payloads);
      assert.equal(rows.length, 100);
    } finally {
      db.close();
    }
  });
});
