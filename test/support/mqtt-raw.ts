import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { hostPort } from './mqtt-processes.js';

/**
 * Raw TCP sockets to the plain MQTT listener, for feeding the server bytes no client library
 * would send. Every wait is bounded.
 */

export interface RawSocket {
  socket: Socket;
  /** Everything the server sent. */
  received: () => Buffer;
  /** Resolves with the time (ms since open) at which the server closed the connection. */
  closed: Promise<number>;
  openedAt: number;
}

export async function openRaw(url: string, timeoutMs = 5000): Promise<RawSocket> {
  const { host, port } = hostPort(url);
  const socket = connect({ host, port });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  // A reset from the server is one way of closing; 'close' follows it.
  socket.on('error', () => undefined);
  const openedAt = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - openedAt)));
  await connectedWithin(socket, url, timeoutMs);
  return { socket, received: () => Buffer.concat(chunks), closed, openedAt };
}

/** Waits (bounded) for the server to close the socket; resolves with ms since it was opened. */
export async function closedWithin(raw: Pick<RawSocket, 'closed'>, timeoutMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      raw.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the server did not close the socket within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the server has sent at least `n` bytes (bounded). */
export async function receivedAtLeast(raw: RawSocket, n: number, timeoutMs = 5000): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  while (raw.received().length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} bytes from the server, got ${raw.received().length}`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 50);
      raw.socket.once('data', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
  return raw.received();
}

export const encode = (p: Packet): Buffer => mqttPacket.generate(p);

/** Parses every complete packet in `bytes` (MQTT 3.1.1). */
export function decodeAll(bytes: Buffer): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const out: Packet[] = [];
  parser.on('packet', (p: Packet) => out.push(p));
  parser.parse(bytes);
  return out;
}

/** Deterministic pseudo-random bytes (mulberry32), so a failing run can be replayed. */
export function pseudoRandomBytes(n: number, seed: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

/** Resolves once `socket` has connected; rejects on its error or after `timeoutMs`. */
export function connectedWithin(socket: Socket, url: string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no TCP connection to ${url} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
