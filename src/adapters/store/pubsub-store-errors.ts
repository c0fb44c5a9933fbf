import { ApiError } from '../../domain/errors.js';

/*
 * Client-visible Pub/Sub store errors, shared by the memory and SQLite stores so both report the
 * same codes and texts. The texts are Pub/Sub's own ("Resource not found (resource=my-topic)."):
 * scripts migrating from Google match on them (docs/compat.md C-PS-ERRORS).
 */

export type PsResourceKind = 'topic' | 'subscription' | 'snapshot';

const NAME = /^projects\/([^/]+)\/(topics|subscriptions|snapshots)\/([^/]+)$/;
const KINDS = { topics: 'topic', subscriptions: 'subscription', snapshots: 'snapshot' } as const;

/** The kind and short ID of a full resource name; undefined for anything else. */
export function parsePsName(name: string): { project: string; kind: PsResourceKind; id: string } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  return { project: m[1]!, kind: KINDS[m[2] as keyof typeof KINDS], id: m[3]! };
}

/** Names of one project's resources of one kind share this prefix, so a name range is the project's list. */
export const projectPrefix = (project: string, collection: 'topics' | 'subscriptions' | 'snapshots'): string =>
  `projects/${project}/${collection}/`;

const shortId = (name: string): string => parsePsName(name)?.id ?? name;

const NOT_FOUND = { topic: 'TOPIC_NOT_FOUND', subscription: 'SUBSCRIPTION_NOT_FOUND', snapshot: 'SNAPSHOT_NOT_FOUND' } as const;
const EXISTS = { topic: 'TOPIC_EXISTS', subscription: 'SUBSCRIPTION_EXISTS', snapshot: 'SNAPSHOT_EXISTS' } as const;

export const psNotFound = (kind: PsResourceKind, name: string): ApiError =>
  new ApiError('NOT_FOUND', `Resource not found (resource=${shortId(name)}).`, { reason: NOT_FOUND[kind] });

export const psExists = (kind: PsResourceKind, name: string): ApiError =>
  new ApiError('ALREADY_EXISTS', `Resource already exists in the project (resource=${shortId(name)}).`, { reason: EXISTS[kind] });

/** IAM of a name that is no topic, subscription or snapshot: nothing by that name can exist. */
export const psResourceNotFound = (name: string): ApiError => {
  const parsed = parsePsName(name);
  return parsed ? psNotFound(parsed.kind, name) : new ApiError('NOT_FOUND', `Resource not found (resource=${name}).`);
};

export const psRevisionConflict = (kind: PsResourceKind, name: string): ApiError =>
  new ApiError('ABORTED', `The ${kind} "${name}" was changed by another request; read it again and retry.`, { reason: 'REVISION_CONFLICT' });

export const psStoreClosed = (): ApiError => new ApiError('UNAVAILABLE', 'The Pub/Sub store is closed.', { reason: 'STORE_CLOSED' });
