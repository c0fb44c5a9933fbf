import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamMessageLog } from '../../../src/adapters/jetstream/jetstream-message-log.js';
import { JetStreamNames } from '../../../src/adapters/jetstream/jetstream-names.js';
import { JetStreamSink, type JetStreamSinkOptions } from '../../../src/adapters/jetstream/jetstream-sink.js';
import { JetStreamStreams, type StreamLimits } from '../../../src/adapters/jetstream/jetstream-streams.js';

/** Both sides of the JetStream log on one connection, as a node wires them. */
export interface JetStreamLog {
  nc: NatsConnection;
  streams: JetStreamStreams;
  sink: JetStreamSink;
  log: JetStreamMessageLog;
  /** Closes the sink, the log and the connection. */
  close(): Promise<void>;
}

/** Reconnects for ever, quickly: the fault tests restart nats-server under a live connection. */
export function connectNats(url: string): Promise<NatsConnection> {
  return connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 2_000 });
}

export async function openJetStreamLog(
  url: string,
  opts: { sink?: Partial<Omit<JetStreamSinkOptions, 'nc' | 'streams'>>; limits?: StreamLimits; timeoutMs?: number } = {},
): Promise<JetStreamLog> {
  const nc = await connectNats(url);
  const streams = new JetStreamStreams(nc, new JetStreamNames(), opts.limits ?? {}, opts.timeoutMs ?? 2_000);
  const sink = new JetStreamSink({ nc, streams, nodeId: 'node-test', ...opts.sink });
  const log = new JetStreamMessageLog({ nc, streams, timeoutMs: opts.timeoutMs ?? 2_000 });
  return {
    nc,
    streams,
    sink,
    log,
    async close() {
      await sink.close();
      log.close();
      await nc.close();
    },
  };
}

/** Deletes every stream: stream names do not depend on anything a test could vary, so each test starts from none. */
export async function deleteAllStreams(url: string): Promise<void> {
  const nc = await connectNats(url);
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) await jsm.streams.delete(name);
  } finally {
    await nc.close();
  }
}
