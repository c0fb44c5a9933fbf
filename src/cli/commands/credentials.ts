import type { Command } from 'commander';
import {
  appendCredential,
  checkCredentialIndex,
  credentialBody,
  withExpiration,
  withoutCredential,
} from '../bodies.js';
import { confirmOrStop, withQuiet } from '../confirm.js';
import { ApiCallError } from '../api-client.js';
import { arg, group, leaf, readText, run } from '../context.js';
import { parseIndex, parseKeyType, parseTimestamp } from '../flags.js';
import { pick, type Column, type JsonObject } from '../output.js';
import { deviceTarget, type DeviceTarget } from '../resource-names.js';

/**
 * `bridgehead devices credentials create|list|describe|update|delete|clear`: gcloud iot devices
 * credentials, one key at a time. Each edit reads the device's credentials, changes the list and
 * writes it back with update mask `credentials`, on condition that the device has not changed
 * since the read (If-Match with the device's ETag, docs/compat.md C-DEVICE-ETAG): two edits at the
 * same moment never lose a key. A create that lost the race appends to the newer list; an edit by
 * index stops instead, as the index may name another key by then.
 */

/** A create re-reads and re-appends at most this many times when other edits keep winning. */
const CREATE_ATTEMPTS = 5;

interface ReadCredentials {
  list: JsonObject[];
  etag: string | undefined;
}

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

async function readCredentials(t: DeviceTarget): Promise<ReadCredentials> {
  const { doc, etag } = await t.ctx.client.exchange('GET', t.path);
  const list = doc.credentials;
  return { list: Array.isArray(list) ? (list as JsonObject[]) : [], etag };
}

async function writeCredentials(t: DeviceTarget, credentials: JsonObject[], etag: string | undefined): Promise<JsonObject[]> {
  const doc = await t.ctx.client.patch(t.path, { credentials }, ['credentials'], etag);
  return Array.isArray(doc.credentials) ? (doc.credentials as JsonObject[]) : [];
}

const changedMeanwhile = (e: unknown): boolean => e instanceof ApiCallError && e.status === 'ABORTED';

/** An edit by index whose device changed since the read: stop, and say what to do. */
async function writeEdited(t: DeviceTarget, credentials: JsonObject[], etag: string | undefined): Promise<JsonObject[]> {
  try {
    return await writeCredentials(t, credentials, etag);
  } catch (e) {
    if (!changedMeanwhile(e)) throw e;
    throw new Error(`the credentials of device [${t.device}] changed while this command ran; check them with \`bridgehead devices credentials list ${again(t)}\` and try again.`);
  }
}

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
        let next: JsonObject[] = [];
        let saved: JsonObject[] = [];
        for (let attempt = 1; ; attempt++) {
          const { list, etag } = await readCredentials(t);
          next = appendCredential(list, cred, `bridgehead devices credentials delete INDEX ${again(t)} (see credentials list)`);
          try {
            saved = await writeCredentials(t, next, etag);
            break;
          } catch (e) {
            // Another edit won the race: append to what it left (the 3-key check runs again).
            if (!changedMeanwhile(e) || attempt >= CREATE_ATTEMPTS) throw e;
          }
        }
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
      const saved = await writeCredentials(t, [], undefined);
      t.ctx.out.status(`Cleared the credentials of device [${t.device}].`);
      if (t.ctx.out.format === 'json') t.ctx.out.resource({ credentials: saved });
    }),
  );
}
