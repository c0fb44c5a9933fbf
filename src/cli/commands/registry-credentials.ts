import type { Command } from 'commander';
import { CredentialIndexError } from '../bodies.js';
import { appendToCredentialList, readCredentialList, writeCredentialList, writeEditedCredentialList, type CredentialList } from '../credential-list-edit.js';
import { confirmOrStop, withQuiet } from '../confirm.js';
import { apiContext, arg, group, leaf, readText, registryPath, run, type ApiContext } from '../context.js';
import { InvalidArgumentError } from 'commander';
import { pick, type Column, type JsonObject } from '../output.js';
import { parseRegistryRef, resolveScope } from '../resource-names.js';

/**
 * `bridgehead registries credentials create|list|describe|delete|clear`: gcloud iot registries
 * credentials, the registry's CA certificates one at a time, edited conditionally as device keys
 * are (../credential-list-edit.ts).
 */

/** The API's limit on a registry's credentials (spec §3.3). */
export const MAX_REGISTRY_CREDENTIALS = 10;

const COLUMNS: Column[] = [
  { header: 'INDEX', value: 'index' },
  { header: 'FORMAT', value: (c) => String(pick(c, 'publicKeyCertificate.format') ?? '') },
  { header: 'SUBJECT', value: (c) => String(pick(c, 'publicKeyCertificate.x509Details.subject') ?? '') },
  { header: 'EXPIRY', value: (c) => String(pick(c, 'publicKeyCertificate.x509Details.expiryTime') ?? '') },
];

interface Target {
  ctx: ApiContext;
  id: string;
  path: string;
}

function target(cmd: Command): Target {
  const parts = resolveScope(cmd, [parseRegistryRef(arg(cmd, 0), 'the registry argument')]);
  const ctx = apiContext(cmd);
  return { ctx, id: parts.registry!, path: registryPath(ctx, parts.registry!) };
}

const readCredentials = (t: Target): Promise<CredentialList> => readCredentialList(t.ctx.client, t.path);

/** `list` plus `cred`; a full list is refused with what to type instead. */
export function appendRegistryCredential(list: readonly JsonObject[], cred: JsonObject, registry: string): JsonObject[] {
  if (list.length >= MAX_REGISTRY_CREDENTIALS) {
    throw new CredentialIndexError(
      `registry [${registry}] already has ${list.length} credentials, the most a registry can have; remove one first: bridgehead registries credentials delete ${registry} INDEX (see credentials list).`,
    );
  }
  return [...list, cred];
}

export function checkRegistryCredentialIndex(list: readonly JsonObject[], index: number, registry: string): void {
  if (index < list.length) return;
  throw new CredentialIndexError(
    list.length === 0
      ? `registry [${registry}] has no credentials, so there is no credential ${index}.`
      : `registry [${registry}] has ${list.length} credential${list.length === 1 ? '' : 's'} (indexes 0-${list.length - 1}); there is no credential ${index}.`,
  );
}

function indexArg(cmd: Command): number {
  const text = arg(cmd, 1);
  if (!/^\d+$/.test(text.trim())) {
    throw new InvalidArgumentError(`INDEX must be a credential's index as \`registries credentials list REGISTRY\` shows it (0-9), got "${text}".`);
  }
  return Number(text.trim());
}

export function registerRegistryCredentials(registries: Command): void {
  const creds = group(registries, 'credentials', "a registry's CA certificates, which device certificates may chain to (at most 10)");

  leaf(creds, 'create <registry>', 'add a CA certificate to a registry')
    .requiredOption('--path <file>', 'PEM file of the X.509 CA certificate')
    .action(
      run(async (cmd) => {
        const file = cmd.opts<{ path: string }>().path;
        const cred: JsonObject = { publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: readText(file, '--path') } };
        const t = target(cmd);
        // Another edit winning the race is appended to (the limit is checked again).
        const { next, saved } = await appendToCredentialList(t.ctx.client, t.path, (list) => appendRegistryCredential(list, cred, t.id));
        const index = next.length - 1;
        t.ctx.out.status(`Created credential ${index} of registry [${t.id}].`);
        t.ctx.out.resource({ index, ...(saved[index] ?? cred) });
      }),
    );

  leaf(creds, 'list <registry>', "list a registry's CA certificates").action(
    run(async (cmd) => {
      const t = target(cmd);
      const { list } = await readCredentials(t);
      t.ctx.out.list({ credentials: list }, list.map((c, index) => ({ index, ...c })), COLUMNS, 'credentials');
    }),
  );

  leaf(creds, 'describe <registry> <index>', 'show one CA certificate (INDEX as credentials list shows it)').action(
    run(async (cmd) => {
      const index = indexArg(cmd);
      const t = target(cmd);
      const { list } = await readCredentials(t);
      checkRegistryCredentialIndex(list, index, t.id);
      t.ctx.out.resource(list[index]!);
    }),
  );

  withQuiet(leaf(creds, 'delete <registry> <index>', 'remove one CA certificate; later ones move up an index')).action(
    run(async (cmd) => {
      const index = indexArg(cmd);
      const t = target(cmd);
      const { list, etag } = await readCredentials(t);
      checkRegistryCredentialIndex(list, index, t.id);
      await confirmOrStop(cmd, `Credential ${index} of registry [${t.id}] will be deleted; devices whose certificates chain only to it can no longer be given such certificates.`);
      const saved = await writeEditedCredentialList(
        t.ctx.client,
        t.path,
        list.filter((_c, i) => i !== index),
        etag,
        `the credentials of registry [${t.id}] changed while this command ran; check them with \`bridgehead registries credentials list ${t.id}\` and try again.`,
      );
      t.ctx.out.status(`Deleted credential ${index} of registry [${t.id}].`);
      if (t.ctx.out.format === 'json') t.ctx.out.resource({ credentials: saved });
    }),
  );

  withQuiet(leaf(creds, 'clear <registry>', 'remove every CA certificate of a registry')).action(
    run(async (cmd) => {
      const t = target(cmd);
      await confirmOrStop(cmd, `Every credential of registry [${t.id}] will be deleted.`);
      const saved = await writeCredentialList(t.ctx.client, t.path, [], undefined);
      t.ctx.out.status(`Cleared the credentials of registry [${t.id}].`);
      if (t.ctx.out.format === 'json') t.ctx.out.resource({ credentials: saved });
    }),
  );
}
