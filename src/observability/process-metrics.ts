import { readdir } from 'node:fs/promises';
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default metrics that cost a scrape time in proportion to the open connections, on
 * the event loop: `_getActiveHandles()` and `getActiveResourcesInfo()` build an entry per socket
 * and timer (each asked twice per scrape), and `process_open_fds` lists /proc/self/fd
 * synchronously. With 6,000 sockets open, one scrape stalled every connection for about 40 ms
 * (flood bench). `bridgehead_mqtt_connections_open` counts what matters of the handles.
 */
const PER_CONNECTION_METRICS = ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total', 'process_open_fds'];

/**
 * Node's process metrics under `prefix` (docs/compat.md C-METRICS-PROCESS), less those whose
 * scrape grows with the connections; the open file descriptors are still counted, with the
 * directory listed on libuv's thread pool.
 */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of PER_CONNECTION_METRICS) registry.removeSingleMetric(prefix + name);
  if (process.platform !== 'linux') return;
  new Gauge({
    name: `${prefix}process_open_fds`,
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        // The listing counts the descriptor it reads the directory through.
        this.set((await readdir('/proc/self/fd')).length - 1);
      } catch {
        // Not readable here (a sandbox): the gauge keeps its last value.
      }
    },
  });
}
