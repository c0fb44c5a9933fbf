import { chmodSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { resourcePath } from '../api-client.js';
import { apiContext, arg, group, leaf, run, UsageError, type ApiContext } from '../context.js';
import { collect } from '../flags.js';
import { pick, type Column, type JsonObject } from '../output.js';

/**
 * `bridgehead service-accounts ...`: gcloud iam service-accounts, against Bridgehead's IAM Admin
 * API (docs/compat.md C-SA-API). NAME is an account ID (completed with --project) or an e-mail.
 */

const ACCOUNT_COLUMNS: Column[] = [
  { header: 'NAME', value: (r) => String(pick(r, 'email') ?? '').split('@')[0] ?? '' },
  { header: 'EMAIL', value: 'email' },
  { header: 'DISPLAY_NAME', value: 'displayName' },
];

const KEY_COLUMNS: Column[] = [
  { header: 'KEY_ID', value: (r) => String(pick(r, 'name') ?? '').split('/').pop() ?? '' },
  { header: 'CREATED_AT', value: 'validAfterTime' },
  { header: 'DISABLED', value: (r) => (pick(r, 'disabled') === true ? 'True' : 'False') },
];

const email = (ctx: ApiContext, name: string): string => (name.includes('@') ? name : `${name}@${ctx.project}.iam.gserviceaccount.com`);
/** An e-mail names its project itself: `projects/-` lets the server find it wherever it is. */
const accountPath = (ctx: ApiContext, name: string): string =>
  resourcePath('projects', name.includes('@') ? '-' : ctx.project, 'serviceAccounts', email(ctx, name));

function keyIdArg(text: string): string {
  if (!/^[0-9a-f]{40}$/.test(text)) throw new UsageError(`KEY_ID must be the 40 hex digits "keys list" shows, got "${text}".`);
  return text;
}

export function registerServiceAccounts(program: Command): void {
  const accounts = group(program, 'service-accounts', 'service accounts, their keys and project-wide roles');

  leaf(accounts, 'create <name>', 'create a service account NAME@PROJECT.iam.gserviceaccount.com')
    .option('--role <role>', 'project-wide role to grant, e.g. roles/cloudiot.viewer; repeatable (without it: no rights until granted)', collect(String))
    .option('--display-name <text>', 'a human-readable name')
    .option('--description <text>', 'what the account is for')
    .action(
      run(async (cmd) => {
        const ctx = apiContext(cmd);
        const id = arg(cmd, 0);
        const o = cmd.opts<{ role?: string[]; displayName?: string; description?: string }>();
        const serviceAccount: JsonObject = {};
        if (o.displayName !== undefined) serviceAccount.displayName = o.displayName;
        if (o.description !== undefined) serviceAccount.description = o.description;
        const doc = await ctx.client.post(`${resourcePath('projects', ctx.project)}/serviceAccounts`, {
          accountId: id,
          serviceAccount,
          roles: o.role ?? [],
        });
        ctx.out.status(`Created service account [${String(doc.email)}]${o.role?.length ? ` with ${o.role.join(', ')} on project [${ctx.project}]` : ''}.`);
        ctx.out.resource(doc);
      }),
    );

  leaf(accounts, 'list', 'list the service accounts of the project').action(
    run(async (cmd) => {
      const ctx = apiContext(cmd);
      const doc = await ctx.client.listAll(`${resourcePath('projects', ctx.project)}/serviceAccounts`, 'accounts');
      ctx.out.list(doc, (doc.accounts ?? []) as JsonObject[], ACCOUNT_COLUMNS, 'service accounts');
    }),
  );

  leaf(accounts, 'describe <name>', 'show a service account').action(
    run(async (cmd) => {
      const ctx = apiContext(cmd);
      ctx.out.resource(await ctx.client.get(accountPath(ctx, arg(cmd, 0))));
    }),
  );

  leaf(accounts, 'delete <name>', 'delete a service account: its keys stop working and its grants are removed').action(
    run(async (cmd) => {
      const ctx = apiContext(cmd);
      const doc = await ctx.client.delete(accountPath(ctx, arg(cmd, 0)));
      ctx.out.status(`Deleted service account [${email(ctx, arg(cmd, 0))}].`);
      if (ctx.out.format === 'json') ctx.out.resource(doc);
    }),
  );

  const keys = group(accounts, 'keys', 'keys of a service account');

  leaf(keys, 'create <name>', 'create a key and write its key file (the private key is shown only this once)')
    .requiredOption('--output <file>', 'where to write the JSON key file (mode 0600)')
    .option('--force', 'overwrite an existing file')
    .action(
      run(async (cmd) => {
        const ctx = apiContext(cmd);
        const o = cmd.opts<{ output: string; force?: boolean }>();
        const doc = await ctx.client.post(`${accountPath(ctx, arg(cmd, 0))}/keys`, {
          privateKeyType: 'TYPE_GOOGLE_CREDENTIALS_FILE',
          keyAlgorithm: 'KEY_ALG_RSA_2048',
        });
        if (typeof doc.privateKeyData !== 'string') throw new Error('the server returned no privateKeyData for the new key.');
        // Created 0600 in one step, so the private key is never readable by others, even briefly.
        writeFileSync(o.output, Buffer.from(doc.privateKeyData, 'base64'), { mode: 0o600, flag: o.force === true ? 'w' : 'wx' });
        chmodSync(o.output, 0o600); // an overwritten file keeps its old mode otherwise
        const keyId = String(doc.name ?? '').split('/').pop() ?? '';
        ctx.out.status(`Created key [${keyId}] of type [json] as [${o.output}] for [${email(ctx, arg(cmd, 0))}].`);
        const shown: JsonObject = { ...doc };
        delete shown.privateKeyData;
        if (ctx.out.format === 'json') ctx.out.resource({ ...shown, keyFile: o.output });
      }),
    );

  leaf(keys, 'list <name>', 'list the keys of a service account').action(
    run(async (cmd) => {
      const ctx = apiContext(cmd);
      const doc = await ctx.client.get(`${accountPath(ctx, arg(cmd, 0))}/keys`);
      ctx.out.list(doc, (doc.keys ?? []) as JsonObject[], KEY_COLUMNS, 'keys');
    }),
  );

  for (const [verb, done, describe] of [
    ['disable', 'Disabled', 'disable a key: JWTs signed with it and tokens issued for it stop working'],
    ['enable', 'Enabled', 'enable a disabled key again'],
    ['delete', 'Deleted', 'delete a key for good'],
  ] as const) {
    leaf(keys, `${verb} <name> <key-id>`, describe).action(
      run(async (cmd) => {
        const ctx = apiContext(cmd);
        const keyId = keyIdArg(arg(cmd, 1));
        const path = `${accountPath(ctx, arg(cmd, 0))}/keys/${keyId}`;
        const doc = verb === 'delete' ? await ctx.client.delete(path) : await ctx.client.post(`${path}:${verb}`, {});
        ctx.out.status(`${done} key [${keyId}] of [${email(ctx, arg(cmd, 0))}].`);
        if (ctx.out.format === 'json') ctx.out.resource(doc);
      }),
    );
  }
}
