import { ApiCallError, type ApiClient } from './api-client.js';
import type { JsonObject } from './output.js';

/**
 * Editing a resource's `credentials` list (a device's keys, a registry's CA certificates) over
 * REST, one entry at a time: read the resource with its ETag, change the list, PATCH it back with
 * update mask `credentials` and If-Match (docs/compat.md C-DEVICE-ETAG). Two edits at the same
 * moment never lose an entry: an append that lost the race appends to the newer list; an edit by
 * index stops instead, as the index may name another entry by then.
 */

/** An append re-reads and re-appends at most this many times when other edits keep winning. */
const APPEND_ATTEMPTS = 5;

export interface CredentialList {
  list: JsonObject[];
  etag: string | undefined;
}

export async function readCredentialList(client: ApiClient, path: string): Promise<CredentialList> {
  const { doc, etag } = await client.exchange('GET', path);
  return { list: Array.isArray(doc.credentials) ? (doc.credentials as JsonObject[]) : [], etag };
}

/** Writes the list; with an ETag, only if the resource has not changed since it was read. */
export async function writeCredentialList(client: ApiClient, path: string, credentials: JsonObject[], etag: string | undefined): Promise<JsonObject[]> {
  const doc = await client.patch(path, { credentials }, ['credentials'], etag);
  return Array.isArray(doc.credentials) ? (doc.credentials as JsonObject[]) : [];
}

const changedMeanwhile = (e: unknown): boolean => e instanceof ApiCallError && e.status === 'ABORTED';

/**
 * Appends with `append(list)` (which refuses a full list); when another edit won the race, appends
 * to what it left. Returns the list written and the list the server answered.
 */
export async function appendToCredentialList(
  client: ApiClient,
  path: string,
  append: (list: readonly JsonObject[]) => JsonObject[],
): Promise<{ next: JsonObject[]; saved: JsonObject[] }> {
  for (let attempt = 1; ; attempt++) {
    const { list, etag } = await readCredentialList(client, path);
    const next = append(list);
    try {
      return { next, saved: await writeCredentialList(client, path, next, etag) };
    } catch (e) {
      if (!changedMeanwhile(e) || attempt >= APPEND_ATTEMPTS) throw e;
    }
  }
}

/** Writes an edit by index made on the list read with `etag`; a change in between stops it with `retryHint`. */
export async function writeEditedCredentialList(
  client: ApiClient,
  path: string,
  credentials: JsonObject[],
  etag: string | undefined,
  retryHint: string,
): Promise<JsonObject[]> {
  try {
    return await writeCredentialList(client, path, credentials, etag);
  } catch (e) {
    if (!changedMeanwhile(e)) throw e;
    throw new Error(retryHint);
  }
}
