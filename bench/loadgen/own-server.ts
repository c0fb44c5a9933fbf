import { startServer, type StartedServer } from '../../test/support/server.js';

/**
 * Runs `run` against a server of the section's own (fresh data dir, loopback port 0, `args`
 * added), and stops it and removes its data whatever happens; killed if the bench process ends
 * abruptly.
 */
export async function withOwnServer<T>(args: readonly string[], run: (server: StartedServer) => Promise<T>): Promise<T> {
  const server = await startServer({ args: [...args] });
  const kill = (): void => void server.process.kill('SIGKILL');
  process.once('exit', kill);
  try {
    return await run(server);
  } finally {
    process.removeListener('exit', kill);
    const timer = setTimeout(kill, 10_000);
    await server.cleanup();
    clearTimeout(timer);
  }
}

/** Whether the server process is still running. */
export const alive = (server: StartedServer): boolean => server.process.exitCode === null && server.process.signalCode === null;

/** Lines of the server's stderr that report a bug it contained at one connection (docs/compat.md C-MQTT-FAULTS). */
export const containedBugs = (server: StartedServer): string[] => server.stderr().split('\n').filter((l) => l.includes('"msg":"bug'));
