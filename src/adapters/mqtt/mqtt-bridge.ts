import type { Socket } from 'node:net';
import type { ListenAddress } from '../../config/schema.js';
import { DEFAULT_MAX_WRITE_BACKLOG_BYTES, MqttConnection, type ConnectionLimits } from './connection.js';
import { MqttListeners } from './listeners.js';
import type { SessionEnv } from './session-types.js';
import type { TlsMaterial } from './tls-material.js';

export interface MqttBridgeOptions {
  env: SessionEnv;
  tls: TlsMaterial;
  listen: readonly ListenAddress[];
  plainListen: readonly ListenAddress[];
  maxConnections: number;
  /** New connections let in per second, 0: no cap (docs/compat.md C-MQTT-ADMISSION). */
  maxConnectionRate: number;
  maxPacketBytes: number;
  /** Default DEFAULT_MAX_WRITE_BACKLOG_BYTES (docs/compat.md C-MQTT-BACKLOG). */
  maxWriteBacklogBytes?: number;
  /** How often coalesced device timestamps are written. */
  activityFlushMs: number;
}

/**
 * The MQTT bridge: its listeners (TLS, and plain TCP when asked) and the clock that drives every
 * session's timeouts. What the API changes reaches sessions through the LiveSessions service.
 */
export class MqttBridge {
  private readonly listeners: MqttListeners;
  private readonly connections = new Set<MqttConnection>();
  private ticker: NodeJS.Timeout | undefined;
  private flusher: NodeJS.Timeout | undefined;
  private nextId = 0;
  private closing = false;
  /** The same for every connection: one object, not one each. */
  private readonly limits: ConnectionLimits;

  constructor(private readonly opts: MqttBridgeOptions) {
    const { env } = opts;
    this.limits = { maxPacketBytes: opts.maxPacketBytes, maxWriteBacklogBytes: opts.maxWriteBacklogBytes ?? DEFAULT_MAX_WRITE_BACKLOG_BYTES };
    this.listeners = new MqttListeners(
      {
        tls: opts.tls,
        listen: opts.listen,
        plainListen: opts.plainListen,
        maxConnections: opts.maxConnections,
        maxConnectionRate: opts.maxConnectionRate,
        handshakeTimeoutMs: env.limits.connectTimeoutMs,
        metrics: env.metrics,
        log: env.log,
      },
      (socket) => this.accept(socket),
    );
  }

  get urls(): { tls: string[]; plain: string[] } {
    return this.listeners.urls;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  async start(): Promise<void> {
    const { env } = this.opts;
    await this.listeners.start();
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
    this.flusher = setInterval(() => {
      env.activity.flush().catch((err: unknown) => env.log.warn({ err }, 'could not write device activity'));
    }, this.opts.activityFlushMs);
    this.flusher.unref();
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new MqttConnection(socket, this.opts.env, `c${++this.nextId}`, this.limits, (c) => {
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

  /** Stops accepting, closes every session (reason server-shutdown), writes pending activity. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.ticker);
    clearInterval(this.flusher);
    const stopped = this.listeners.stop();
    for (const c of this.connections) c.session.close('server-shutdown');
    const deadline = Date.now() + 3000;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.destroy();
    await stopped;
    await this.opts.env.activity.flush();
  }
}
