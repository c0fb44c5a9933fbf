import { once, type EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { caOf, mqttsUrl } from './fleet.js';
import type { StartedServer } from './server.js';

/**
 * MQTT.js devices for end-to-end tests, and bounded waits built on events (no fixed sleeps).
 */

export const WAIT_MS = 10_000;

/** MQTT.js's typed emitter, as the EventEmitter it is at run time (for events.once). */
export const emitter = (client: MqttClient): EventEmitter => client as unknown as EventEmitter;

/** Options of a device the way Google's Node sample connects: MQTT 3.1.1, TLS, `unused` username. */
export function deviceOptions(server: StartedServer, clientId: string, password: string, extra: IClientOptions = {}): IClientOptions {
  return {
    clientId,
    username: 'unused',
    password,
    protocolVersion: 4,
    clean: true,
    ca: caOf(server),
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    keepalive: 60,
    ...extra,
  };
}

/** The first of `events` that `emitter` emits within `timeoutMs`; every listener is removed after. */
export function firstEvent(emitter: EventEmitter, events: readonly string[], timeoutMs = WAIT_MS): Promise<{ event: string; args: unknown[] }> {
  return new Promise((resolve, reject) => {
    const listeners = new Map<string, (...args: unknown[]) => void>();
    const cleanup = (): void => {
      clearTimeout(timer);
      for (const [e, l] of listeners) emitter.off(e, l);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`none of ${events.join(', ')} within ${timeoutMs} ms`));
    }, timeoutMs);
    for (const event of events) {
      const l = (...args: unknown[]): void => {
        cleanup();
        resolve({ event, args });
      };
      listeners.set(event, l);
      emitter.on(event, l);
    }
  });
}

/** Connects and resolves once CONNACK 0 arrived; rejects with the client's error otherwise. */
export async function connectDevice(server: StartedServer, clientId: string, password: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(mqttsUrl(server), deviceOptions(server, clientId, password, extra));
  // An 'error' without a listener would throw out of the emitter; tests look at 'close' instead.
  client.on('error', () => undefined);
  closes.set(client, once(emitter(client), 'close').then(() => undefined));
  const r = await firstEvent(emitter(client), ['connect', 'error', 'close']);
  if (r.event !== 'connect') {
    client.end(true);
    throw r.args[0] instanceof Error ? r.args[0] : new Error(`connection ${r.event} before CONNACK`);
  }
  return client;
}

/** Connects expecting a refusal: resolves with the error MQTT.js reports (e.g. CONNACK 5). */
export async function connectRefused(server: StartedServer, clientId: string, password: string): Promise<Error & { code?: number }> {
  const client = mqtt.connect(mqttsUrl(server), deviceOptions(server, clientId, password));
  client.on('error', () => undefined);
  try {
    const r = await firstEvent(emitter(client), ['connect', 'error', 'close']);
    if (r.event !== 'error') throw new Error(`expected a refusal, got '${r.event}'`);
    return r.args[0] as Error & { code?: number };
  } finally {
    client.end(true);
  }
}

const closes = new WeakMap<MqttClient, Promise<void>>();

/** Resolves when the connection has closed (the 'close' event, even one already past); bounded. */
export async function closedByServer(client: MqttClient, timeoutMs = WAIT_MS): Promise<void> {
  const closed = closes.get(client) ?? once(emitter(client), 'close').then(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the connection was not closed within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Received {
  topic: string;
  payload: Buffer;
  qos: number;
  dup: boolean;
}

/** Every message a client receives, in order, with a bounded wait for the next one. */
export class Inbox {
  private readonly queue: Received[] = [];
  private readonly waiters: ((m: Received) => void)[] = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const m: Received = { topic, payload: Buffer.from(payload), qos: packet.qos, dup: packet.dup };
      const w = this.waiters.shift();
      if (w) w(m);
      else this.queue.push(m);
    });
  }

  get size(): number {
    return this.queue.length;
  }

  async next(timeoutMs = WAIT_MS): Promise<Received> {
    const queued = this.queue.shift();
    if (queued) return queued;
    return new Promise<Received>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no MQTT message within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (m: Received): void => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(done);
    });
  }
}

/**
 * Polls `probe` until it returns a value that is not undefined, at most `timeoutMs`. For state that
 * is written asynchronously by the server (coalesced activity timestamps): there is no event to
 * wait on from outside the process.
 */
export async function pollFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_MS, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Ends a client if it is still open, without waiting for the server. */
export async function endQuietly(client: MqttClient | undefined): Promise<void> {
  if (!client) return;
  await client.endAsync(true).catch(() => undefined);
}
