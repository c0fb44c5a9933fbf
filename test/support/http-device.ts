import { run } from './processes.js';
import { api, type StartedServer } from './server.js';
import { PROJECT, REGION } from './fleet.js';

/**
 * What the end-to-end tests of the HTTP device bridge share: the bridge's URLs as the server
 * reported them, the `curl` binary as a device, and bounded polling of the admin API for the
 * bookkeeping that the server flushes late (activity timestamps every 5 s).
 */

/** Separates the body from curl's write-out on stdout; no JSON body contains it. */
const MARK = '\n@@curl@@';

export interface CurlReply {
  status: number;
  /** `%{http_version}`: 1.1, 2, ... */
  httpVersion: string;
  body: string;
  json: Record<string, unknown>;
  /** Response headers, names lower-cased (the last value of each). */
  headers: Record<string, string>;
}

/**
 * Runs curl once, silently, and returns status, negotiated HTTP version, headers and body. `args`
 * are curl's own (URL, -X, -H, --data-binary, --cacert, --http2...).
 */
export async function curl(args: readonly string[]): Promise<CurlReply> {
  // (`-D /dev/stderr` would be simpler, but curl 7.88 dies of SIGSEGV with it when stderr is a pipe.)
  const r = await run('curl', ['-sS', '-w', `${MARK}%{http_code} %{http_version} %{header_json}`, ...args], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`curl ${args.join(' ')} exited ${String(r.code ?? r.signal)}: ${r.stderr}`);
  const at = r.stdout.lastIndexOf(MARK);
  const out = r.stdout.slice(at + MARK.length);
  const [status, httpVersion] = out.split(' ', 2);
  const headerJson = JSON.parse(out.slice(out.indexOf('{'))) as Record<string, string[]>;
  const headers = Object.fromEntries(Object.entries(headerJson).map(([k, v]) => [k.toLowerCase(), v[v.length - 1]!]));
  const body = r.stdout.slice(0, at);
  let json: Record<string, unknown> = {};
  try {
    json = body ? (JSON.parse(body) as Record<string, unknown>) : {};
  } catch {
    // not JSON: the test sees `body`
  }
  return { status: Number(status), httpVersion: httpVersion!, body, json, headers };
}

/** `projects/…/devices/{device}` under `/v1` (or `/v1beta1`) of a bridge base URL. */
export const bridgeDeviceUrl = (base: string, registry: string, device: string, opts: { version?: 'v1' | 'v1beta1'; project?: string } = {}): string =>
  `${base}/${opts.version ?? 'v1'}/projects/${opts.project ?? PROJECT}/locations/${REGION}/registries/${registry}/devices/${device}`;

export const httpsBridge = (server: StartedServer): string => String(server.info.httpBridge);
export const plainBridge = (server: StartedServer): string => String(server.info.httpBridgePlain);

/** The admin API's view of a device (GET devices/{d}). */
export async function adminDevice(server: StartedServer, registry: string, device: string): Promise<Record<string, unknown>> {
  const r = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${registry}/devices/${device}`);
  if (r.status !== 200) throw new Error(`get device ${device}: ${JSON.stringify(r.json)}`);
  return r.json;
}

/**
 * Calls `probe` until `done` accepts its result, at most `timeoutMs` (default 12 s: two activity
 * flushes and then some); fails with the last result.
 */
export async function pollUntil<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 12_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Sets a device's config through the admin API; returns the new config JSON (version, cloudUpdateTime, binaryData). */
export async function setConfig(server: StartedServer, registry: string, device: string, data: Buffer): Promise<Record<string, unknown>> {
  const r = await api(server, 'POST', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${registry}/devices/${device}:modifyCloudToDeviceConfig`, {
    binaryData: data.toString('base64'),
  });
  if (r.status !== 200) throw new Error(`modifyCloudToDeviceConfig: ${JSON.stringify(r.json)}`);
  return r.json;
}

/** Binds `device` to `gateway` in `registry`. */
export async function bind(server: StartedServer, registry: string, gateway: string, device: string): Promise<void> {
  const r = await api(server, 'POST', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${registry}:bindDeviceToGateway`, { gatewayId: gateway, deviceId: device });
  if (r.status !== 200) throw new Error(`bind: ${JSON.stringify(r.json)}`);
}

/** The identity attributes of spec §8.1 for a device. */
export const identityAttributes = (registry: string, device: { id: string; numId: string }): Record<string, string> => ({
  deviceId: device.id,
  deviceNumId: device.numId,
  deviceRegistryId: registry,
  deviceRegistryLocation: REGION,
  projectId: PROJECT,
});
