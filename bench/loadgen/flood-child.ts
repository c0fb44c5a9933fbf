import { connect as tlsConnect } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { hostPort } from '../../test/support/mqtt-processes.js';
import { openStalled, STALL_KINDS, type StallKind, type StalledSocket, type StallTargets } from '../../test/support/stalled-sockets.js';

/**
 * The attackers of the `flood` bench, in a process of their own (as an attack comes from other
 * machines): neither their CPU time, their GC nor their messages land on the event loop that
 * times the healthy device. Opens `perKind` stalled sockets of every kind, interleaved, at most
 * `concurrency` opening at once, then reports each close by the server; sockets still open at
 * `deadlineMs` are destroyed and reported as such. With `slowReader`, also connects a device
 * that stops reading and, `afterMs` into the flood, sends its SUBSCRIBEs (made before anything is
 * timed). Started with `fork`; takes its job as the first IPC message and answers over IPC.
 */

export interface SlowReaderJob {
  clientId: string;
  jwt: string;
  topic: string;
  subscribes: number;
  afterMs: number;
}

export interface FloodJob {
  targets: { plain: string; tls: string; ca: string; hello: number[] };
  perKind: number;
  concurrency: number;
  /** Sockets opened per second at most (undefined: as fast as the concurrency allows). */
  perSecond?: number;
  /** Ms after the start at which sockets still open are given up on. */
  deadlineMs: number;
  slowReader?: SlowReaderJob;
}

export type FloodMessage =
  /** Loaded, waiting for its job. */
  | { type: 'ready' }
  /** The job's preparations are done and its clock has started. */
  | { type: 'started' }
  | { type: 'opened'; count: number; failed: number; ms: number }
  | { type: 'closed'; kind: StallKind; afterMs: number }
  | { type: 'slow-sent' }
  | { type: 'slow-failed'; error: string }
  | { type: 'done'; stillOpen: Record<StallKind, number> };

const send = (m: FloodMessage): void => void process.send?.(m);

async function flood(job: FloodJob, targets: StallTargets): Promise<void> {
  const t0 = Date.now();
  const kinds: StallKind[] = [];
  for (let i = 0; i < job.perKind; i++) kinds.push(...STALL_KINDS);
  const open: StalledSocket[] = [];
  const pending = new Set<StalledSocket>();
  let failed = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < kinds.length) {
      const i = next++;
      const kind = kinds[i]!;
      if (job.perSecond !== undefined) {
        const wait = t0 + (i * 1000) / job.perSecond - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      try {
        const s = await openStalled(kind, targets);
        open.push(s);
        pending.add(s);
        void s.closed.then((afterMs) => {
          // Not one we gave up on and destroyed ourselves.
          if (!pending.delete(s)) return;
          send({ type: 'closed', kind, afterMs });
        });
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  send({ type: 'opened', count: open.length, failed, ms: Date.now() - t0 });
  const deadline = t0 + job.deadlineMs;
  while (pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const stillOpen = Object.fromEntries(STALL_KINDS.map((k) => [k, 0])) as Record<StallKind, number>;
  const left = [...pending];
  pending.clear();
  for (const s of left) {
    stillOpen[s.kind]++;
    s.destroy();
  }
  send({ type: 'done', stillOpen });
}

/** The slow reader over TLS: CONNECT, then it stops reading and, `afterMs` in, sends its SUBSCRIBEs. */
async function slowReader(job: SlowReaderJob, subscribes: Buffer, targets: StallTargets, startedAt: number): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(0, startedAt + job.afterMs - Date.now())));
  const { host, port } = hostPort(targets.tls);
  const socket = tlsConnect({ host, port, ca: targets.ca, servername: 'localhost' });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('close', () => reject(new Error('slow reader: closed during the handshake')));
  });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const connack = new Promise<void>((resolve) => parser.once('packet', (p: Packet) => (p.cmd === 'connack' ? resolve() : undefined)));
  socket.on('data', (d: Buffer) => parser.parse(d));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: job.clientId, keepalive: 60, username: 'unused', password: Buffer.from(job.jwt) }));
  await connack;
  socket.pause();
  socket.write(subscribes);
  send({ type: 'slow-sent' });
}

process.once('message', (job: FloodJob) => {
  const targets: StallTargets = { ...job.targets, hello: Buffer.from(job.targets.hello) };
  const slow = job.slowReader;
  // Made before the clock starts: encoding them takes a while.
  const subscribes =
    slow === undefined
      ? Buffer.alloc(0)
      : Buffer.concat(Array.from({ length: slow.subscribes }, (_, i) => mqttPacket.generate({ cmd: 'subscribe', messageId: (i % 65_535) + 1, subscriptions: [{ topic: slow.topic, qos: 0 }] })));
  const startedAt = Date.now();
  send({ type: 'started' });
  if (slow !== undefined) {
    slowReader(slow, subscribes, targets, startedAt).catch((e: unknown) => send({ type: 'slow-failed', error: e instanceof Error ? e.message : String(e) }));
  }
  // The parent ends this process once it has what it needs; the sockets go with it.
  void flood(job, targets);
});
send({ type: 'ready' });
