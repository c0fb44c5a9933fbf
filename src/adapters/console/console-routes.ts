import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { answerBadUrlsUnder } from '../rest/api-server.js';

/**
 * The web console (docs/compat.md C-CONSOLE): the single-page app `npm run build` bundles into
 * dist/console, served at `/console` on the API's own listeners. It talks to the public REST API
 * with the bearer token the operator signs in with, so nothing here is authenticated: the files
 * hold no data. Hashed assets are cached for good, index.html never, and every other path under
 * /console is the app's own deep link (answered with index.html).
 */

export const CONSOLE_PATH = '/console';

/**
 * No inline script or style, nothing from elsewhere: the page can reach only this server. The
 * token the operator pastes lives in that page, so no other origin may frame or script it.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

interface StaticFile {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
}

interface Bundle {
  index: StaticFile;
  /** By name under assets/. */
  assets: Map<string, StaticFile>;
}

export interface ConsoleRoutesOptions {
  /** The build's output directory (dist/console). */
  dir: string;
}

function readFile(path: string): StaticFile {
  const gz = `${path}.gz`;
  return { body: readFileSync(path), gzip: existsSync(gz) ? readFileSync(gz) : undefined, type: TYPES[extname(path)] ?? 'application/octet-stream' };
}

/** The whole bundle, read once (some hundred kilobytes); undefined while not built. */
function loadBundle(dir: string): Bundle | undefined {
  const indexPath = join(dir, 'index.html');
  if (!existsSync(indexPath)) return undefined;
  const assets = new Map<string, StaticFile>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) {
    for (const name of readdirSync(assetDir)) if (!name.endsWith('.gz')) assets.set(name, readFile(join(assetDir, name)));
  }
  return { index: readFile(indexPath), assets };
}

export function registerConsoleRoutes(app: FastifyInstance, opts: ConsoleRoutesOptions): void {
  let bundle: Bundle | undefined;
  // Read at the first request, and again while missing: a server started before `npm run build` serves it once built.
  const current = (): Bundle | undefined => (bundle ??= loadBundle(opts.dir));

  const send = (request: FastifyRequest, reply: FastifyReply, file: StaticFile, cache: string): FastifyReply => {
    const gzip = file.gzip !== undefined && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    void reply
      .header('content-type', file.type)
      .header('cache-control', cache)
      .header('vary', 'accept-encoding')
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');
    if (gzip) void reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? file.gzip : file.body);
  };

  const notBuilt = (reply: FastifyReply): FastifyReply =>
    reply
      .code(404)
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', 'no-store')
      .send('The web console is not built on this server: run `npm run build` (it bundles console/ into dist/console), then reload.\n');

  /** `rest`: the path after `/console/`. */
  const serve = (request: FastifyRequest, reply: FastifyReply, rest: string): FastifyReply => {
    const b = current();
    if (!b) return notBuilt(reply);
    if (rest.startsWith('assets/')) {
      const file = b.assets.get(rest.slice('assets/'.length));
      if (!file) return reply.code(404).header('content-type', 'text/plain; charset=utf-8').send(`No such console asset: ${rest.slice(0, 200)}\n`);
      return send(request, reply, file, 'public, max-age=31536000, immutable');
    }
    // Any other path is a page of the app (deep links, reloads).
    return send(request, reply, b.index, 'no-cache');
  };
  const handler = async (request: FastifyRequest<{ Params: { '*'?: string } }>, reply: FastifyReply): Promise<FastifyReply> => serve(request, reply, request.params['*'] ?? '');
  app.get(CONSOLE_PATH, handler);
  app.get(`${CONSOLE_PATH}/*`, handler);
  // A deep link the router cannot decode (`%zz` in an ID) is still the app's: it says "not found" in its own page.
  answerBadUrlsUnder(app, CONSOLE_PATH, (request, reply) => serve(request, reply, request.url.split('?')[0]!.slice(CONSOLE_PATH.length + 1)));
}
