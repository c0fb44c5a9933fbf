import assert from 'node:assert/strict';
import { request as httpRequest, type Agent as HttpAgent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { caOf, createDevice, createRegistry, devicePath, logMessages, PROJECT, REGION, type TestDevice } from './fleet.js';
import { api, startServer, type StartedServer } from './server.js';

/**
 * A real server with both HTTP bridge listeners and short timeouts, a registry with two devices,
 * and the probes the bad-input tests share: a raw HTTP client that reports status, headers and
 * Google's error JSON; "nothing was stored" counts; and a healthy device's publishEvent that must
 * keep succeeding whatever the abuse (spec §7, docs/compat.md C-HTTP-*).
 */

/** Short enough that the slow-client cases run in a few seconds. */
export const BRIDGE_TIMEOUTS = { headersMs: 1500, requestMs: 3000, keepAliveMs: 5000 };

export const BRIDGE_ENV = {
  BRIDGEHEAD_HTTP_BRIDGE_HEADERS_TIMEOUT_MS: String(BRIDGE_TIMEOUTS.headersMs),
  BRIDGEHEAD_HTTP_BRIDGE_REQUEST_TIMEOUT_MS: String(BRIDGE_TIMEOUTS.requestMs),
  BRIDGEHEAD_HTTP_BRIDGE_KEEP_ALIVE_TIMEOUT_MS: String(BRIDGE_TIMEOUTS.keepAliveMs),
};

export interface BridgeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown> | undefined;
  /** The request went on a kept-alive connection of its agent. */
  reused?: boolean;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  /** Default: the plaintext listener. */
  tls?: boolean;
  agent?: HttpAgent | HttpsAgent | false;
}

export class BridgeFixture {
  readonly registry: string;
  private healthChecks = 0;

  private constructor(
    readonly server: StartedServer,
    registry: string,
    readonly good: TestDevice,
    readonly other: TestDevice,
  ) {
    this.registry = registry;
  }

  static async start(registry: string, opts: { args?: string[]; env?: Record<string, string> } = {}): Promise<BridgeFixture> {
    const server = await startServer({
      args: ['--http-bridge-plain-listen', '127.0.0.1:0', '--http-bridge-listen', '127.0.0.1:0', ...(opts.args ?? [])],
      env: { ...BRIDGE_ENV, ...opts.env },
    });
    try {
      await createRegistry(server, registry);
      const good = await createDevice(server, registry, 'good-dev', { alg: 'ES256' });
      const other = await createDevice(server, registry, 'other-dev', { alg: 'ES256' });
      return new BridgeFixture(server, registry, good, other);
    } catch (e) {
      await server.cleanup();
      throw e;
    }
  }

  get plainUrl(): URL {
    return new URL(String(this.server.info.httpBridgePlain));
  }

  get tlsUrl(): URL {
    return new URL(String(this.server.info.httpBridge));
  }

  /** The bridge path of `device`'s method, e.g. `:publishEvent`, `:setState`, `/config`. */
  path(tail: string, device = this.good.id): string {
    return `${devicePath(this.registry, device)}${tail}`;
  }

  async bearer(device: TestDevice = this.good): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await device.jwt()}` };
  }

  /** One request on a fresh connection (unless `agent` says otherwise); never throws on a status. */
  send(path: string, o: SendOptions = {}): Promise<BridgeResponse> {
    const url = o.tls ? this.tlsUrl : this.plainUrl;
    const body = o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body);
    const headers: Record<string, string | number> = { ...(body ? { 'content-length': body.length } : {}), ...o.headers };
    const options = {
      host: url.hostname,
      port: Number(url.port),
      method: o.method ?? 'POST',
      path,
      headers,
      agent: o.agent ?? false,
      ...(o.tls ? { ca: caOf(this.server), servername: 'localhost' } : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (o.tls ? httpsRequest : httpRequest)(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, reused: req.reusedSocket });
        });
        res.on('error', reject);
      });
      req.setTimeout(15_000, () => req.destroy(new Error(`no answer to ${options.method} ${path} within 15 s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A JSON POST to the good device's `tail` with its JWT. */
  async post(tail: string, body: unknown, headers: Record<string, string> = {}): Promise<BridgeResponse> {
    return this.send(this.path(tail), {
      headers: { 'content-type': 'application/json', ...(await this.bearer()), ...headers },
      body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
  }

  /** What the bridge may have stored: the registry's three topics and the good device's state history. */
  async stored(): Promise<{ telemetry: number; alerts: number; state: number; states: number }> {
    const states = await api(this.server, 'GET', `${devicePath(this.registry, this.good.id)}/states`);
    assert.equal(states.status, 200);
    return {
      telemetry: (await logMessages(this.server, `telemetry-${this.registry}`)).length,
      alerts: (await logMessages(this.server, `alerts-${this.registry}`)).length,
      state: (await logMessages(this.server, `state-${this.registry}`)).length,
      states: ((states.json.deviceStates as unknown[] | undefined) ?? []).length,
    };
  }

  /** Runs `abuse` and checks that it stored nothing, then that the healthy device is still served. */
  async storesNothing(abuse: () => Promise<void>): Promise<void> {
    const before = await this.stored();
    await abuse();
    assert.deepEqual(await this.stored(), before, 'nothing stored by the bad input');
    await this.assertHealthy();
  }

  /** The good device publishes over `tls` (or plaintext); 200 `{}`, and exactly that event is in the log. Returns ms taken. */
  async assertHealthy(tls = false): Promise<number> {
    const payload = `still-alive-${++this.healthChecks}-${tls ? 'tls' : 'plain'}`;
    const data = Buffer.from(payload).toString('base64');
    const started = performance.now();
    const r = await this.send(this.path(':publishEvent'), {
      tls,
      headers: { 'content-type': 'application/json', ...(await this.bearer()) },
      body: JSON.stringify({ binaryData: data }),
    });
    const ms = performance.now() - started;
    assert.equal(r.status, 200, `healthy publish: ${r.text}`);
    assert.deepEqual(r.json, {});
    const log = await logMessages(this.server, `telemetry-${this.registry}`);
    assert.equal(log.filter((m) => m.data === data).length, 1, 'the healthy event is in the log once');
    return ms;
  }

  /** The server process is alive and its admin API answers /healthz. */
  async assertAlive(): Promise<void> {
    assert.equal(this.server.process.exitCode, null, `server exited:\n${this.server.stderr()}`);
    assert.equal(this.server.process.signalCode, null);
    const r = await fetch(`${this.server.api}/healthz`);
    assert.equal(r.status, 200);
  }

  async cleanup(): Promise<void> {
    await this.server.cleanup();
  }
}

/** `r` is Google's error JSON with `status` and `googleStatus`, and `reason` in x-bridgehead-error-reason. */
export function assertGoogleError(r: BridgeResponse, status: number, googleStatus: string, reason?: string): Record<string, unknown> {
  assert.equal(r.status, status, `status of ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const error = r.json?.error as Record<string, unknown> | undefined;
  assert.ok(error, `Google error JSON expected, got ${r.text}`);
  assert.equal(error.code, status);
  assert.equal(error.status, googleStatus);
  assert.equal(typeof error.message, 'string');
  assert.ok((error.message as string).length > 0);
  if (reason !== undefined) assert.equal(r.headers['x-bridgehead-error-reason'], reason, `reason of ${r.text}`);
  return error;
}

/** A raw TCP socket to `url` with everything it received and when it was closed. */
export interface RawConn {
  socket: Socket;
  received: () => Buffer;
  /** Resolves with ms since connect when the server closed (or reset) the connection. */
  closed: Promise<number>;
  /** Resolves when the first byte arrives, with ms since connect. */
  firstByte: Promise<number>;
}

/**
 * A raw connection to `url`; with `tls`, a finished TLS handshake offering only HTTP/1.1 (what
 * curl or a device's HTTP/1.1 library does), and `closed`/`firstByte` count from its end.
 */
export function openRawConn(url: URL, tls?: { context: SecureContext }): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const host = url.hostname;
    const port = Number(url.port);
    const socket: Socket = tls
      ? tlsConnect({ host, port, secureContext: tls.context, servername: 'localhost', ALPNProtocols: ['http/1.1'] })
      : tcpConnect({ host, port });
    const chunks: Buffer[] = [];
    let openedAt = 0;
    let gotFirst: (ms: number) => void = () => undefined;
    const firstByte = new Promise<number>((r) => (gotFirst = r));
    socket.on('data', (d: Buffer) => {
      if (chunks.length === 0) gotFirst(Date.now() - openedAt);
      chunks.push(d);
    });
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - openedAt)));
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      openedAt = Date.now();
      socket.removeListener('error', reject);
      socket.on('error', () => undefined);
      resolve({ socket, received: () => Buffer.concat(chunks), closed, firstByte });
    });
    socket.once('error', reject);
  });
}

/** One TLS context for many connections: a context per connection would parse the CA each time. */
export const tlsContextOf = (server: StartedServer): SecureContext => createSecureContext({ ca: caOf(server) });

/** The HTTP response in `raw`: status and parsed JSON body (Content-Length framed). */
export function parseRawResponse(raw: Buffer): BridgeResponse {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  assert.ok(split > 0, `an HTTP response expected, got ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1]);
  const headers: IncomingHttpHeaders = {};
  for (const l of headerLines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = text.slice(split + 4);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status, headers, text: body, json };
}

/** Rejects if `p` has not settled within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export { PROJECT, REGION };
