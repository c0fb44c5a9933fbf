import type { FastifyInstance } from 'fastify';

/** One dependency's reachability: the PostgreSQL store, the NATS bus, the JetStream log, an embedded file. */
export interface DependencyHealth {
  ok: boolean;
  /** What kind of dependency it is ("PostgreSQL") and, when not ok, why; never a host, path or password (the routes need no credential). */
  detail: string;
}

export type HealthChecks = () => Promise<Record<string, DependencyHealth>>;

/**
 * `/healthz` (liveness: 200 while the process serves HTTP, with each dependency's state, so that a
 * restart is never the answer to a database outage) and `/readyz` (readiness: 503 while any
 * dependency is unreachable, so a load balancer sends new devices and calls to another node).
 * Neither needs a credential; neither says more than which dependency is down.
 */
export function registerHealthRoutes(app: FastifyInstance, opts: { checks: HealthChecks; timeoutMs?: number }): void {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const run = async (): Promise<Record<string, DependencyHealth>> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Record<string, DependencyHealth>>((resolve) => {
      timer = setTimeout(() => resolve({ checks: { ok: false, detail: `no answer within ${timeoutMs} ms` } }), timeoutMs);
    });
    try {
      return await Promise.race([opts.checks(), late]);
    } catch (e) {
      return { checks: { ok: false, detail: (e as Error)?.message ?? String(e) } };
    } finally {
      clearTimeout(timer);
    }
  };
  app.get('/healthz', async () => {
    const checks = await run();
    return { status: Object.values(checks).every((c) => c.ok) ? 'ok' : 'degraded', checks };
  });
  app.get('/readyz', async (_request, reply) => {
    const checks = await run();
    const ready = Object.values(checks).every((c) => c.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks });
  });
}
