import { startNats, type TestNats } from './nats.js';
import { startPostgres, type TestPostgres } from './postgres.js';
import { startServer, type StartedServer } from './server.js';

/**
 * A Bridgehead cluster as an operator runs one: a real PostgreSQL and a real `nats-server -js`,
 * and several real server processes pointed at both (each with its own data dir and ports), every
 * one also serving plaintext gRPC to anonymous callers (the emulator path the Pub/Sub tests use).
 */
export interface TestCluster {
  pg: TestPostgres;
  nats: TestNats;
  /** The database every node shares. */
  storeUrl: string;
  nodes: StartedServer[];
  /** Starts one more node (or one again, after a kill: same name, a new process and data dir). */
  startNode(name: string, extraArgs?: string[]): Promise<StartedServer>;
  /** The arguments a node of this cluster is started with. */
  nodeArgs(name: string): string[];
  cleanup(): Promise<void>;
}

export async function startCluster(opts: { nodes?: number; args?: string[]; fastPostgres?: boolean } = {}): Promise<TestCluster> {
  const pg = await startPostgres({ fast: opts.fastPostgres ?? false });
  let nats: TestNats | undefined;
  const nodes: StartedServer[] = [];
  try {
    nats = await startNats();
    const storeUrl = await pg.createDatabase('bridgehead');
    const natsUrl = nats.url;
    const nodeArgs = (name: string): string[] => [
      '--store',
      storeUrl,
      '--nats',
      natsUrl,
      '--node-id',
      name,
      '--grpc-listen',
      '127.0.0.1:0',
      '--grpc-anonymous',
      ...(opts.args ?? []),
    ];
    const startNode = async (name: string, extraArgs: string[] = []): Promise<StartedServer> => {
      const node = await startServer({ args: [...nodeArgs(name), ...extraArgs] });
      nodes.push(node);
      return node;
    };
    // One after another: the first runs the migrations, the others find them done (concurrent starts have their own test).
    for (let i = 0; i < (opts.nodes ?? 3); i++) await startNode(`node-${String.fromCharCode(97 + i)}`);
    const started = nats;
    return {
      pg,
      nats: started,
      storeUrl,
      nodes,
      startNode,
      nodeArgs,
      async cleanup() {
        await Promise.all(nodes.map((n) => n.cleanup()));
        await started.cleanup();
        await pg.cleanup();
      },
    };
  } catch (e) {
    await Promise.all(nodes.map((n) => n.cleanup()));
    await nats?.cleanup();
    await pg.cleanup();
    throw e;
  }
}
