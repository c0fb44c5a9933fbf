import { sendRequest, type HttpResponse, type SendRequest } from './http-request.js';
import type { JsonObject } from './output.js';

/** The admin CLI's only way to the server: the cloudiot v1 REST API over HTTP (./http-request.ts). */

export type Query = Record<string, string | number | readonly string[] | undefined>;

/** An error document from the API: `{"error":{"code","message","status"}}`. */
export class ApiCallError extends Error {
  constructor(
    readonly status: string,
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

/** The server could not be reached at all. */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    detail: string,
  ) {
    super(`could not reach the Bridgehead API at ${url} (${detail}). Is the server running? Check --api, BRIDGEHEAD_API or bridgehead config get endpoint.`);
    this.name = 'ConnectionError';
  }
}

/** `http://h:p[/][v1[/]]` -> `http://h:p`: users paste either form. */
export function normalizeBase(api: string): string {
  return api.replace(/\/+$/, '').replace(/\/v1$/, '');
}

/** Base + `/v1/` + path, with the query encoded; array values repeat the key (`deviceIds=a&deviceIds=b`). */
export function buildUrl(api: string, path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (typeof v === 'object') for (const item of v) params.append(k, item);
    else params.append(k, String(v));
  }
  const qs = params.toString();
  return `${normalizeBase(api)}/v1/${path}${qs ? `?${qs}` : ''}`;
}

/** Encodes resource-name segments: `seg('projects', p, 'locations', l)`. */
export function resourcePath(...segments: string[]): string {
  return segments.map(encodeURIComponent).join('/');
}

function describeCause(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return typeof code === 'string' && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}

/** Turns a non-2xx response body into an ApiCallError (or a generic one for non-API bodies). */
export function errorFromBody(httpStatus: number, text: string): ApiCallError {
  try {
    const doc = JSON.parse(text) as { error?: { message?: unknown; status?: unknown } };
    if (doc.error && typeof doc.error.message === 'string') {
      const status = typeof doc.error.status === 'string' ? doc.error.status : `HTTP ${httpStatus}`;
      return new ApiCallError(status, doc.error.message, httpStatus);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiCallError(`HTTP ${httpStatus}`, text.trim() || 'the server returned an error without a body', httpStatus);
}

/**
 * How this invocation's `--page-size`, `--filter` and `--limit` reach list calls, so that list
 * commands need not pass them: a page size for lists that do not set one, fields the filter or
 * format reads added to a list's fieldMask, and paging that stops once `limit` items match.
 */
export interface ListOptions {
  pageSize?: number;
  /** Top-level fields to add when a list request carries a fieldMask. */
  maskFields?: readonly string[];
  /** Counts the items `--limit` would show; paging stops once `limit` have matched. */
  matches?: (item: JsonObject) => boolean;
  limit?: number;
}

/** `fieldMask` plus `extra`, each top-level field once. */
export function widenMask(mask: string, extra: readonly string[]): string {
  const paths = mask.split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const f of extra) if (!paths.some((p) => p === f || p.startsWith(`${f}.`))) paths.push(f);
  return paths.join(',');
}

export class ApiClient {
  constructor(
    readonly api: string,
    private readonly token: string,
    private readonly send: SendRequest = sendRequest,
    private readonly listOptions: ListOptions = {},
  ) {}

  async call(method: string, path: string, opts: { query?: Query; body?: JsonObject } = {}): Promise<JsonObject> {
    const url = buildUrl(this.api, path, opts.query);
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: HttpResponse;
    try {
      res = await this.send(url, { method, headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) });
    } catch (e) {
      throw new ConnectionError(normalizeBase(this.api), describeCause(e));
    }
    const text = res.text;
    if (res.status >= 300 && res.status < 400) {
      // Not followed: the bearer token should only go where --api points.
      const location = res.headers.location;
      const where = typeof location === 'string' ? ` to ${location}` : '';
      throw new ApiCallError(`HTTP ${res.status}`, `the server redirected${where}; check --api or BRIDGEHEAD_API.`, res.status);
    }
    if (res.status < 200 || res.status >= 300) throw errorFromBody(res.status, text);
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text) as JsonObject;
    } catch {
      throw new ApiCallError(`HTTP ${res.status}`, `the server answered with something other than JSON: ${text.slice(0, 200)}`, res.status);
    }
  }

  get(path: string, query?: Query): Promise<JsonObject> {
    return this.call('GET', path, query ? { query } : {});
  }

  post(path: string, body: JsonObject, query?: Query): Promise<JsonObject> {
    return this.call('POST', path, query ? { body, query } : { body });
  }

  patch(path: string, body: JsonObject, updateMask: readonly string[]): Promise<JsonObject> {
    return this.call('PATCH', path, { body, query: { updateMask: updateMask.join(',') } });
  }

  delete(path: string): Promise<JsonObject> {
    return this.call('DELETE', path);
  }

  /**
   * Follows nextPageToken to the end and returns one document shaped like a single page:
   * the first page's fields, `itemsKey` holding every item, no nextPageToken.
   */
  async listAll(path: string, itemsKey: string, requested: Query = {}): Promise<JsonObject> {
    const lo = this.listOptions;
    const query: Query = { ...requested };
    if (query.pageSize === undefined && lo.pageSize !== undefined) query.pageSize = lo.pageSize;
    if (typeof query.fieldMask === 'string' && lo.maskFields !== undefined && lo.maskFields.length > 0) query.fieldMask = widenMask(query.fieldMask, lo.maskFields);
    let matched = 0;
    const items: JsonObject[] = [];
    let doc: JsonObject = {};
    let token: string | undefined;
    const seen = new Set<string>();
    for (let first = true; first || token; first = false) {
      const page = await this.get(path, token ? { ...query, pageToken: token } : query);
      if (first) doc = page;
      const pageItems = page[itemsKey];
      if (Array.isArray(pageItems)) items.push(...(pageItems as JsonObject[]));
      if (lo.limit !== undefined && Array.isArray(pageItems)) {
        for (const item of pageItems as JsonObject[]) if (lo.matches === undefined || lo.matches(item)) matched++;
        // Enough to show: the rest of the pages would be fetched only to be dropped.
        if (matched >= lo.limit) break;
      }
      const next = page.nextPageToken;
      token = typeof next === 'string' && next !== '' ? next : undefined;
      if (token !== undefined) {
        if (seen.has(token)) throw new ApiCallError('INTERNAL', `the server repeated page token "${token}"`, 200);
        seen.add(token);
      }
    }
    const out: JsonObject = { ...doc };
    delete out.nextPageToken;
    if (items.length > 0 || itemsKey in doc) out[itemsKey] = items;
    return out;
  }
}
