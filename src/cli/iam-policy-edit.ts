import { ApiCallError } from './api-client.js';
import type { JsonObject } from './output.js';

/**
 * gcloud's add-iam-policy-binding / remove-iam-policy-binding as edits of a policy document
 * (the JSON of getIamPolicy). Both are idempotent by member+role, so that a command which lost a
 * race (ABORTED, ETAG_MISMATCH) can re-read and apply the same edit to the newer policy.
 */

export interface Binding {
  role: string;
  members: string[];
  condition?: JsonObject;
}

/** A member or role flag with the wrong shape, or a policy file that is not a policy: usage, exit 2. */
export class PolicyInputError extends Error {}

const MEMBER = /^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|deleted:user|deleted:serviceAccount|deleted:group):.+)$/;

/** `--member`: gcloud's `user:EMAIL`, `serviceAccount:EMAIL`, `group:…`, `domain:…`, allUsers, allAuthenticatedUsers. */
export function parseMember(text: string): string {
  const m = text.trim();
  if (!MEMBER.test(m)) {
    throw new PolicyInputError(`--member must look like user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN, allUsers or allAuthenticatedUsers, got "${text}". Example: --member=serviceAccount:backend@my-project.iam.gserviceaccount.com`);
  }
  return m;
}

/** `--role`: `roles/NAME` (a bare predefined name like `cloudiot.viewer` gets the prefix, as gcloud accepts). */
export function parseRole(text: string): string {
  const r = text.trim();
  if (r === '' || /\s/.test(r)) throw new PolicyInputError(`--role must be a role name like roles/cloudiot.viewer, got "${text}".`);
  if (r.startsWith('roles/') || r.startsWith('projects/') || r.startsWith('organizations/')) return r;
  return `roles/${r}`;
}

export function bindingsOf(policy: JsonObject): Binding[] {
  const b = policy.bindings;
  return Array.isArray(b) ? (b as unknown as Binding[]) : [];
}

/** `policy` with `member` in `role`'s binding (created when missing); unchanged when already there. */
export function addBinding(policy: JsonObject, member: string, role: string): JsonObject {
  const bindings = bindingsOf(policy).map((b) => ({ ...b, members: [...(b.members ?? [])] }));
  const target = bindings.find((b) => b.role === role && b.condition === undefined);
  if (target) {
    if (!target.members.includes(member)) target.members.push(member);
  } else {
    bindings.push({ role, members: [member] });
  }
  return { ...policy, bindings: bindings as unknown as JsonObject[] };
}

/** `policy` without `member` in `role`; a binding left with no member goes. Unchanged when absent. */
export function removeBinding(policy: JsonObject, member: string, role: string): JsonObject {
  const bindings = bindingsOf(policy)
    .map((b) => (b.role === role ? { ...b, members: (b.members ?? []).filter((m) => m !== member) } : b))
    .filter((b) => (b.members ?? []).length > 0);
  return { ...policy, bindings: bindings as unknown as JsonObject[] };
}

export function hasBinding(policy: JsonObject, member: string, role: string): boolean {
  return bindingsOf(policy).some((b) => b.role === role && (b.members ?? []).includes(member));
}

/**
 * The policy of a `set-iam-policy` file: JSON, either the policy itself or `{"policy": {...}}`
 * (what some tools save). YAML is not read: the message says so.
 */
export function parsePolicyFile(text: string, path: string): JsonObject {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const hint = /^\s*[{[]/.test(text) ? '' : ' (only JSON policy files are read; convert YAML with e.g. `yq -o json`)';
    throw new PolicyInputError(`${path} is not a JSON policy file${hint}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new PolicyInputError(`${path} must hold a JSON object (a policy with "bindings").`);
  const o = doc as JsonObject;
  const policy = typeof o.policy === 'object' && o.policy !== null && !Array.isArray(o.policy) && o.bindings === undefined ? (o.policy as JsonObject) : o;
  if (policy.bindings !== undefined && !Array.isArray(policy.bindings)) throw new PolicyInputError(`${path}: "bindings" must be a list of {role, members}.`);
  for (const [i, b] of bindingsOf(policy).entries()) {
    if (typeof b !== 'object' || b === null || typeof b.role !== 'string' || !Array.isArray(b.members)) {
      throw new PolicyInputError(`${path}: bindings[${i}] must be {"role": "roles/...", "members": ["user:..."]}.`);
    }
  }
  return policy;
}

/** How often a binding edit re-reads and re-applies when other writes keep winning. */
export const EDIT_ATTEMPTS = 5;

const etagMismatch = (e: unknown): boolean => e instanceof ApiCallError && e.status === 'ABORTED';

/**
 * Reads, edits and writes the policy (which carries the etag read, so the write is conditional);
 * on ABORTED (ETAG_MISMATCH) reads and edits again, at most `attempts` times in all. An edit that
 * returns undefined (nothing to change) writes nothing.
 */
export async function editPolicy(
  read: () => Promise<JsonObject>,
  write: (policy: JsonObject) => Promise<JsonObject>,
  edit: (policy: JsonObject) => JsonObject | undefined,
  attempts = EDIT_ATTEMPTS,
): Promise<{ policy: JsonObject; changed: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const current = await read();
    const next = edit(current);
    if (next === undefined) return { policy: current, changed: false };
    try {
      return { policy: await write(next), changed: true };
    } catch (e) {
      if (!etagMismatch(e) || attempt >= attempts) throw e;
    }
  }
}
