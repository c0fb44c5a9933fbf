import type { Command } from 'commander';
import { apiContext, arg, leaf, readText, registryPath, run, UsageError, type ApiContext } from '../context.js';
import { addBinding, editPolicy, hasBinding, parseMember, parsePolicyFile, parseRole, PolicyInputError, removeBinding } from '../iam-policy-edit.js';
import type { JsonObject } from '../output.js';
import { parseRegistryRef, resolveScope } from '../resource-names.js';

/**
 * `bridgehead registries get-iam-policy|set-iam-policy|add-iam-policy-binding|remove-iam-policy-binding`:
 * gcloud iot registries' IAM commands. Binding edits read the policy and write it back with the
 * etag read (setIamPolicy is conditional on it); when another write came between, the server
 * answers ABORTED (ETAG_MISMATCH) and the edit is applied again to the newer policy, which is
 * safe because adding or removing a member+role is idempotent.
 */

function registryArg(cmd: Command): { ctx: ApiContext; id: string; path: string } {
  const parts = resolveScope(cmd, [parseRegistryRef(arg(cmd, 0), 'the registry argument')]);
  const ctx = apiContext(cmd);
  return { ctx, id: parts.registry!, path: registryPath(ctx, parts.registry!) };
}

const getPolicy = (ctx: ApiContext, path: string): Promise<JsonObject> => ctx.client.post(`${path}:getIamPolicy`, {});
const setPolicy = (ctx: ApiContext, path: string, policy: JsonObject): Promise<JsonObject> => ctx.client.post(`${path}:setIamPolicy`, { policy });

function usage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PolicyInputError) throw new UsageError(e.message);
    throw e;
  }
}

function bindingLeaf(registries: Command, name: string, description: string): Command {
  return leaf(registries, `${name} <registry>`, description)
    .requiredOption('--member <member>', 'user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN, allUsers or allAuthenticatedUsers')
    .requiredOption('--role <role>', 'role name, e.g. roles/cloudiot.viewer');
}

export function registerRegistryIam(registries: Command): void {
  leaf(registries, 'get-iam-policy <registry>', "show a registry's IAM policy").action(
    run(async (cmd) => {
      const { ctx, path } = registryArg(cmd);
      ctx.out.resource(await getPolicy(ctx, path));
    }),
  );

  leaf(registries, 'set-iam-policy <registry> <policy-file>', "replace a registry's IAM policy with a JSON file (YAML is not read); an etag in the file makes the write conditional").action(
    run(async (cmd) => {
      const file = arg(cmd, 1);
      const policy = usage(() => parsePolicyFile(readText(file, 'the policy file'), file));
      const { ctx, id, path } = registryArg(cmd);
      const saved = await setPolicy(ctx, path, policy);
      ctx.out.status(`Updated IAM policy for registry [${id}].`);
      ctx.out.resource(saved);
    }),
  );

  bindingLeaf(registries, 'add-iam-policy-binding', 'give a member a role on a registry').action(
    run(async (cmd) => {
      const o = cmd.opts<{ member: string; role: string }>();
      const member = usage(() => parseMember(o.member));
      const role = usage(() => parseRole(o.role));
      const { ctx, id, path } = registryArg(cmd);
      const { policy } = await editPolicy(
        () => getPolicy(ctx, path),
        (p) => setPolicy(ctx, path, p),
        (p) => (hasBinding(p, member, role) ? undefined : addBinding(p, member, role)),
      );
      ctx.out.status(`Updated IAM policy for registry [${id}].`);
      ctx.out.resource(policy);
    }),
  );

  bindingLeaf(registries, 'remove-iam-policy-binding', "take a member's role on a registry away").action(
    run(async (cmd) => {
      const o = cmd.opts<{ member: string; role: string }>();
      const member = usage(() => parseMember(o.member));
      const role = usage(() => parseRole(o.role));
      const { ctx, id, path } = registryArg(cmd);
      let seen = false;
      const { policy, changed } = await editPolicy(
        () => getPolicy(ctx, path),
        (p) => setPolicy(ctx, path, p),
        (p) => {
          if (!hasBinding(p, member, role)) return undefined;
          seen = true;
          return removeBinding(p, member, role);
        },
      );
      // gcloud fails when the binding is not there; so does this, after changing nothing. A
      // binding that another write removed while this one retried counts as removed.
      if (!changed && !seen) throw new Error(`policy binding with the specified member [${member}] and role [${role}] not found in registry [${id}].`);
      ctx.out.status(`Updated IAM policy for registry [${id}].`);
      ctx.out.resource(policy);
    }),
  );
}
