import { createInterface } from 'node:readline';
import iot from '@google-cloud/iot';
import { credentials, Metadata } from '@grpc/grpc-js';
import { deviceManagerScenarioSteps } from '../e2e/device-manager-scenario.js';
import { canonicalStatus, type DeviceManagerClient } from './iot-client.js';

/**
 * Child process of the key-file e2e test: a backend that changed only its endpoint. It builds
 * `new DeviceManagerClient({ apiEndpoint: 'localhost', port })` (default gRPC mode, TLS) and
 * nothing else: Google's libraries find the credentials in GOOGLE_APPLICATION_CREDENTIALS (a key
 * file Bridgehead issued) and the CA in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, as they would in a
 * deployed backend, which is why this runs in a process of its own. It reports as JSON lines:
 *
 *   scenario PORT      runs the Device Manager scenario; one {"step", "ok", "error"?} per step
 *   calls PORT CALLS   CALLS is a JSON array of {"method", "request"} (a client method and its
 *                      request; bytes as base64) or {"pause": LABEL}; one {"call", "method", "ok",
 *                      "value" (bytes as base64) | "status", "message"} per call; at a pause it prints
 *                      {"paused": LABEL} and goes on when a line arrives on stdin
 *
 * then {"done": true}. `node --test dist/test/` also runs every file under test/ as a test;
 * without arguments this exits at once, successfully.
 */

type Call = { method: string; request: Record<string, unknown> } | { pause: string };
type Method = (request: Record<string, unknown>, options: Record<string, unknown>) => Promise<unknown[]>;

/** Bytes as base64, as in the requests (JSON.stringify would spell a Buffer out byte by byte). */
function bytesAsBase64(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  return raw instanceof Uint8Array ? Buffer.from(raw).toString('base64') : value;
}

const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(line, bytesAsBase64)}\n`);
};

/** A client presenting `token` as its bearer instead of the key file's credentials (for the scenario's refusal step). */
function clientWithToken(port: number, token: string): DeviceManagerClient {
  const bearer = credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  // createSsl() without roots reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, as the default channel does.
  return new iot.v1.DeviceManagerClient({ apiEndpoint: 'localhost', port, sslCreds: credentials.combineChannelCredentials(credentials.createSsl(), bearer) });
}

async function runScenario(client: DeviceManagerClient, port: number): Promise<void> {
  const steps = deviceManagerScenarioSteps(() => ({ client, clientWithToken: (token) => clientWithToken(port, token) }), { requiresCredentials: true });
  for (const s of steps) {
    try {
      await s.run();
      emit({ step: s.name, ok: true });
    } catch (e) {
      emit({ step: s.name, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  }
}

async function runCalls(client: DeviceManagerClient, calls: Call[]): Promise<void> {
  const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  for (const [i, call] of calls.entries()) {
    if ('pause' in call) {
      emit({ paused: call.pause });
      if ((await stdin.next()).done) throw new Error(`stdin closed at pause ${call.pause}`);
      continue;
    }
    const method = (client as unknown as Record<string, Method | undefined>)[call.method];
    if (typeof method !== 'function') throw new Error(`the client has no method ${call.method}`);
    try {
      // autoPaginate matters to list methods only: one page, with the raw response's token.
      const [value] = await method.call(client, call.request, { autoPaginate: false });
      emit({ call: i, method: call.method, ok: true, value });
    } catch (e) {
      const { status, message } = canonicalStatus(e as Error & { code?: number });
      emit({ call: i, method: call.method, ok: false, status, message });
    }
  }
}

const [mode, portArg, callsArg] = process.argv.slice(2);
if ((mode === 'scenario' || (mode === 'calls' && callsArg !== undefined)) && portArg !== undefined) {
  const port = Number(portArg);
  // Exactly what a backend that changed only its endpoint writes.
  const client = new iot.v1.DeviceManagerClient({ apiEndpoint: 'localhost', port });
  if (mode === 'scenario') await runScenario(client, port);
  else await runCalls(client, JSON.parse(callsArg!) as Call[]);
  await client.close();
  emit({ done: true });
  // stdin may still be open (the parent keeps it for pauses).
  process.exit(0);
}
