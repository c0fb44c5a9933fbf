import type { Socket } from 'node:net';
import type { Server } from 'node:tls';

/**
 * What both floor servers (bare-tls-server.ts, floor-device-server.ts) do around their own work:
 * listen on a free loopback port, print it (and the pid) as one JSON line for the bench, and on
 * SIGTERM close every socket, run `cleanup` and exit.
 */
export function listenForBench(server: Server, sockets: Set<Socket>, cleanup: () => void = () => undefined): void {
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a !== null ? a.port : 0, pid: process.pid })}\n`);
  });
  process.on('SIGTERM', () => {
    for (const s of sockets) s.destroy();
    server.close(() => {
      cleanup();
      process.exit(0);
    });
  });
}
