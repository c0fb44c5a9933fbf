import type { Command } from 'commander';
import { deviceBody, DEVICE_MASK_PATHS, type DeviceFlags } from '../bodies.js';
import { confirmOrStop, withQuiet } from '../confirm.js';
import { arg, group, leaf, readText, registryPath, run, UsageError, type ApiContext } from '../context.js';
import {
  AUTH_METHODS,
  buildUpdateMask,
  collect,
  DEVICE_TYPES,
  enumParser,
  intParser,
  LOG_LEVELS,
  parseList,
  parseMetadata,
  parseMetadataFiles,
  parsePublicKey,
} from '../flags.js';
import { pick, type Column, type JsonObject } from '../output.js';
import { deviceTarget, registryTarget } from '../resource-names.js';
import { registerCredentials } from './credentials.js';
import { registerDeviceData } from './device-data.js';
import { registerBindings } from './gateways.js';
import { registerMisspellings } from './misspellings.js';

/** `bridgehead devices ...`: gcloud iot devices. */

export const DEVICE_COLUMNS: Column[] = [
  { header: 'ID', value: 'id' },
  { header: 'NUM_ID', value: 'numId' },
  { header: 'BLOCKED', value: (d) => (pick(d, 'blocked') === true ? 'True' : '') },
  { header: 'GATEWAY_TYPE', value: (d) => String(pick(d, 'gatewayConfig.gatewayType') ?? '') },
];

/** List requests ask for these beyond {id, name, numId} so the table can show them. */
export const LIST_FIELD_MASK = 'blocked,gatewayConfig';

const KEY_HELP =
  'path=FILE,type=rs256|es256|rsa-x509-pem|es256-x509-pem[,expiration-time=RFC3339]; repeatable (up to 3); replaces every key (to add or remove one, use devices credentials)';

/** Flags that both create and update take. */
function addMutableFlags(cmd: Command): Command {
  return cmd
    .option('--public-key <spec>', KEY_HELP, collect(parsePublicKey))
    .option('--auth-method <method>', Object.keys(AUTH_METHODS).join('|'), enumParser(AUTH_METHODS, '--auth-method'))
    .option('--metadata <k=v,...>', 'metadata pairs; repeatable', (t: string, prev?: Record<string, string>) => parseMetadata(t, prev))
    .option('--metadata-from-file <k=path,...>', "metadata values read from files (a key not also in --metadata); repeatable", (t: string, prev?: Record<string, string>) =>
      parseMetadataFiles(t, prev),
    )
    .option('--log-level <level>', 'none|error|info|debug', enumParser(LOG_LEVELS, '--log-level'));
}

/** --registry is required unless the device is given as a full name (checked when run). */
export function withRegistry(cmd: Command): Command {
  return cmd.option('--registry <registry>', 'registry ID or projects/P/locations/L/registries/R');
}

/** Lists every page of a registry's devices with `query` as the filter, then prints them. */
export async function listDevices(ctx: ApiContext, registry: string, query: Record<string, string | number | string[] | undefined>): Promise<void> {
  const doc = await ctx.client.listAll(`${registryPath(ctx, registry)}/devices`, 'devices', { fieldMask: LIST_FIELD_MASK, ...query });
  ctx.out.list(doc, (doc.devices ?? []) as JsonObject[], DEVICE_COLUMNS, 'devices');
}

async function setBlocked(cmd: Command, blocked: boolean): Promise<void> {
  const t = deviceTarget(cmd, arg(cmd, 0), 'the device argument');
  const doc = await t.ctx.client.patch(t.path, { blocked }, ['blocked']);
  t.ctx.out.status(`${blocked ? 'Blocked' : 'Unblocked'} device [${t.device}].`);
  t.ctx.out.resource(doc);
}

export function registerDevices(program: Command): void {
  const devices = group(program, 'devices', 'manage devices');

  addMutableFlags(withRegistry(leaf(devices, 'create <id>', 'create a device')))
    .option('--device-type <type>', 'gateway|non-gateway', enumParser(DEVICE_TYPES, '--device-type'))
    .option('--blocked', 'create the device blocked')
    .action(
      run(async (cmd) => {
        const t = deviceTarget(cmd, arg(cmd, 0), 'the device argument');
        const { ctx, device: id } = t;
        const opts = cmd.opts<DeviceFlags>();
        const doc = await ctx.client.post(`${registryPath(ctx, t.registry)}/devices`, { id, ...deviceBody(opts, readText) });
        ctx.out.status(`Created device [${id}].`);
        ctx.out.resource(doc);
      }),
    );

  withRegistry(leaf(devices, 'list', 'list the devices of a registry'))
    .option('--device-ids <ids>', 'only these device IDs (comma-separated; repeatable)', (t: string, p?: string[]) => parseList(t, p))
    .option('--device-num-ids <ids>', 'only these numeric IDs (comma-separated; repeatable)', (t: string, p?: string[]) => parseList(t, p))
    .option('--device-type <type>', 'gateway|non-gateway', enumParser(DEVICE_TYPES, '--device-type'))
    .option('--page-size <n>', 'devices per request (all pages are fetched)', intParser('--page-size', 1))
    .action(
      run(async (cmd) => {
        const { ctx, registry } = registryTarget(cmd);
        const o = cmd.opts<{ deviceIds?: string[]; deviceNumIds?: string[]; deviceType?: string; pageSize?: number }>();
        await listDevices(ctx, registry, {
          deviceIds: o.deviceIds,
          deviceNumIds: o.deviceNumIds,
          'gatewayListOptions.gatewayType': o.deviceType,
          pageSize: o.pageSize,
        });
      }),
    );

  withRegistry(leaf(devices, 'describe <id>', 'show a device (ID or numeric ID)')).action(
    run(async (cmd) => {
      const t = deviceTarget(cmd, arg(cmd, 0), 'the device argument');
      t.ctx.out.resource(await t.ctx.client.get(t.path));
    }),
  );

  addMutableFlags(withRegistry(leaf(devices, 'update <id>', 'change a device; the update mask covers exactly the flags given')))
    .option('--blocked', 'block the device')
    .option('--no-blocked', 'unblock the device')
    .action(
      run(async (cmd) => {
        const opts = cmd.opts<DeviceFlags>();
        const mask = buildUpdateMask({ ...opts }, DEVICE_MASK_PATHS as Record<string, string>);
        if (mask.length === 0) throw new UsageError('nothing to update: give at least one of --blocked, --no-blocked, --metadata, --metadata-from-file, --log-level, --auth-method, --public-key.');
        const t = deviceTarget(cmd, arg(cmd, 0), 'the device argument');
        const doc = await t.ctx.client.patch(t.path, deviceBody(opts, readText), mask);
        t.ctx.out.status(`Updated device [${t.device}].`);
        t.ctx.out.resource(doc);
      }),
    );

  withQuiet(withRegistry(leaf(devices, 'delete <id>', 'delete a device'))).action(
    run(async (cmd) => {
      const t = deviceTarget(cmd, arg(cmd, 0), 'the device argument');
      await confirmOrStop(cmd, `Device [${t.device}] of registry [${t.registry}] will be deleted.`);
      const doc = await t.ctx.client.delete(t.path);
      t.ctx.out.status(`Deleted device [${t.device}].`);
      if (t.ctx.out.format === 'json') t.ctx.out.resource(doc);
    }),
  );

  withRegistry(leaf(devices, 'block <id>', 'block a device (its connections and requests fail)')).action(run((cmd) => setBlocked(cmd, true)));
  withRegistry(leaf(devices, 'unblock <id>', 'unblock a device')).action(run((cmd) => setBlocked(cmd, false)));

  registerDeviceData(devices);
  registerCredentials(devices);
  // gcloud's spelling; the top-level `gateways bind|unbind|list-bound-devices` stay as aliases.
  const deviceGateways = group(devices, 'gateways', 'bind devices to gateways (gcloud iot devices gateways)');
  registerBindings(deviceGateways);
  registerMisspellings(program, devices, deviceGateways);
}
