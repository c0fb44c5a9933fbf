import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../domain/errors.js';
import type { ApiAuth } from '../../services/api-auth.js';
import type { MetricSample } from '../../observability/metrics-history.js';

export const METRICS_HISTORY_PATH = '/metrics/history';

export interface MetricsHistoryRouteOptions {
  auth: Pick<ApiAuth, 'authenticate'>;
  history: { intervalMs: number; list(): readonly MetricSample[] };
}

/**
 * `GET /metrics/history` (docs/compat.md C-CONSOLE-HISTORY): the last hour of the server's own
 * figures as JSON, for the console's overview charts. Unlike `/metrics` it always wants the admin
 * token, whatever metricsAccess says: it is served on the TLS API port too, where the console is.
 *
 *   -> {"intervalSeconds": 10, "samples": [{"time", "connectedDevices", "messagesInPerSecond",
 *       "messagesOutPerSecond", "errors"}]}   oldest first
 */
export function registerMetricsHistoryRoute(app: FastifyInstance, opts: MetricsHistoryRouteOptions): void {
  app.get(METRICS_HISTORY_PATH, async (request, reply) => {
    if ((await opts.auth.authenticate(request.headers.authorization)).kind !== 'admin') {
      throw new ApiError('PERMISSION_DENIED', `Only the admin token may read ${METRICS_HISTORY_PATH}.`, { reason: 'PERMISSION_DENIED' });
    }
    void reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store');
    return {
      intervalSeconds: opts.history.intervalMs / 1000,
      samples: opts.history.list().map(({ at, ...figures }) => ({ time: new Date(at).toISOString(), ...figures })),
    };
  });
}
