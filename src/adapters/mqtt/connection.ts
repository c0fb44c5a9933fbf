import type { Socket } from 'node:net';
import mqtt, { type Packet } from 'mqtt-packet';
import { MqttSession } from './session.js';
import type { SessionEnv, SessionTransport } from './session-types.js';

/** The parts of mqtt-packet's parser state we read to refuse oversized packets early. */
interface ParserInternals {
  packet: { length: number };
}

/**
 * Owns one socket and its one mqtt-packet parser for the connection's whole life, and carries out
 * what the session asks.
 */
export class MqttConnection implements SessionTransport {
  readonly session: MqttSession;
  private readonly parser = mqtt.parser({ protocolVersion: 4 });
  private out: Buffer[] = [];
  private flushScheduled = false;
  private ended = false;

  constructor(
    private readonly socket: Socket,
    env: SessionEnv,
    connId: string,
    private readonly maxPacketBytes: number,
    onClosed: (c: MqttConnection) => void,
  ) {
    this.session = new MqttSession(env, this, connId);
    this.parser.on('packet', (packet: Packet) => {
      try {
        this.session.handle(packet);
      } catch (err) {
        // Our bug, not the peer's: this connection ends, the process and everyone else go on.
        this.session.log.error({ err, cmd: packet.cmd }, 'bug while handling an MQTT packet');
        this.session.close('protocol-error');
        this.destroy();
      }
    });
    this.parser.on('error', () => {
      // Any codec error ends the connection: there is no resynchronising a byte stream.
      this.session.close('protocol-error');
      this.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', (hadError) => {
      this.ended = true;
      this.session.socketClosed(hadError ? 'socket-error' : 'socket-closed');
      onClosed(this);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.parser.parse(chunk);
    // The declared remaining length is known as soon as the fixed header is in: refuse a huge
    // packet before buffering it (spec §5.8; docs/compat.md C-MQTT-MAXPACKET).
    const declared = (this.parser as unknown as ParserInternals).packet.length;
    if (declared > this.maxPacketBytes) {
      this.session.close('packet-too-large');
      this.destroy();
    }
  }

  send(packet: Packet): void {
    if (this.ended || this.socket.destroyed) return;
    this.out.push(mqtt.generate(packet));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushOut);
    }
  }

  /**
   * Everything sent in one turn (e.g. the PUBACKs of one commit) leaves in one write: one syscall
   * and, on TLS, one record instead of one per packet.
   */
  private readonly flushOut = (): void => {
    this.flushScheduled = false;
    const chunks = this.out;
    this.out = [];
    if (this.ended || this.socket.destroyed || chunks.length === 0) return;
    this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  };

  close(): void {
    if (this.ended) return;
    // What the session sent last (a CONNACK refusing the connection) must precede the FIN.
    this.flushOut();
    this.ended = true;
    this.socket.end();
    // A peer that never closes its side must not hold the socket forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.ended = true;
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.ended) this.socket.resume();
  }
}
