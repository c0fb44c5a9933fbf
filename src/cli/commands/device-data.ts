import { Option, type Command } from 'commander';
import { group, leaf, readBytes, run, UsageError } from '../context.js';
import { intParser } from '../flags.js';
import { pick, previewData, type Column, type JsonObject } from '../output.js';
import { deviceOperand, deviceTarget, type DeviceTarget } from '../resource-names.js';

/** `bridgehead devices configs|states|commands ...`: payloads to and from one device. */

const CONFIG_COLUMNS: Column[] = [
  { header: 'VERSION', value: 'version' },
  { header: 'CLOUD_UPDATE_TIME', value: 'cloudUpdateTime' },
  { header: 'DEVICE_ACK_TIME', value: 'deviceAckTime' },
  { header: 'DATA', value: (c) => previewData(pick(c, 'binaryData')) },
];

const STATE_COLUMNS: Column[] = [
  { header: 'UPDATE_TIME', value: 'updateTime' },
  { header: 'DATA', value: (s) => previewData(pick(s, 'binaryData')) },
];

/** The payload of `--X-data TEXT` / `--X-file FILE` (exactly one), base64 for the API. */
export function payload(data: string | undefined, file: string | undefined, kind: string): string {
  if (data === undefined && file === undefined) throw new UsageError(`give --${kind}-data TEXT or --${kind}-file FILE.`);
  const bytes = data !== undefined ? Buffer.from(data, 'utf8') : readBytes(file!, `--${kind}-file`);
  return bytes.toString('base64');
}

function dataOptions(cmd: Command, kind: string, what: string): Command {
  return cmd
    .addOption(new Option(`--${kind}-data <text>`, `${what} as text (UTF-8)`).conflicts(`${kind}File`))
    .addOption(new Option(`--${kind}-file <file>`, `${what} read from a file (any bytes)`));
}

/** The device as `[device]` or gcloud's `--device`; --registry is implied by a full device name. */
function deviceLeaf(parent: Command, name: string, description: string): Command {
  return leaf(parent, `${name} [device]`, description)
    .option('--device <device>', 'device ID, numeric ID or projects/P/locations/L/registries/R/devices/D (or give it as the argument)')
    .option('--registry <registry>', 'registry ID or projects/P/locations/L/registries/R');
}

function target(cmd: Command): DeviceTarget {
  const positional = cmd.processedArgs[0] as string | undefined;
  const { text, label } = deviceOperand(cmd, positional);
  return deviceTarget(cmd, text, label);
}

/**
 * What `configs get-value` prints in text format: the bytes as stored, plus a final newline when
 * they are text without one (so a shell's `$(...)` and a terminal both show it as typed).
 */
export function configValueBytes(b64: string): Buffer {
  const bytes = Buffer.from(b64, 'base64');
  const text = bytes.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(bytes) && !text.includes('\u0000');
  return isText && bytes.length > 0 && !text.endsWith('\n') ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes;
}

export function registerDeviceData(devices: Command): void {
  const configs = group(devices, 'configs', 'cloud-to-device configuration versions');

  dataOptions(deviceLeaf(configs, 'update', 'store a new configuration version (pushed to connected MQTT devices)'), 'config', 'the configuration')
    .option('--version-to-update <n>', 'only update if the current version is N (optimistic concurrency)', intParser('--version-to-update', 0))
    .action(
      run(async (cmd) => {
        const { ctx, path, device: id } = target(cmd);
        const o = cmd.opts<{ configData?: string; configFile?: string; versionToUpdate?: number }>();
        const body: JsonObject = { binaryData: payload(o.configData, o.configFile, 'config') };
        if (o.versionToUpdate !== undefined) body.versionToUpdate = String(o.versionToUpdate);
        const doc = await ctx.client.post(`${path}:modifyCloudToDeviceConfig`, body);
        ctx.out.status(`Updated configuration of device [${id}] to version ${String(doc.version ?? '?')}.`);
        ctx.out.resource(doc);
      }),
    );

  deviceLeaf(configs, 'list', 'list the retained configuration versions, newest first')
    .option('--limit <n>', 'at most N versions', intParser('--limit', 1))
    .action(
      run(async (cmd) => {
        const { ctx, path } = target(cmd);
        const o = cmd.opts<{ limit?: number }>();
        const doc = await ctx.client.get(`${path}/configVersions`, { numVersions: o.limit });
        ctx.out.list(doc, (doc.deviceConfigs ?? []) as JsonObject[], CONFIG_COLUMNS, 'configurations');
      }),
    );

  deviceLeaf(configs, 'get-value', "print the data of the device's latest configuration (as stored; JSON format: the config)").action(
    run(async (cmd) => {
      const { ctx, path } = target(cmd);
      const device = await ctx.client.get(path);
      const config = (device.config ?? {}) as JsonObject;
      if (ctx.out.format === 'json') {
        ctx.out.resource(config);
        return;
      }
      const data = typeof config.binaryData === 'string' ? config.binaryData : '';
      process.stdout.write(configValueBytes(data));
    }),
  );

  deviceLeaf(configs, 'describe', "show the device's latest configuration: version, cloudUpdateTime, deviceAckTime, binaryData").action(
    run(async (cmd) => {
      const { ctx, path } = target(cmd);
      const device = await ctx.client.get(path);
      ctx.out.resource((device.config ?? {}) as JsonObject);
    }),
  );

  const states = group(devices, 'states', 'states reported by a device');
  deviceLeaf(states, 'list', 'list the retained states, newest first')
    .option('--limit <n>', 'at most N states', intParser('--limit', 1))
    .action(
      run(async (cmd) => {
        const { ctx, path } = target(cmd);
        const o = cmd.opts<{ limit?: number }>();
        const doc = await ctx.client.get(`${path}/states`, { numStates: o.limit });
        ctx.out.list(doc, (doc.deviceStates ?? []) as JsonObject[], STATE_COLUMNS, 'states');
      }),
    );

  const commands = group(devices, 'commands', 'commands to connected devices');
  dataOptions(deviceLeaf(commands, 'send', 'send a command to a device connected over MQTT'), 'command', 'the command')
    .option('--subfolder <subfolder>', 'deliver on /devices/ID/commands/SUBFOLDER')
    .action(
      run(async (cmd) => {
        const { ctx, path, device: id } = target(cmd);
        const o = cmd.opts<{ commandData?: string; commandFile?: string; subfolder?: string }>();
        const body: JsonObject = { binaryData: payload(o.commandData, o.commandFile, 'command') };
        if (o.subfolder !== undefined) body.subfolder = o.subfolder;
        const doc = await ctx.client.post(`${path}:sendCommandToDevice`, body);
        ctx.out.status(`Sent command to device [${id}].`);
        if (ctx.out.format === 'json') ctx.out.resource(doc);
      }),
    );
}
