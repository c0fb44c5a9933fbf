import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { MetricsAccess } from '../../config/schema.js';
import { ApiError } from '../../domain/errors.js';
import type { ApiAuth } from '../../services/api-auth.js';

export interface MetricsRouteOptions {
  access: MetricsAccess;
  auth: Pick<ApiAuth, 'authenticate'>;
  /** The exposition text (prom-client's `registry.metrics()`), served as `contentType`. */
  render: () => Promise<string>;
  contentType: string;
  /** Requests that must not see the route at all (those on the backend-facing TLS port). */
  hiddenFrom?: (request: FastifyRequest) => boolean;
}

/**
 * `GET /metrics` for Prometheus, guarded by the `metricsAccess` setting (docs/compat.md
 * C-METRICS-ACCESS). The default lets a scraper on the same host in without a token while the
 * API listens on every interface; a proxy on the same host makes every caller look local, which
 * is what `token` is for.
 */
export function registerMetricsRoute(app: FastifyInstance, opts: MetricsRouteOptions): void {
  app.get('/metrics', async (request, reply) => {
    if (opts.hiddenFrom?.(request)) return reply.callNotFound();
    const free = opts.access === 'public' || (opts.access === 'loopback' && isLoopback(request.socket.remoteAddress));
    // Thrown errors reach the server's error handler, which answers in Google's error JSON.
    if (!free && (await opts.auth.authenticate(request.headers.authorization)).kind !== 'admin') {
      // Server-wide figures are the operator's: no service account reads them.
      throw new ApiError('PERMISSION_DENIED', 'Only the admin token may read /metrics.', { reason: 'PERMISSION_DENIED' });
    }
    void reply.header('content-type', opts.contentType);
    return opts.render();
  });
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a dual-stack listener reports `::ffff:127.0.0.1`). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  if (address === '::1') return true;
  return /^(?:::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(address);
}
