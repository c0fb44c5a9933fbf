import { ApiError } from './errors.js';
import type { IamBinding, IamPolicy } from './model.js';

/** The policy of a registry nobody has set one on (what Cloud IoT returned: version 0, etag "ACAB"). */
export const EMPTY_POLICY: Readonly<IamPolicy> = Object.freeze({ version: 0, bindings: [], etag: new Uint8Array([0x41, 0x43, 0x41, 0x42]) });

/**
 * The policy nobody has set, as a fresh copy for a store to return: `{ ...EMPTY_POLICY }` would
 * hand every caller the one shared etag array (a frozen object's typed array is still writable).
 */
export const emptyPolicy = (): IamPolicy => ({ version: EMPTY_POLICY.version, bindings: [], etag: new Uint8Array(EMPTY_POLICY.etag) });

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * setIamPolicy's optimistic concurrency (spec §3.9, docs/compat.md C-IAM): an etag, when given,
 * must be the current one; the new policy gets the next etag. Pure: a store calls it inside the
 * atomic section that writes the policy, so two writers holding the same etag cannot both win.
 */
export function nextPolicy(current: IamPolicy, next: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): IamPolicy {
  if (expectedEtag && expectedEtag.length > 0 && !sameBytes(expectedEtag, current.etag)) {
    throw new ApiError('ABORTED', 'The policy was changed since it was read (etag mismatch); read it again and retry.', {
      field: 'policy.etag',
      reason: 'ETAG_MISMATCH',
    });
  }
  return { version: next.version, bindings: next.bindings, etag: nextEtag(current.etag) };
}

function nextEtag(previous: Uint8Array): Uint8Array {
  // A counter is enough for optimistic concurrency; etags are opaque to clients.
  const view = new DataView(new ArrayBuffer(8));
  const prev = previous.length === 8 ? new DataView(previous.buffer, previous.byteOffset, 8).getBigUint64(0) : 0n;
  view.setBigUint64(0, prev + 1n);
  return new Uint8Array(view.buffer);
}

/** The bindings with `member` added to `role` (creating the binding if needed); the others unchanged. */
export function withMember(bindings: readonly IamBinding[], role: string, member: string): IamBinding[] {
  const out = bindings.map((b) => ({ ...b, members: [...b.members] }));
  // A conditional binding of the role is a different grant; the member goes into an unconditional one.
  const target = out.find((b) => b.role === role && b.condition === undefined);
  if (!target) out.push({ role, members: [member] });
  else if (!target.members.some((m) => m.toLowerCase() === member.toLowerCase())) target.members.push(member);
  return out;
}

/**
 * The bindings without `member` (compared as IAM compares members, regardless of case), dropping
 * bindings left empty; undefined when the member was in none of them.
 */
export function withoutMember(bindings: readonly IamBinding[], member: string): IamBinding[] | undefined {
  const lower = member.toLowerCase();
  if (!bindings.some((b) => b.members.some((m) => m.toLowerCase() === lower))) return undefined;
  return bindings
    .map((b) => ({ ...b, members: b.members.filter((m) => m.toLowerCase() !== lower) }))
    .filter((b) => b.members.length > 0);
}
