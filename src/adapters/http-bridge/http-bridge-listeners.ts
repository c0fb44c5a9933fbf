import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ListenAddress } from '../../config/schema.js';
import type { DeviceHttpBridge } from '../../services/device-http-bridge.js';
import type { Server as TlsServer } from 'node:tls';
import { followCertificates, tlsServerOptions, type TlsMaterial } from '../mqtt/tls-material.js';
import { createHttpBridgeApp, type HttpBridgeObserver, type HttpBridgeTimeouts } from './http-bridge-app.js';

export interface HttpBridgeListenerOptions {
  bridge: DeviceHttpBridge;
  logger: Logger;
  observer: HttpBridgeObserver;
  timeouts: HttpBridgeTimeouts;
  /** The certificates of every TLS listener (the MQTT bridge's, `--tls-sni` included). */
  tls: TlsMaterial;
  listen: ListenAddress | undefined;
  plainListen: ListenAddress | undefined;
  /** Per listener; past it new connections are closed at once (docs/compat.md C-HTTP-LIMITS). */
  maxConnections: number;
}

/** The HTTP bridge's listeners: HTTPS (HTTP/2 or HTTP/1.1 by ALPN) and, opt-in, plaintext HTTP/1.1. */
export class HttpBridgeListeners {
  private readonly apps: { app: FastifyInstance; scheme: 'https' | 'http'; address: ListenAddress }[] = [];
  private started: { scheme: string; url: string }[] = [];

  constructor(opts: HttpBridgeListenerOptions) {
    const base = { bridge: opts.bridge, logger: opts.logger, observer: opts.observer, timeouts: opts.timeouts };
    if (opts.listen) {
      const app = createHttpBridgeApp({ ...base, tls: tlsServerOptions(opts.tls) });
      // Fastify's server here is an Http2SecureServer, a tls.Server: SIGHUP swaps its certificate.
      followCertificates(opts.tls, app.server as unknown as TlsServer);
      this.apps.push({ app, scheme: 'https', address: opts.listen });
    }
    if (opts.plainListen) this.apps.push({ app: createHttpBridgeApp({ ...base, tls: undefined }), scheme: 'http', address: opts.plainListen });
    for (const { app } of this.apps) app.server.maxConnections = opts.maxConnections;
  }

  async start(): Promise<void> {
    for (const { app, scheme, address } of this.apps) {
      await app.listen({ host: address.host, port: address.port });
      const a = app.server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      this.started.push({ scheme, url: `${scheme}://${host}:${a.port}` });
    }
  }

  get urls(): { tls: string | undefined; plain: string | undefined } {
    return { tls: this.started.find((s) => s.scheme === 'https')?.url, plain: this.started.find((s) => s.scheme === 'http')?.url };
  }

  async close(): Promise<void> {
    await Promise.all(this.apps.map(({ app }) => app.close()));
    this.started = [];
  }
}
