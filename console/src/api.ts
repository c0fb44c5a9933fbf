import { problemOf, type ApiProblem } from './logic/api-errors.js';
import { idChunks } from './logic/connections.js';
import type { Connection } from './types.js';

/** A refused API call, carrying the API's own words. */
export class ApiFailure extends Error {
  constructor(readonly problem: ApiProblem) {
    super(problem.message);
  }
}

/** The signed-in session: the bearer token lives here and in sessionStorage, never in a URL. */
export interface Session {
  token: string;
  project: string;
  location: string;
  /** How the operator signed in, for the header. */
  who: string;
}

const KEY = 'bridgehead.console.session';

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session | undefined): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

let current: Session | undefined = loadSession();
let onSignedOut: () => void = () => {};

export const session = (): Session | undefined => current;
export function setSession(s: Session | undefined): void {
  current = s;
  saveSession(s);
}
export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

export type Query = Record<string, string | number | boolean | undefined | readonly string[]>;

export function queryString(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === '') continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface CallOptions {
  body?: unknown;
  query?: Query;
  token?: string;
  /** The resource's ETag as read (docs/compat.md C-DEVICE-ETAG): the write fails (ABORTED) if it changed since. */
  ifMatch?: string | undefined;
}

/** One call of the public REST API with the session's bearer token. */
export async function call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  return (await callWithEtag<T>(method, path, opts)).data;
}

/** The same, with the ETag the server sent (devices and registries have one). */
export async function callWithEtag<T>(method: string, path: string, opts: CallOptions = {}): Promise<{ data: T; etag: string | undefined }> {
  const token = opts.token ?? current?.token;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.ifMatch) headers['if-match'] = opts.ifMatch;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${path}${queryString(opts.query)}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiFailure({ status: 'UNAVAILABLE', message: `The server could not be reached (${(e as Error).message}).`, httpStatus: 0 });
  }
  const text = await res.text();
  if (!res.ok) {
    const failure = new ApiFailure(problemOf(res.status, text));
    // An expired or revoked token: back to the sign-in page, saying why.
    if (res.status === 401 && opts.token === undefined && current) {
      setSession(undefined);
      onSignedOut();
    }
    throw failure;
  }
  return { data: (text ? JSON.parse(text) : {}) as T, etag: res.headers.get('etag') ?? undefined };
}

/** `projects/p/locations/l` of the session. */
export const locationName = (): string => `projects/${current?.project ?? ''}/locations/${current?.location ?? ''}`;
export const v1 = (name: string): string => `/v1/${name.split('/').map(encodeURIComponent).join('/')}`;

/** Whether each device is connected now (by ID), asked in as many requests as the IDs need (idChunks); any refusal fails the whole. */
export async function connectionsOf(registryName: string, ids: readonly string[]): Promise<Map<string, Connection>> {
  const answers = await Promise.all(
    idChunks(ids).map((chunk) => call<{ connections?: Connection[] }>('GET', `${v1(registryName)}/devices:connections`, { query: { deviceIds: chunk.join(',') } })),
  );
  return new Map(answers.flatMap((r) => r.connections ?? []).map((c) => [c.deviceId, c]));
}
