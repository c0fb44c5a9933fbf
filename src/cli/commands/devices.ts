import type { Command } from 'commander';
import { deviceBody, DEVICE_MASK_PATHS, type DeviceFlags } from '../bodies.js';
import { apiContext, arg, devicePath, group, leaf, readText, registryPath, run, UsageError, type ApiContext } from '../context.js';
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
  parsePublicKey,
} from '../flags.js';
import { pick, type Column, type JsonObject } from '../output.js';
import { registerDeviceData } from './device-data.js';

/** `bridgehead devices ...`: gcloud iot devices. */

export const DEVICE_COLUMNS: Column[] = [
  { header: 'ID', value: 'id' },
  { header: 'NUM_ID', value: 'numId' },
  { header: 'BLOCKED', value: (d) => (pick(d, 'blocked') === true ? 'True' : '') },
  { header: 'GATEWAY_TYPE', value: (d) => String(pick(d, 'gatewayConfig.gatewayType') ?? '') },
];

/** List requests ask for these beyond {id, name, numId} so the table can show them. */
export const LIST_FIELD_MASK = 'blocked,gatewayConfig';

const KEY_HELP = 'path=FILE,type=rs256|es256|rsa-x509-pem|es256-x509-pem[,expiration-time=RFC3339]; repeatable (up to 3)';

/** Flags that both create and update take. */
function addMutableFlags(cmd: Command): Command {
  return cmd
    .option('--public-key <spec>', KEY_HELP, collect(parsePublicKey))
    .option('--auth-method <method>', Object.keys(AUTH_METHODS).join('|'), enumParser(AUTH_METHODS, '--auth-method'))
    .option('--metadata <k=v,...>', 'metadata pairs; repeatable', (t: string, prev?: Record<string, string>) => parseMetadata(t, prev))
    .option('--log-level <level>', 'none|error|info|debug', enumParser(LOG_LEVELS, '--log-level'));
}

function withRegistry(cmd: Command): Command {
  return cmd.requiredOption('--registry <registry>', 'registry ID');
}

/** Lists every page of a registry's devices with `query` as the filter, then prints them. */
export async function listDevices(ctx: ApiContext, registry: string, query: Record<string, string | number | string[] | undefined>): Promise<void> {
  const doc = await ctx.client.listAll(`${registryPath(ctx, registry)}/devices`, 'devices', { fieldMask: LIST_FIELD_MASK, ...query });
  ctx.out.list(doc, (doc.devices ?? []) as JsonObject[], DEVICE_COLUMNS, 'devices');
}

async function setBlocked(cmd: Command, blocked: boolean): Promise<void> {
  const ctx = apiContext(cmd);
  const id = arg(cmd, 0);
  const { registry } = cmd.opts<{ registry: string }>();
  const doc = await ctx.client.patch(devicePath(ctx, registry, id), { blocked }, ['blocked']);
  ctx.out.status(`${blocked ? 'Blocked' : 'Unblocked'} device [${id}].`);
  ctx.out.resource(doc);
}

export function registerDevices(program: Command): void {
  const devices = group(program, 'devices', 'manage devices');

  addMutableFlags(withRegistry(leaf(devices, 'create <id>', 'create a device')))
    .option('--device-type <type>', 'gateway|non-gateway', enumParser(DEVICE_TYPES, '--device-type'))
    .option('--blocked', 'create the device blocked')
    .action(
      run(async (cmd) => {
        const ctx = apiContext(cmd);
        const id = arg(cmd, 0);
        const opts = cmd.opts<DeviceFlags & { registry: string }>();
        const doc = await ctx.client.post(`${registryPath(ctx, opts.registry)}/devices`, { id, ...deviceBody(opts, readText) });
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
        const ctx = apiContext(cmd);
        const o = cmd.opts<{ registry: string; deviceIds?: string[]; deviceNumIds?: string[]; deviceType?: string; pageSize?: number }>();
        await listDevices(ctx, o.registry, {
          deviceIds: o.deviceIds,
          deviceNumIds: o.deviceNumIds,
          'gatewayListOptions.gatewayType': o.deviceType,
          pageSize: o.pageSize,
        });
      }),
    );

  withRegistry(leaf(devices, 'describe <id>', 'show a device (ID or numeric ID)')).action(
    run(async (cmd) => {
      const ctx = apiContext(cmd);
      ctx.out.resource(await ctx.client.get(devicePath(ctx, cmd.opts<{ registry: string }>().registry, arg(cmd, 0))));
    }),
  );

  addMutableFlags(withRegistry(leaf(devices, 'update <id>', 'change a device; the update mask covers exactly the flags given')))
    .option('--blocked', 'block the device')
    .option('--no-blocked', 'unblock the device')
    .action(
      run(async (cmd) => {
        const ctx = apiContext(cmd);
        const id = arg(cmd, 0);
        const opts = cmd.opts<DeviceFlags & { registry: string }>();
        const mask = buildUpdateMask({ ...opts }, DEVICE_MASK_PATHS as Record<string, string>);
        if (mask.length === 0) throw new UsageError('nothing to update: give at least one of --blocked, --no-blocked, --metadata, --log-level, --auth-method, --public-key.');
        const doc = await ctx.client.patch(devicePath(ctx, opts.registry, id), deviceBody(opts, readText), mask);
        ctx.out.status(`Updated device [${id}].`);
        ctx.out.resource(doc);
      }),
    );

  withRegistry(leaf(devices, 'delete <id>', 'delete a device')).action(
    run(async (cmd) => {
      const ctx = apiContext(cmd);
      const id = arg(cmd, 0);
      const doc = await ctx.client.delete(devicePath(ctx, cmd.opts<{ registry: string }>().registry, id));
      ctx.out.status(`Deleted device [${id}].`);
      if (ctx.out.format === 'json') ctx.out.resource(doc);
    }),
  );

  withRegistry(leaf(devices, 'block <id>', 'block a device (its connections and requests fail)')).action(run((cmd) => setBlocked(cmd, true)));
  withRegistry(leaf(devices, 'unblock <id>', 'unblock a device')).action(run((cmd) => setBlocked(cmd, false)));

  registerDeviceData(devices);
}
