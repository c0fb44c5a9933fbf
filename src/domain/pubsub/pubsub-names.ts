import { echo, ECHO_MAX_PATH_CHARS } from '../echo.js';
import { invalidArgument } from '../errors.js';
import { isProjectId } from '../names.js';

/**
 * Pub/Sub resource names: `projects/{project}/topics|subscriptions|snapshots/{id}`. IDs follow
 * Pub/Sub's rules (google.pubsub.v1 Topic.name): 3-255 characters, starting with a letter, letters,
 * digits and - _ . ~ + % only, never starting with "goog".
 */

export type PsCollection = 'topics' | 'subscriptions' | 'snapshots';

export interface PsName {
  project: string;
  /** The last segment: the topic, subscription or snapshot ID. */
  id: string;
  /** The full name, as given. */
  name: string;
}

const ID = /^[A-Za-z][-A-Za-z0-9_.~+%]{2,254}$/;

export const isPubSubId = (id: string): boolean => ID.test(id) && !id.startsWith('goog');

const SINGULAR: Record<PsCollection, string> = { topics: 'topic', subscriptions: 'subscription', snapshots: 'snapshot' };

/** `projects/{project}` -> the project ID; INVALID_ARGUMENT naming `field` otherwise. */
export function parseProjectName(name: string | undefined, field: string): string {
  const m = /^projects\/([^/]+)$/.exec(name ?? '');
  if (!m || !isProjectId(m[1]!)) {
    if (!name) throw invalidArgument(field, `${field} is required: "projects/{project}".`, 'REQUIRED_FIELD');
    throw invalidArgument(field, `Invalid ${field}: expected "projects/{project}", got "${echo(name, ECHO_MAX_PATH_CHARS)}".`);
  }
  return m[1]!;
}

export function parsePubSubName(collection: PsCollection, name: string | undefined, field: string): PsName {
  const what = SINGULAR[collection];
  const shape = `"projects/{project}/${collection}/{${what}}"`;
  if (!name) throw invalidArgument(field, `${field} is required: a ${what} name ${shape}.`, 'REQUIRED_FIELD');
  const parts = name.split('/');
  if (parts.length !== 4 || parts[0] !== 'projects' || parts[2] !== collection || !isProjectId(parts[1]!)) {
    throw invalidArgument(field, `Invalid ${field}: expected a ${what} name ${shape}, got "${echo(name, ECHO_MAX_PATH_CHARS)}".`);
  }
  const id = parts[3]!;
  if (!ID.test(id)) {
    throw invalidArgument(
      field,
      `Invalid ${what} ID "${echo(id)}" (${field}): it must be 3-255 characters, start with a letter, and contain only letters, digits and - _ . ~ + %.`,
    );
  }
  if (id.startsWith('goog')) throw invalidArgument(field, `Invalid ${what} ID "${echo(id)}" (${field}): it must not start with "goog".`);
  return { project: parts[1]!, id, name };
}

export const parseTopicName = (name: string | undefined, field: string): PsName => parsePubSubName('topics', name, field);
export const parseSubscriptionName = (name: string | undefined, field: string): PsName => parsePubSubName('subscriptions', name, field);
export const parseSnapshotName = (name: string | undefined, field: string): PsName => parsePubSubName('snapshots', name, field);

/** Which collection a resource name belongs to, or undefined for anything else (IAM resources). */
export function pubSubCollection(name: string): PsCollection | undefined {
  const m = /^projects\/[^/]+\/(topics|subscriptions|snapshots)\/[^/]+$/.exec(name);
  return m ? (m[1] as PsCollection) : undefined;
}
