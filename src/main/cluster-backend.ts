import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { redactUrl, type Config } from '../config/schema.js';
import { NatsBus } from '../adapters/bus/nats-bus.js';
import { JetStreamMessageLog } from '../adapters/jetstream/jetstream-message-log.js';
import { JetStreamNames } from '../adapters/jetstream/jetstream-names.js';
import { JetStreamSink } from '../adapters/jetstream/jetstream-sink.js';
import { JetStreamStreams } from '../adapters/jetstream/jetstream-streams.js';
import { JetStreamSubscriptionEngine } from '../adapters/jetstream/jetstream-subscription-engine.js';
import { systemTimers } from '../adapters/timers/system-timers.js';
import type { Backend, DependencyHealth, PostgresStores } from './backend.js';

/** How long a starting node waits for NATS (a server starting beside it) before giving up. */
const CONNECT_TIMEOUT_MS = 5_000;
const STARTUP_WAIT_MS = 30_000;

/**
 * Cluster mode (issue 12): PostgreSQL for the registry and Pub/Sub resources (opened by the
 * caller), NATS for the bus between nodes, JetStream for the durable event log and the Pub/Sub
 * subscriptions' consumers. Two NATS connections per node: the bus's, and one the JetStream
 * parts share; both reconnect forever, so a NATS restart is ridden out without a node restart.
 */
export async function openClusterMessaging(pg: PostgresStores, config: Config, logger: Logger, nodeId: string): Promise<Backend> {
  const shown = config.nats.map(redactUrl).join(',');
  const log = logger.child({ component: 'cluster' });
  const bus = await withStartupRetry(
    () =>
      NatsBus.connect({
        servers: config.nats,
        prefix: config.natsPrefix,
        name: `bridgehead ${nodeId} bus`,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        onStatus: (status) => log.warn({ nats: shown, status }, `NATS bus ${status}`),
        onError: (err) => log.warn({ err }, 'unreadable bus message dropped'),
      }),
    shown,
    log,
  );
  let nc: NatsConnection | undefined;
  try {
    nc = await withStartupRetry(
      () =>
        connect({
          servers: config.nats,
          name: `bridgehead ${nodeId} jetstream`,
          timeout: CONNECT_TIMEOUT_MS,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          pingInterval: 5_000,
          maxPingOut: 3,
          // Otherwise every request (a PubAck per telemetry message) builds two Error objects with
          // stack traces up front, in case it fails: a third of a node's CPU under QoS 1 load.
          noAsyncTraces: true,
        }),
      shown,
      log,
    );
    const jsLink = { up: true };
    void followStatus(nc, shown, log, jsLink);
    const names = new JetStreamNames(config.natsPrefix);
    const streams = new JetStreamStreams(nc, names, {
      replicas: config.jetstreamReplicas,
      maxAgeMs: config.eventRetentionHours * 3600_000,
      maxBytes: config.jetstreamMaxBytes > 0 ? config.jetstreamMaxBytes : -1,
    });
    const sink = new JetStreamSink({ nc, streams, nodeId });
    const messageLog = new JetStreamMessageLog({ nc, streams, onError: (err) => log.warn({ err }, 'event log watcher failed') });
    const jsConnection = nc;
    const natsHealth = (): DependencyHealth =>
      jsConnection.isClosed()
        ? { ok: false, detail: 'NATS JetStream: closed' }
        : !jsLink.up
          ? { ok: false, detail: 'NATS JetStream: disconnected' }
          : { ok: true, detail: 'NATS JetStream' };
    return {
      store: pg.store,
      bus,
      sink,
      pubsubStore: pg.pubsubStore,
      messageLog,
      newEngine: ({ clock, onError }) => new JetStreamSubscriptionEngine({ nc: jsConnection, names, store: pg.pubsubStore, sink, clock, timers: systemTimers, onError }),
      where: { database: pg.shown, pubsubDatabase: pg.shown, eventLog: `${shown} (JetStream)` },
      async health() {
        // Side by side: a dependency that is slow to answer must not hide the state of the others.
        const [store, log] = await Promise.all([pg.health(), jetStreamHealth(streams, natsHealth())]);
        return {
          store,
          bus: bus.isConnected() ? { ok: true, detail: 'NATS' } : { ok: false, detail: 'NATS: disconnected' },
          log,
        };
      },
      deviceSessionsBlocked: () =>
        !bus.isConnected() ? 'this node is cut off from NATS (the bus)' : !jsLink.up || jsConnection.isClosed() ? 'this node is cut off from NATS JetStream (the telemetry log)' : undefined,
      async close() {
        await sink.close();
        messageLog.close();
        await jsConnection.drain().catch(() => jsConnection.close());
        await bus.close();
        await pg.close();
      },
    };
  } catch (e) {
    await nc?.close().catch(() => undefined);
    await bus.close();
    throw e;
  }
}

/** JetStream answers (not only the TCP connection): a node whose NATS lost JetStream is not ready. */
async function jetStreamHealth(streams: JetStreamStreams, connection: DependencyHealth): Promise<DependencyHealth> {
  if (!connection.ok) return connection;
  let timer: NodeJS.Timeout | undefined;
  try {
    const jsm = await streams.manager();
    // Within the health route's own bound (2 s), so that the answer still names this dependency.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer within 1 s')), 1_000);
    });
    await Promise.race([jsm.getAccountInfo(), late]);
    return connection;
  } catch (e) {
    return { ok: false, detail: `NATS JetStream: ${(e as Error)?.message ?? 'error'}` };
  } finally {
    clearTimeout(timer);
  }
}

/** Logs the JetStream connection's drops and returns, and keeps `link.up` in step with them. */
async function followStatus(nc: NatsConnection, shown: string, log: Logger, link: { up: boolean }): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === 'disconnect' || s.type === 'reconnect') {
      link.up = s.type === 'reconnect';
      log.warn({ nats: shown, status: s.type }, `NATS JetStream connection: ${s.type}`);
    }
  }
}

async function withStartupRetry<T>(open: () => Promise<T>, shown: string, log: Logger): Promise<T> {
  const deadline = Date.now() + STARTUP_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`nats ${shown}: NATS did not accept connections within ${STARTUP_WAIT_MS / 1000} s (${(e as Error).message})`, { cause: e });
      log.warn({ nats: shown, attempt, err: { message: (e as Error).message } }, 'waiting for NATS');
      await new Promise((r) => setTimeout(r, Math.min(2000, 250 * attempt)));
    }
  }
}
