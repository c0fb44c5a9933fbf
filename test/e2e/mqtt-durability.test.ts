import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { createDevice, createRegistry, logMessages, mqttUrl } from '../support/fleet.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * A QoS 1 PUBACK means the message is durable (spec §5.4, §8.3): a device publishes as fast as it
 * can from a child process, the server is SIGKILLed mid-stream and restarted on the same data
 * directory, and every message the device saw acknowledged must be in the embedded log.
 */

const CHILD = resolve(dirname(fileURLToPath(import.meta.url)), '../support/mqtt-publisher-child.js');
const REG = 'reg-durable';
/** Acknowledged messages to see before pulling the plug. */
const KILL_AFTER = 300;
/** The per-connection limit of 100 msgs/s would close the publisher first (docs/compat.md C-MQTT-RATE). */
const NO_RATE_LIMIT = ['--mqtt-max-msgs-per-sec', '0'];

describe('MQTT QoS 1 durability across a server crash', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bridgehead-mqtt-durable-'));
  let server: StartedServer | undefined;
  let child: ChildProcess | undefined;

  after(async () => {
    child?.kill('SIGKILL');
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('every PUBACKed payload survives SIGKILL of the server', async () => {
    server = await startServer({ dataDir, args: NO_RATE_LIMIT });
    await createRegistry(server, REG);
    const d = await createDevice(server, REG, 'durable-dev', { alg: 'ES256' });

    child = spawn(process.execPath, [CHILD, mqttUrl(server), d.clientId, d.id, await d.jwt(), '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((r) => child!.once('close', (code) => r(code)));
    const acked = new Set<number>();
    let connected = false;
    let killing: Promise<void> | undefined;
    const running = server;
    const enough = new Promise<void>((resolveEnough, rejectEnough) => {
      const timer = setTimeout(() => rejectEnough(new Error(`only ${acked.size} PUBACKs within 30 s; child stderr: ${stderr}`)), 30_000);
      createInterface({ input: child!.stdout! }).on('line', (line) => {
        if (line === 'connected') connected = true;
        const m = /^acked (\d+)$/.exec(line);
        if (m) acked.add(Number(m[1]));
        if (acked.size >= KILL_AFTER && !killing) {
          clearTimeout(timer);
          killing = running.kill();
          resolveEnough();
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        if (!killing) rejectEnough(new Error(`the publisher exited early; stderr: ${stderr}`));
      });
    });
    await enough;
    await killing;
    // The child sees its connection drop and exits; everything it printed was read by then.
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
    assert.equal(code, 0, `publisher exit; stderr: ${stderr}`);
    assert.ok(connected);
    assert.ok(acked.size >= KILL_AFTER);

    server = await startServer({ dataDir, args: NO_RATE_LIMIT });
    const stored = new Set<string>();
    let after = 0;
    for (;;) {
      const page = await logMessages(server, `telemetry-${REG}`, after);
      for (const m of page) stored.add(Buffer.from(m.data, 'base64').toString());
      if (page.length === 0) break;
      after = Number(page[page.length - 1]!.messageId);
    }
    const missing = [...acked].filter((n) => !stored.has(`durable-${n}`)).sort((a, b) => a - b);
    assert.deepEqual(missing, [], `${missing.length} of ${acked.size} acknowledged messages were lost`);
    // The log holds at least everything acknowledged, and only this device's payloads.
    assert.ok(stored.size >= acked.size);
    for (const s of stored) assert.match(s, /^durable-\d+$/);
  });
});
