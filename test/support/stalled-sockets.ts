import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { hostPort } from './mqtt-processes.js';

/**
 * Sockets that never get as far as authenticating, the way a flood of them would stall a server:
 * silent TCP, a TLS handshake never started, cut off after part of the ClientHello, trickled a
 * byte at a time, or finished but never followed by a CONNECT. Each resolves `closed` with the
 * time (ms since it connected) at which the server closed it. Light enough to open thousands.
 */

export type StallKind = 'tcp-silent' | 'tls-silent' | 'tls-partial-hello' | 'tls-trickled-hello' | 'tls-no-connect';

export const STALL_KINDS: readonly StallKind[] = ['tcp-silent', 'tls-silent', 'tls-partial-hello', 'tls-trickled-hello', 'tls-no-connect'];

export interface StalledSocket {
  kind: StallKind;
  /**
   * Resolves with ms from connected (for tls-no-connect: from the end of the handshake, where the
   * CONNECT timeout starts) to closed by the server.
   */
  closed: Promise<number>;
  destroy(): void;
}

export interface StallTargets {
  /** mqtt://host:port of the plain listener. */
  plain: string;
  /** mqtts://host:port of the TLS listener. */
  tls: string;
  /** The CA that signed the server's certificate (for the handshakes that finish). */
  ca: Buffer | string;
  /** A real ClientHello (clientHello()). */
  hello: Buffer;
}

// One context per CA: building one per connection parses the CA each time, which costs a flood of
// thousands more than its handshakes.
const contexts = new Map<string, SecureContext>();
function contextFor(ca: Buffer | string): SecureContext {
  const pem = ca.toString();
  let ctx = contexts.get(pem);
  if (!ctx) contexts.set(pem, (ctx = createSecureContext({ ca: pem })));
  return ctx;
}

/** The first flight of a real TLS client, captured from a throw-away local listener. */
export async function clientHello(): Promise<Buffer> {
  const server = createServer();
  const captured = new Promise<Buffer>((resolve) => {
    server.once('connection', (s: Socket) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const client = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
  client.on('error', () => undefined);
  try {
    return await captured;
  } finally {
    client.destroy();
    server.close();
  }
}

/** Opens one stalled socket of `kind`; resolves once it is connected (and, for tls-no-connect, handshaken). */
export async function openStalled(kind: StallKind, t: StallTargets, trickleEveryMs = 500): Promise<StalledSocket> {
  if (kind === 'tls-no-connect') {
    const { host, port } = hostPort(t.tls);
    const s = tlsConnect({ host, port, secureContext: contextFor(t.ca), servername: 'localhost' });
    s.on('error', () => undefined);
    let openedAt = Date.now();
    const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now() - openedAt)));
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', resolve);
      s.once('close', () => reject(new Error('closed before the TLS handshake finished')));
    });
    openedAt = Date.now();
    return { kind, closed, destroy: () => s.destroy() };
  }
  const { host, port } = hostPort(kind === 'tcp-silent' ? t.plain : t.tls);
  const s = tcpConnect({ host, port });
  s.on('error', () => undefined);
  // Whatever the server sends is read and dropped, so that only the server decides when it ends.
  s.resume();
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('close', () => reject(new Error(`${kind}: closed before connecting`)));
  });
  const openedAt = Date.now();
  let trickle: NodeJS.Timeout | undefined;
  const closed = new Promise<number>((resolve) =>
    s.once('close', () => {
      clearInterval(trickle);
      resolve(Date.now() - openedAt);
    }),
  );
  if (kind === 'tls-partial-hello') s.write(t.hello.subarray(0, Math.floor(t.hello.length / 2)));
  if (kind === 'tls-trickled-hello') {
    // Never the last byte: the handshake must not be able to finish.
    let next = 0;
    trickle = setInterval(() => {
      if (next < t.hello.length - 1 && !s.destroyed) s.write(t.hello.subarray(next, ++next));
    }, trickleEveryMs);
  }
  return {
    kind,
    closed,
    destroy: () => {
      clearInterval(trickle);
      s.destroy();
    },
  };
}
