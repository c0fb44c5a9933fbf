import { createServer as createTcpServer, Socket, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { ListenAddress } from '../../config/schema.js';
import type { BridgeMetrics } from '../../observability/metrics.js';
import { AdmissionQueue } from './admission.js';
import { awaitClientHello } from './client-hello.js';
import { followCertificates, tlsServerOptions, type TlsMaterial } from './tls-material.js';

export interface ListenerOptions {
  tls: TlsMaterial;
  listen: readonly ListenAddress[];
  plainListen: readonly ListenAddress[];
  maxConnections: number;
  /** New connections let in per second, 0: no cap (docs/compat.md C-MQTT-ADMISSION). */
  maxConnectionRate: number;
  /** The TLS handshake must end this long after the socket is let in (docs/compat.md C-MQTT-TIMEOUTS). */
  handshakeTimeoutMs: number;
  metrics: BridgeMetrics;
  log: Logger;
}

/** A socket ready for MQTT (TLS: handshake done). */
export type OnSocket = (socket: Socket | TLSSocket) => void;

/** Sockets let in per turn of the event loop (docs/compat.md C-MQTT-ADMISSION). */
const ADMIT_PER_TURN = 8;
/** Socket errors before and during admission end in 'close', which is all that counts here. */
const ignore = (): void => undefined;
/** A socket not let in after this long is closed. */
const MAX_ADMISSION_WAIT_MS = 1000;

/**
 * The bridge's TCP listeners. Every socket is counted as it is accepted (docs/compat.md
 * C-MQTT-MAXCONN), then waits paused in the admission queue; once let in, a TLS socket goes to a
 * TLS server that does not listen itself (`emit('connection')`) for its handshake. Sockets that
 * fail their handshake or run out of time are destroyed.
 */
export class MqttListeners {
  private readonly servers: { server: Server; url: string }[] = [];
  private readonly admission: AdmissionQueue;
  /** The handshake deadline of each TLS socket let in and not yet secure, by its TCP socket. */
  private readonly handshaking = new Map<Socket, NodeJS.Timeout>();
  /** A TCP socket closed before its handshake ended ('close' listener; `this` is the socket). */
  private readonly rawClosed: (this: Socket) => void;
  /** Counts an accepted socket out ('close' listener): one function for all sockets. */
  private readonly countClosed = (): void => {
    this.open--;
  };
  private open = 0;
  private closing = false;

  constructor(
    private readonly opts: ListenerOptions,
    private readonly onSocket: OnSocket,
  ) {
    const handshaking = this.handshaking;
    // One function for all sockets, not a closure each: idle devices outnumber everything else.
    this.rawClosed = function (this: Socket): void {
      clearTimeout(handshaking.get(this));
      handshaking.delete(this);
    };
    this.admission = new AdmissionQueue(
      ADMIT_PER_TURN,
      MAX_ADMISSION_WAIT_MS,
      opts.maxConnectionRate,
      () => opts.metrics.disconnect('admission-timeout'),
      (err) => opts.log.error({ err }, 'bug while letting a connection in'),
    );
  }

  get urls(): { tls: string[]; plain: string[] } {
    return {
      tls: this.servers.filter((s) => s.url.startsWith('mqtts:')).map((s) => s.url),
      plain: this.servers.filter((s) => s.url.startsWith('mqtt:')).map((s) => s.url),
    };
  }

  async start(): Promise<void> {
    const certificates = tlsServerOptions(this.opts.tls);
    for (const addr of this.opts.listen) {
      // Node's own timeout, from the hand-over, is only a backstop: the deadline that counts runs
      // from admission (see startHandshake).
      const handshakes = createTlsServer({ ...certificates, handshakeTimeout: this.opts.handshakeTimeoutMs });
      followCertificates(this.opts.tls, handshakes);
      // CONNECT's own timeout starts after the handshake (docs/compat.md C-MQTT-TIMEOUTS).
      handshakes.on('secureConnection', (s: TLSSocket) => {
        this.handshakeDone(s);
        this.handOver(s);
      });
      // A failed or timed-out handshake is the peer's problem: its socket goes, and nothing else
      // happens (Node leaves the socket open once this event has a listener).
      handshakes.on('tlsClientError', (_err: Error, s: TLSSocket) => s.destroy());
      await this.listen(addr, 'mqtts', (raw) => this.startHandshake(raw, handshakes));
    }
    for (const addr of this.opts.plainListen) {
      await this.listen(addr, 'mqtt', (raw) => {
        raw.resume();
        this.handOver(raw);
      });
    }
  }

  /**
   * A TLS socket let in: the whole handshake must end within the allowance from now, however the
   * bytes trickle in (docs/compat.md C-MQTT-TIMEOUTS). Until its ClientHello is complete the
   * socket is only read (awaitClientHello): a flood of sockets that never get that far costs no
   * TLS state at all.
   */
  private startHandshake(raw: Socket, handshakes: Server): void {
    const deadline = setTimeout(() => {
      this.handshaking.delete(raw);
      // Destroying the TCP socket also ends a TLS socket made over it.
      raw.destroy();
    }, this.opts.handshakeTimeoutMs).unref();
    this.handshaking.set(raw, deadline);
    // `on`, not `once`: 'close' comes once anyway, and `once` would wrap the listener anew for
    // every socket.
    raw.on('close', this.rawClosed);
    awaitClientHello(raw, (hello) => handshakes.emit('connection', hello));
  }

  /** The TLS socket over a raw one we let in is secure: its handshake deadline is off. */
  private handshakeDone(secure: TLSSocket): void {
    const raw = tcpSocketOf(secure, this.handshaking.keys());
    if (raw === undefined) return;
    clearTimeout(this.handshaking.get(raw));
    this.handshaking.delete(raw);
    raw.off('close', this.rawClosed);
  }

  /** Passes a socket on; if that throws (our bug), the socket goes and nothing else does. */
  private handOver(socket: Socket | TLSSocket): void {
    try {
      this.onSocket(socket);
    } catch (err) {
      this.opts.log.error({ err }, 'bug while setting up a connection; closing it');
      socket.destroy();
    }
  }

  /** A paused-on-connect TCP server at `addr` whose sockets are counted, then queued for `admit`. */
  private async listen(addr: ListenAddress, scheme: string, admit: (raw: Socket) => void): Promise<void> {
    const server = createTcpServer({ pauseOnConnect: true });
    server.on('connection', (raw: Socket) => {
      if (this.closing || this.open >= this.opts.maxConnections) {
        this.opts.metrics.disconnect('max-connections');
        raw.destroy();
        return;
      }
      this.open++;
      raw.on('close', this.countClosed);
      raw.on('error', ignore);
      this.admission.enqueue(raw, admit);
    });
    const url = await new Promise<string>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => {
        server.off('error', reject);
        const a = server.address() as AddressInfo;
        const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve(`${scheme}://${host}:${a.port}`);
      });
    });
    this.servers.push({ server, url });
  }

  /**
   * Stops accepting and closes the sockets still waiting to be let in; resolves once every
   * socket the listeners accepted has closed.
   */
  stop(): Promise<void> {
    this.closing = true;
    this.admission.clear();
    return Promise.all(this.servers.map(({ server }) => new Promise<void>((res) => server.close(() => res())))).then(() => undefined);
  }
}

/**
 * The TCP socket a server TLS socket was made over. Node keeps it as `_parent` (since its first
 * TLS server, and for its own use); reading it costs nothing, where telling the sockets apart by
 * their addresses costs four system calls per connect. Should a Node version drop it, the sockets
 * still waiting for their handshake are searched by address (the same connection reports the same
 * addresses through both: they share the handle).
 */
function tcpSocketOf(secure: TLSSocket, waiting: Iterable<Socket>): Socket | undefined {
  const parent: unknown = (secure as { _parent?: unknown })._parent;
  if (parent instanceof Socket) return parent;
  const key = peerKey(secure);
  for (const raw of waiting) if (peerKey(raw) === key) return raw;
  return undefined;
}

const peerKey = (s: Socket): string => `${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`;
