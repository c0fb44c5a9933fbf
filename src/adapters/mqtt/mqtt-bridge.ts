import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { ListenAddress } from '../../config/schema.js';
import type { Bus, BusEvent } from '../../services/ports.js';
import { DEFAULT_MAX_WRITE_BACKLOG_BYTES, MqttConnection } from './connection.js';
import type { SessionEnv } from './session-types.js';
import type { TlsMaterial } from './tls-material.js';

export interface MqttBridgeOptions {
  env: SessionEnv;
  bus: Bus;
  tls: TlsMaterial;
  listen: readonly ListenAddress[];
  plainListen: readonly ListenAddress[];
  maxConnections: number;
  maxPacketBytes: number;
  /** Default DEFAULT_MAX_WRITE_BACKLOG_BYTES (docs/compat.md C-MQTT-BACKLOG). */
  maxWriteBacklogBytes?: number;
  /** How often coalesced device timestamps are written. */
  activityFlushMs: number;
}

/**
 * The MQTT bridge's listeners (TLS, and plain TCP when asked), the clock that drives every
 * session's timeouts, and the reactions to API changes arriving on the bus.
 */
export class MqttBridge {
  private readonly servers: { server: Server; url: string }[] = [];
  private readonly connections = new Set<MqttConnection>();
  private ticker: NodeJS.Timeout | undefined;
  private flusher: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private nextId = 0;
  private tcpOpen = 0;
  private closing = false;

  constructor(private readonly opts: MqttBridgeOptions) {}

  get urls(): { tls: string[]; plain: string[] } {
    return {
      tls: this.servers.filter((s) => s.url.startsWith('mqtts:')).map((s) => s.url),
      plain: this.servers.filter((s) => s.url.startsWith('mqtt:')).map((s) => s.url),
    };
  }

  get openConnections(): number {
    return this.connections.size;
  }

  async start(): Promise<void> {
    const { tls, env } = this.opts;
    for (const addr of this.opts.listen) {
      const server = createTlsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', handshakeTimeout: env.limits.connectTimeoutMs });
      this.limitConnections(server);
      server.on('secureConnection', (s) => this.accept(s));
      // A failed or timed-out handshake is the peer's problem: its socket goes, and nothing else
      // happens (Node leaves the socket open once this event has a listener). The timer behind
      // handshakeTimeout is not reset by handshake bytes, so a trickled ClientHello is cut off too
      // (docs/compat.md C-MQTT-TIMEOUTS).
      server.on('tlsClientError', (_err, tlsSocket) => tlsSocket.destroy());
      this.servers.push({ server, url: await listen(server, addr, 'mqtts') });
    }
    for (const addr of this.opts.plainListen) {
      const server = createTcpServer();
      this.limitConnections(server);
      server.on('connection', (s) => {
        if (!s.destroyed) this.accept(s);
      });
      this.servers.push({ server, url: await listen(server, addr, 'mqtt') });
    }
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
    this.flusher = setInterval(() => {
      env.activity.flush().catch((err: unknown) => env.log.warn({ err }, 'could not write device activity'));
    }, this.opts.activityFlushMs);
    this.flusher.unref();
    this.unsubscribe = this.opts.bus.subscribe((e) => this.onBusEvent(e));
  }

  /**
   * Counts TCP connections as they arrive, before any TLS handshake, so that half-open handshakes
   * count against the limit too (docs/compat.md C-MQTT-MAXCONN: over it, the socket is closed at once).
   */
  private limitConnections(server: Server): void {
    server.on('connection', (raw: Socket) => {
      if (this.closing || this.tcpOpen >= this.opts.maxConnections) {
        this.opts.env.metrics.disconnect('max-connections');
        raw.destroy();
        return;
      }
      this.tcpOpen++;
      raw.once('close', () => this.tcpOpen--);
    });
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const limits = { maxPacketBytes: this.opts.maxPacketBytes, maxWriteBacklogBytes: this.opts.maxWriteBacklogBytes ?? DEFAULT_MAX_WRITE_BACKLOG_BYTES };
    const conn = new MqttConnection(socket, this.opts.env, `c${++this.nextId}`, limits, (c) => {
      this.connections.delete(c);
      this.opts.env.metrics.connectionsOpen.set(this.connections.size);
    });
    this.connections.add(conn);
    this.opts.env.metrics.connectionsOpen.set(this.connections.size);
  }

  /** Drives connect timeouts, keep-alive, idle cutoff, JWT expiry and redelivery for all sessions. */
  private tick(): void {
    const now = this.opts.env.clock.now();
    for (const c of this.connections) c.tick(now);
  }

  private onBusEvent(e: BusEvent): void {
    const { directory, registries, store, log } = this.opts.env;
    switch (e.type) {
      case 'device-blocked':
        return directory.get(e.numId)?.end(e.numId, 'device-blocked');
      case 'device-deleted':
        return directory.get(e.numId)?.end(e.numId, 'device-deleted');
      case 'config-updated':
        return directory.get(e.numId)?.configUpdated(e.numId);
      case 'device-unbound':
        if (directory.get(e.numId)?.gatewayNumId(e.numId) === e.gatewayNumId) directory.get(e.numId)?.end(e.numId, 'device-unbound');
        return;
      case 'device-credentials-changed': {
        const session = directory.get(e.numId);
        const used = session?.credentialKey(e.numId);
        if (!session || used === undefined) return;
        // Only removing the credential the session authenticated with ends it (docs/compat.md C-MQTT-REVOKE).
        store.getDeviceByNumId(e.numId).then(
          (d) => {
            if (!d || !d.credentials.some((c) => c.key === used)) session.end(e.numId, 'credentials-changed');
          },
          (err: unknown) => log.warn({ err }, 'could not check changed credentials'),
        );
        return;
      }
      case 'registry-changed':
        registries.refresh(e.registryName).catch((err: unknown) => log.warn({ err }, 'could not reload a changed registry'));
        return;
    }
  }

  /** Stops accepting, closes every session (reason server-shutdown), writes pending activity. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.unsubscribe?.();
    clearInterval(this.ticker);
    clearInterval(this.flusher);
    const stopped = Promise.all(this.servers.map(({ server }) => new Promise<void>((res) => server.close(() => res()))));
    for (const c of this.connections) c.session.close('server-shutdown');
    const deadline = Date.now() + 3000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.destroy();
    await stopped;
    await this.opts.env.activity.flush();
  }
}

function listen(server: Server, addr: ListenAddress, scheme: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve(`${scheme}://${host}:${a.port}`);
    });
  });
}
