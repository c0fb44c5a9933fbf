import type { Command } from 'commander';
import {
  appendCredential,
  checkCredentialIndex,
  credentialBody,
  withExpiration,
  withoutCredential,
} from '../bodies.js';
import { confirmOrStop, withQuiet } from '../confirm.js';
import { readCredentialList, writeCredentialList, writeEditedCredentialList, appendToCredentialList, type CredentialList } from '../credential-list-edit.js';
import { arg, group, leaf, readText, run } from '../context.js';
import { parseIndex, parseKeyType, parseTimestamp } from '../flags.js';
import { pick, type Column, type JsonObject } from '../output.js';
import { deviceTarget, type DeviceTarget } from '../resource-names.js';

/**
 * `bridgehead devices credentials create|list|describe|update|delete|clear`: gcloud iot devices
 * credentials, one key at a time, edited conditionally (../credential-list-edit.ts).
 */

const COLUMNS: Column[] = [
  { header: 'INDEX', value: 'index' },
  { header: 'TYPE', value: (c) => String(pick(c, 'publicKey.format') ?? '') },
  { header: 'EXPIRATION', value: (c) => String(pick(c, 'expirationTime') ?? '') },
];

function credentialLeaf(parent: Command, nameAndArgs: string, description: string): Command {
  return leaf(parent, nameAndArgs, description)
    .requiredOption('--device <device>', 'device ID, numeric ID or projects/P/locations/L/registries/R/devices/D')
    .option('--registry <registry>', 'registry ID or projects/P/locations/L/registries/R (implied by a full device name)');
}

function target(cmd: Command): DeviceTarget {
  return deviceTarget(cmd, cmd.opts<{ device: string }>().device, '--device');
}

const readCredentials = (t: DeviceTarget): Promise<CredentialList> => readCredentialList(t.ctx.client, t.path);

/** An edit by index whose device changed since the read stops, saying what to do. */
const writeEdited = (t: DeviceTarget, credentials: JsonObject[], etag: string | undefined): Promise<JsonObject[]> =>
  writeEditedCredentialList(
    t.ctx.client,
    t.path,
    credentials,
    etag,
    `the credentials of device [${t.device}] changed while this command ran; check them with \`bridgehead devices credentials list ${again(t)}\` and try again.`,
  );

function indexArg(cmd: Command): number {
  return parseIndex(arg(cmd, 0));
}

/** How to name this device again in a suggested command. */
function again(t: DeviceTarget): string {
  return `--device ${t.device} --registry ${t.registry}`;
}

export function registerCredentials(devices: Command): void {
  const creds = group(devices, 'credentials', "a device's public keys and certificates (at most 3)");

  credentialLeaf(creds, 'create', 'add a public key or certificate to a device')
    .requiredOption('--path <file>', 'PEM file of the public key or certificate')
    .requiredOption('--type <type>', 'rs256|es256|rsa-x509-pem|es256-x509-pem', (t: string) => parseKeyType(t))
    .option('--expiration-time <time>', 'RFC 3339 time after which the key is refused', (t: string) => parseTimestamp(t, '--expiration-time'))
    .action(
      run(async (cmd) => {
        const o = cmd.opts<{ path: string; type: ReturnType<typeof parseKeyType>; expirationTime?: string }>();
        const t = target(cmd);
        const cred = credentialBody({ path: o.path, format: o.type, ...(o.expirationTime ? { expirationTime: o.expirationTime } : {}) }, readText);
        // Another edit winning the race is appended to (the 3-key check runs again).
        const { next, saved } = await appendToCredentialList(t.ctx.client, t.path, (list) =>
          appendCredential(list, cred, `bridgehead devices credentials delete INDEX ${again(t)} (see credentials list)`),
        );
        const index = next.length - 1;
        t.ctx.out.status(`Created credential ${index} of device [${t.device}].`);
        t.ctx.out.resource({ index, ...(saved[index] ?? cred) });
      }),
    );

  credentialLeaf(creds, 'list', "list a device's credentials").action(
    run(async (cmd) => {
      const t = target(cmd);
      const { list } = await readCredentials(t);
      t.ctx.out.list({ credentials: list }, list.map((c, index) => ({ index, ...c })), COLUMNS, 'credentials');
    }),
  );

  credentialLeaf(creds, 'describe <index>', 'show one credential (INDEX as credentials list shows it)').action(
    run(async (cmd) => {
      const index = indexArg(cmd);
      const t = target(cmd);
      const { list } = await readCredentials(t);
      checkCredentialIndex(list, index);
      t.ctx.out.resource(list[index]!);
    }),
  );

  credentialLeaf(creds, 'update <index>', "change a credential's expiration time")
    .requiredOption('--expiration-time <time>', 'RFC 3339 time after which the key is refused', (t: string) => parseTimestamp(t, '--expiration-time'))
    .action(
      run(async (cmd) => {
        const index = indexArg(cmd);
        const t = target(cmd);
        const { list, etag } = await readCredentials(t);
        const next = withExpiration(list, index, cmd.opts<{ expirationTime: string }>().expirationTime);
        const saved = await writeEdited(t, next, etag);
        t.ctx.out.status(`Updated credential ${index} of device [${t.device}].`);
        t.ctx.out.resource(saved[index] ?? next[index]!);
      }),
    );

  withQuiet(credentialLeaf(creds, 'delete <index>', 'remove one credential; later ones move up an index')).action(
    run(async (cmd) => {
      const index = indexArg(cmd);
      const t = target(cmd);
      const { list, etag } = await readCredentials(t);
      checkCredentialIndex(list, index);
      await confirmOrStop(cmd, `Credential ${index} of device [${t.device}] will be deleted; connections using it are closed.`);
      const saved = await writeEdited(t, withoutCredential(list, index), etag);
      t.ctx.out.status(`Deleted credential ${index} of device [${t.device}].`);
      if (t.ctx.out.format === 'json') t.ctx.out.resource({ credentials: saved });
    }),
  );

  withQuiet(credentialLeaf(creds, 'clear', 'remove every credential of a device')).action(
    run(async (cmd) => {
      const t = target(cmd);
      await confirmOrStop(cmd, `Every credential of device [${t.device}] will be deleted; the device cannot connect until a key is added.`);
      const saved = await writeCredentialList(t.ctx.client, t.path, [], undefined);
      t.ctx.out.status(`Cleared the credentials of device [${t.device}].`);
      if (t.ctx.out.format === 'json') t.ctx.out.resource({ credentials: saved });
    }),
  );
}
