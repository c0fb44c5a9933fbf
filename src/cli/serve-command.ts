import type { Command } from 'commander';

interface ServeFlags {
  config?: string;
  dataDir?: string;
  apiListen?: string;
  adminToken?: string;
  logLevel?: string;
  metricsAccess?: string;
  mqttListen?: string[];
  mqttPlainListen?: string[];
  tlsCert?: string;
  tlsKey?: string;
  tlsHostname?: string[];
  tlsSni?: string[];
  apiTlsListen?: string;
  grpcListen?: string;
  httpBridgeListen?: string;
  httpBridgePlainListen?: string;
  httpBridgeMaxConnections?: string;
  grpcAnonymous?: boolean;
  mqttMaxMsgsPerSec?: string;
  mqttMaxConnections?: string;
  mqttMaxConnRate?: string;
  eventLogSync?: string;
  tokenUri?: string;
  pubsubAutoCreateTopics?: boolean;
  pushMaxOutstanding?: string;
  pushMaxSockets?: string;
  pushTokenIssuer?: string;
  pubsubForward?: string[];
  store?: string;
  nats?: string[];
  nodeId?: string;
  natsPrefix?: string;
  jetstreamReplicas?: string;
  jetstreamMaxBytes?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * `bridgehead serve`: what `npm start` runs. The config loader and the server are imported inside
 * the action: every other command shares this entry point, and the server's module graph
 * (fastify, better-sqlite3, pino, ...) takes most of a second to load (test/cli/lean-entry.test.ts).
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Bridgehead server (embedded SQLite store by default)')
    .option('--config <file>', 'JSON config file (also BRIDGEHEAD_CONFIG)')
    .option('--data-dir <dir>', 'data directory (default ./data)')
    .option('--api-listen <host:port>', 'admin REST API address (default 127.0.0.1:8080)')
    .option('--admin-token <token>', 'admin bearer token (also BRIDGEHEAD_ADMIN_TOKEN); generated into the data dir if unset')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (default info)')
    .option('--metrics-access <mode>', 'who may read /metrics: loopback (default: local callers free, others need the admin token), token, public')
    .option('--mqtt-listen <host:port>', 'MQTT over TLS listener, repeatable (default 0.0.0.0:8883)', collect)
    .option('--mqtt-plain-listen <host:port>', 'plain-TCP MQTT listener, repeatable (off by default)', collect)
    .option('--api-tls-listen <host:port>', 'gRPC and REST Device Manager API on one TLS port, e.g. 0.0.0.0:443 (off by default)')
    .option('--grpc-listen <host:port>', 'plaintext gRPC (h2c) Device Manager API, for a TLS-terminating proxy or local use (off by default)')
    .option('--http-bridge-listen <host:port>', 'HTTP device bridge over TLS (HTTP/2 and HTTP/1.1), e.g. 0.0.0.0:443 (off by default)')
    .option('--http-bridge-plain-listen <host:port>', 'HTTP device bridge in plaintext HTTP/1.1, for a TLS-terminating proxy or local use (off by default)')
    .option('--http-bridge-max-connections <n>', 'open connections per HTTP bridge listener (default 10000)')
    .option('--grpc-anonymous', 'calls without credentials on --grpc-listen get full rights (emulator convention; off by default)')
    .option('--tls-cert <file>', 'TLS certificate (PEM) for the MQTT and API TLS listeners; generated into the data dir if unset')
    .option('--tls-key <file>', 'TLS private key (PEM) matching --tls-cert')
    .option('--tls-hostname <name>', 'extra name for the generated server certificate, repeatable', collect)
    .option('--tls-sni <host=cert,key>', 'certificate (PEM files) for TLS clients naming HOST by SNI, repeatable; others get the default certificate', collect)
    .option('--mqtt-max-msgs-per-sec <n>', 'per-connection message limit, 0 = none (default 100)')
    .option('--mqtt-max-connections <n>', 'maximum open MQTT connections (default 10000)')
    .option('--mqtt-max-conn-rate <n>', 'new MQTT connections let in per second, 0 = no cap (default 1000)')
    .option('--event-log-sync <mode>', 'FULL (default) or NORMAL durability of the embedded event log')
    .option('--token-uri <url>', 'token endpoint URL written into service-account key files (default: the API URL the key was created through + /token)')
    .option('--no-pubsub-auto-create-topics', "don't create the Pub/Sub topics registries name; a missing topic is then a delivery error, as on Google")
    .option('--push-max-outstanding <n>', 'push subscriptions: POSTs in flight per subscription (default 10)')
    .option('--push-max-sockets <n>', 'push subscriptions: sockets to all push endpoints together (default 100)')
    .option('--push-token-issuer <iss>', 'iss of the tokens push requests carry (default https://accounts.google.com)')
    .option('--pubsub-forward <local=target[@endpoint]>', 'republish a local topic to Google Pub/Sub, repeatable; endpoint host:port (TLS, Google credentials) or http://host:port (plaintext, none)', collect)
    .option('--store <url>', 'registry and Pub/Sub resources: embedded (default, SQLite in the data dir) or postgres://user:pass@host/db (shared by a cluster)')
    .option('--nats <url>', 'NATS server with JetStream, repeatable or comma-separated: the bus between nodes and the durable event log (needs --store postgres://)', collect)
    .option('--node-id <name>', "this node's name in a cluster (default: host name plus a random suffix)")
    .option('--nats-prefix <token>', 'first token of every NATS subject, to share a NATS account (default bh)')
    .option('--jetstream-replicas <n>', "replicas of each project's JetStream stream (default 1)")
    .option('--jetstream-max-bytes <n>', "bytes a project's stream keeps at most, oldest dropped first; 0 = by age only (default 0)")
    .action(async (opts: ServeFlags, command: Command) => {
      const [{ loadConfig }, { ConfigError }, { lifecycleLine }] = await Promise.all([
        import('../config/loader.js'),
        import('../config/schema.js'),
        import('../main/lifecycle-log.js'),
      ]);
      let config;
      try {
        config = loadConfig({
          configFile: opts.config,
          dataDir: opts.dataDir,
          apiListen: opts.apiListen,
          adminToken: opts.adminToken,
          logLevel: opts.logLevel,
          metricsAccess: opts.metricsAccess,
          mqttListen: opts.mqttListen,
          mqttPlainListen: opts.mqttPlainListen,
          tlsCert: opts.tlsCert,
          tlsKey: opts.tlsKey,
          tlsHostnames: opts.tlsHostname,
          tlsSni: opts.tlsSni,
          apiTlsListen: opts.apiTlsListen,
          grpcListen: opts.grpcListen,
          httpBridgeListen: opts.httpBridgeListen,
          httpBridgePlainListen: opts.httpBridgePlainListen,
          httpBridgeMaxConnections: opts.httpBridgeMaxConnections,
          grpcAnonymous: opts.grpcAnonymous,
          mqttMaxMessagesPerSecond: opts.mqttMaxMsgsPerSec,
          mqttMaxConnections: opts.mqttMaxConnections,
          mqttMaxConnectionRate: opts.mqttMaxConnRate,
          eventLogSync: opts.eventLogSync,
          tokenUri: opts.tokenUri,
          // A --no-X flag defaults X to true; only an explicit flag may override the file and environment.
          pubsubAutoCreateTopics: command.getOptionValueSource('pubsubAutoCreateTopics') === 'cli' ? opts.pubsubAutoCreateTopics : undefined,
          pushMaxOutstandingPerSubscription: opts.pushMaxOutstanding,
          pushMaxSockets: opts.pushMaxSockets,
          pushTokenIssuer: opts.pushTokenIssuer,
          pubsubForwarding: opts.pubsubForward,
          store: opts.store,
          nats: opts.nats,
          nodeId: opts.nodeId,
          natsPrefix: opts.natsPrefix,
          jetstreamReplicas: opts.jetstreamReplicas,
          jetstreamMaxBytes: opts.jetstreamMaxBytes,
        });
      } catch (e) {
        if (e instanceof ConfigError) {
          lifecycleLine('fatal', `invalid configuration: ${e.problems.join('; ')}`, { problems: e.problems, exitCode: 2 }, 'fatal');
          process.exit(2);
        }
        throw e;
      }
      const level = config.logLevel;
      const [{ startServer }, { StartupError }, { lowerHelperThreads }] = await Promise.all([
        import('../main/server.js'),
        import('../main/startup-error.js'),
        import('../main/helper-threads.js'),
      ]);
      // Now, before the server starts threads of its own: those must keep the main thread's priority.
      const helpers = lowerHelperThreads(config.helperThreadPriority);
      if (config.helperThreadPriority === 'idle' && helpers.applied === 'low') {
        lifecycleLine('warn', `helperThreadPriority ${config.helperThreadPriority}: util-linux's chrt is missing or failed; helper threads run at nice 19 instead`, { helperThreads: helpers }, level);
      }
      let server;
      try {
        server = await startServer(config);
      } catch (e) {
        if (e instanceof StartupError) {
          lifecycleLine('fatal', e.message, { setting: e.setting, value: e.value, exitCode: 2 }, level);
          process.exit(2);
        }
        // Not the operator's doing: the stack is for the bug report.
        lifecycleLine('fatal', `startup failed: ${(e as Error)?.message ?? String(e)}`, { err: { type: (e as Error)?.name, stack: (e as Error)?.stack }, exitCode: 1 }, level);
        process.exit(1);
      }
      const running = server;
      const stop = (signal: string): void => {
        lifecycleLine('info', 'stopping', { signal }, level);
        running.close().then(
          () => {
            lifecycleLine('info', 'stopped', { signal }, level);
            process.exit(0);
          },
          (err: unknown) => {
            lifecycleLine('error', `error while stopping: ${(err as Error)?.message ?? String(err)}`, { err: { stack: (err as Error)?.stack } }, level);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      // systemd's ExecReload (kill -HUP): renewed certificates without a restart.
      process.on('SIGHUP', () => void running.reloadTls());
      // Only now: a script that signals the server as soon as it reads this line must find the handlers in place.
      process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), service: 'bridgehead', msg: 'listening', event: 'listening', pid: process.pid, ...running.info })}\n`);
    });
}
