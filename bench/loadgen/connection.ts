import mqtt from 'mqtt-packet';
import type { IConnectPacket, Packet, Parser } from 'mqtt-packet';
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';

/** Where and how a load-generator connection dials. */
export interface DialSpec {
  transport: 'tls' | 'plain';
  host: string;
  port: number;
  /** PEM of the CA that signed the server certificate (TLS only). */
  caPem?: string;
  /** SNI / name checked in the certificate. */
  servername?: string;
}

/** The identity a simulated device presents in CONNECT. */
export interface DeviceLogin {
  deviceId: string;
  clientId: string;
  username: string;
  /** The device JWT (Bridgehead); passed to Mosquitto too, which ignores it. */
  password: string;
}

export interface ConnectOutcome {
  tlsProtocol: string | null;
  cipher: string | null;
}

/** Called for each PUBLISH the server sends (after the PUBACK for QoS 1 has been queued). */
export type MessageHandler = (topic: string, payload: Buffer, at: number) => void;

const MQTT_V311 = 4 as const;

// One client SecureContext per CA: passing `ca` to every tls.connect would parse the PEM and build
// a certificate store per connection, which costs the load generator more than the handshake.
const contexts = new Map<string, SecureContext>();
function clientContext(caPem: string | undefined): SecureContext {
  const key = caPem ?? '';
  let ctx = contexts.get(key);
  if (ctx === undefined) {
    ctx = createSecureContext(caPem === undefined ? {} : { ca: caPem });
    contexts.set(key, ctx);
  }
  return ctx;
}

/**
 * One simulated device: a raw socket, one mqtt-packet parser for its whole life, and just the
 * client side of MQTT 3.1.1 a device needs (CONNECT, PUBLISH QoS 1 in a window, SUBSCRIBE,
 * PUBACK for what the server sends). Nothing here allocates per telemetry message except what
 * the parser does.
 */
export class LoadConnection {
  readonly login: DeviceLogin;
  private socket: Socket | TLSSocket | null = null;
  private readonly parser: Parser;
  private closed = false;
  private closeReason: string | null = null;
  private pendingConnack: { resolve: (o: ConnectOutcome) => void; reject: (e: Error) => void } | null = null;
  private readonly pendingSuback = new Map<number, (granted: number[]) => void>();
  private nextControlId = 60_000;

  // Telemetry window state: message ids 1..W are the window slots, reused as each PUBACK frees one.
  // One pre-encoded PUBLISH per topic; successive messages rotate over the topics (a gateway
  // relays for many devices on one connection).
  private templates: Buffer[] = [];
  private idOffsets: number[] = [];
  private maxTemplateLength = 0;
  private nextTemplate = 0;
  private sentAt: Float64Array = new Float64Array(0);
  private freeIds: number[] = [];
  private sending = false;
  /** Acks not yet turned into new PUBLISHes (filled while parsing one chunk, flushed after it). */
  private pendingSends = 0;
  private inFlight = 0;
  onAck: ((latencyMs: number, at: number) => void) | null = null;
  /** PUBACK for a publishOnce/publishBatch message (ids of the control range). */
  onControlAck: ((messageId: number, at: number) => void) | null = null;
  onMessage: MessageHandler | null = null;
  /** Devices this connection relays for as a gateway (attached ones); empty for a plain device. */
  readonly relayFor: string[] = [];
  /** PUBACKs for ids not in flight (should stay 0). */
  strayAcks = 0;

  constructor(login: DeviceLogin) {
    this.login = login;
    this.parser = mqtt.parser({ protocolVersion: MQTT_V311 });
    this.parser.on('packet', (p: Packet) => this.onPacket(p));
    this.parser.on('error', (e: unknown) => this.fail(`parser error: ${e instanceof Error ? e.message : String(e)}`));
  }

  get isOpen(): boolean {
    return !this.closed && this.socket !== null;
  }

  get lastCloseReason(): string | null {
    return this.closeReason;
  }

  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Dials, sends CONNECT and resolves on CONNACK 0; rejects on anything else or after timeoutMs. */
  connect(dial: DialSpec, keepaliveSeconds: number, timeoutMs: number): Promise<ConnectOutcome> {
    return new Promise<ConnectOutcome>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no CONNACK within ${timeoutMs} ms`), timeoutMs);
      this.pendingConnack = {
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const connectPacket: IConnectPacket = {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: MQTT_V311,
        clean: true,
        clientId: this.login.clientId,
        keepalive: keepaliveSeconds,
        username: this.login.username,
        password: Buffer.from(this.login.password),
      };
      const bytes = mqtt.generate(connectPacket);
      let socket: Socket | TLSSocket;
      if (dial.transport === 'tls') {
        socket = tlsConnect({
          host: dial.host,
          port: dial.port,
          secureContext: clientContext(dial.caPem),
          servername: dial.servername ?? 'localhost',
          // No `session`: every device does a full handshake, as distinct devices would.
        });
        socket.once('secureConnect', () => socket.write(bytes));
      } else {
        socket = netConnect({ host: dial.host, port: dial.port });
        socket.once('connect', () => socket.write(bytes));
      }
      socket.setNoDelay(true);
      this.socket = socket;
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', (e: Error) => this.fail(`socket error: ${e.message}`));
      socket.on('close', () => this.fail('socket closed by peer'));
    });
  }

  /** SUBSCRIBE one filter and resolve with the granted QoS list. */
  subscribe(topic: string, qos: 0 | 1, timeoutMs: number): Promise<number[]> {
    const messageId = this.takeControlId();
    return new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingSuback.delete(messageId);
        reject(new Error(`no SUBACK within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingSuback.set(messageId, (granted) => {
        clearTimeout(timer);
        resolve(granted);
      });
      this.write(mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] }));
    });
  }

  /**
   * One-off QoS 0/1 PUBLISH outside the telemetry window (ids from the control range); returns
   * the packet id (0 for QoS 0), which onControlAck reports back with its PUBACK.
   */
  publishOnce(topic: string, payload: Buffer, qos: 0 | 1): number {
    return this.publishBatch([{ topic, payload }], qos)[0] ?? 0;
  }

  /**
   * Several PUBLISHes outside the telemetry window written at once, in order, as one buffer (a
   * pipelined burst); returns their packet ids. At most 5,000 QoS 1 messages may await a PUBACK.
   */
  publishBatch(messages: ReadonlyArray<{ topic: string; payload: Buffer }>, qos: 0 | 1): number[] {
    const ids: number[] = [];
    const frames = messages.map(({ topic, payload }) => {
      const packet = { cmd: 'publish' as const, topic, payload, qos, dup: false, retain: false };
      if (qos === 0) return mqtt.generate(packet);
      const messageId = this.takeControlId();
      ids.push(messageId);
      return mqtt.generate({ ...packet, messageId });
    });
    this.write(frames.length === 1 && frames[0] !== undefined ? frames[0] : Buffer.concat(frames));
    return qos === 0 ? messages.map(() => 0) : ids;
  }

  /**
   * Prepares the telemetry window: W slots, one pre-encoded PUBLISH per topic whose 2-byte packet
   * id is patched per send (the bytes are otherwise identical for every message to that topic).
   * With several topics, successive messages go to them in turn.
   */
  prepareTelemetry(topics: string | readonly string[], payload: Buffer, window: number): void {
    if (window < 1 || window > 30_000) throw new RangeError('window must be 1..30000');
    const list = typeof topics === 'string' ? [topics] : topics;
    if (list.length === 0) throw new RangeError('at least one telemetry topic is needed');
    this.templates = list.map((topic) => mqtt.generate({ cmd: 'publish', topic, payload, qos: 1, dup: false, retain: false, messageId: 1 }));
    this.idOffsets = this.templates.map((t) => t.length - payload.length - 2);
    this.maxTemplateLength = Math.max(...this.templates.map((t) => t.length));
    this.nextTemplate = 0;
    this.sentAt = new Float64Array(window + 1);
    this.freeIds = [];
    for (let id = window; id >= 1; id -= 1) this.freeIds.push(id);
    this.inFlight = 0;
  }

  /** Fills the window and keeps it full until stopSending(). */
  startSending(): void {
    this.sending = true;
    this.pendingSends = this.freeIds.length;
    this.flushSends();
  }

  stopSending(): void {
    this.sending = false;
  }

  /** Sends DISCONNECT and ends the socket; resolves when it is closed (or after timeoutMs). */
  close(timeoutMs: number): Promise<void> {
    const socket = this.socket;
    if (socket === null || this.closed) {
      this.closed = true;
      return Promise.resolve();
    }
    this.closed = true;
    this.closeReason ??= 'closed by load generator';
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, timeoutMs);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (!socket.destroyed && socket.writable) {
        socket.end(mqtt.generate({ cmd: 'disconnect' }));
      } else {
        socket.destroy();
      }
    });
  }

  /** Immediate teardown (deadline paths). */
  destroy(): void {
    this.closed = true;
    this.closeReason ??= 'destroyed by load generator';
    this.socket?.destroy();
  }

  private onData(chunk: Buffer): void {
    this.parser.parse(chunk);
    if (this.pendingSends > 0) this.flushSends();
  }

  private onPacket(packet: Packet): void {
    switch (packet.cmd) {
      case 'puback': {
        const id = packet.messageId ?? 0;
        if (id >= this.nextControlIdFloor()) {
          // ack of a control-range publish
          this.onControlAck?.(id, performance.now());
          return;
        }
        const sent = this.sentAt[id] ?? 0;
        if (sent === 0) {
          this.strayAcks += 1;
          return;
        }
        const now = performance.now();
        this.sentAt[id] = 0;
        this.inFlight -= 1;
        this.freeIds.push(id);
        if (this.sending) this.pendingSends += 1;
        this.onAck?.(now - sent, now);
        return;
      }
      case 'publish': {
        const at = performance.now();
        if (packet.qos === 1 && packet.messageId !== undefined) {
          this.write(mqtt.generate({ cmd: 'puback', messageId: packet.messageId }));
        }
        const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
        this.onMessage?.(packet.topic, payload, at);
        return;
      }
      case 'connack': {
        const pending = this.pendingConnack;
        this.pendingConnack = null;
        if (pending === null) return;
        const code = packet.returnCode ?? packet.reasonCode ?? 0;
        if (code === 0) {
          const tls = this.socket !== null && 'getProtocol' in this.socket ? this.socket : null;
          pending.resolve({ tlsProtocol: tls?.getProtocol() ?? null, cipher: tls?.getCipher()?.name ?? null });
        } else {
          pending.reject(new Error(`CONNACK return code ${code}`));
          this.destroy();
        }
        return;
      }
      case 'suback': {
        const id = packet.messageId ?? 0;
        const done = this.pendingSuback.get(id);
        this.pendingSuback.delete(id);
        done?.(packet.granted.map((g) => (typeof g === 'number' ? g : -1)));
        return;
      }
      case 'pingresp':
        return;
      default:
        this.fail(`unexpected ${packet.cmd} from server`);
    }
  }

  /** Writes as many PUBLISHes as acks freed slots, as one buffer (one write syscall per chunk read). */
  private flushSends(): void {
    const templates = this.templates;
    const n = Math.min(this.pendingSends, this.freeIds.length);
    this.pendingSends = 0;
    if (!this.sending || templates.length === 0 || n === 0 || !this.isOpen) return;
    const out = Buffer.allocUnsafe(this.maxTemplateLength * n);
    const now = performance.now();
    let base = 0;
    let t = this.nextTemplate;
    for (let k = 0; k < n; k += 1) {
      const id = this.freeIds.pop() ?? 0;
      const template = templates[t] ?? templates[0]!;
      const idOffset = this.idOffsets[t] ?? 0;
      t = t + 1 === templates.length ? 0 : t + 1;
      template.copy(out, base);
      out[base + idOffset] = id >> 8;
      out[base + idOffset + 1] = id & 0xff;
      base += template.length;
      this.sentAt[id] = now;
    }
    this.nextTemplate = t;
    this.inFlight += n;
    this.write(base === out.length ? out : out.subarray(0, base));
  }

  private write(bytes: Buffer): void {
    if (this.socket !== null && !this.closed && !this.socket.destroyed) this.socket.write(bytes);
  }

  private takeControlId(): number {
    const id = this.nextControlId;
    this.nextControlId = id >= 65_535 ? this.nextControlIdFloor() : id + 1;
    return id;
  }

  private nextControlIdFloor(): number {
    return 60_000;
  }

  private fail(reason: string): void {
    if (!this.closed) {
      this.closeReason ??= reason;
      this.closed = true;
    }
    const pending = this.pendingConnack;
    this.pendingConnack = null;
    pending?.reject(new Error(this.closeReason ?? reason));
    this.socket?.destroy();
  }
}
