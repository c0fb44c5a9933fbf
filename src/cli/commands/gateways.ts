import type { Command } from 'commander';
import { group, leaf, registryPath, run } from '../context.js';
import { parseDeviceRef, parseRegistryRef, registryTarget, type NameSource } from '../resource-names.js';
import { listDevices } from './devices.js';

/**
 * Gateway bindings: `bridgehead devices gateways bind|unbind|list-bound-devices` (gcloud iot devices
 * gateways), the same commands under the older top-level `bridgehead gateways`, and `gateways list`.
 */

/** A --gateway/--device value as the registry scope it implies and the device ID it names. */
function deviceSource(text: string, label: string): { scope: NameSource; id: string } {
  const src = parseDeviceRef(text, label);
  const { device, ...scope } = src.parts;
  return { scope: { ...src, parts: scope }, id: device! };
}

const REGISTRY_HELP = 'registry ID or projects/P/locations/L/registries/R (implied by full --gateway/--device names)';

interface BindFlags {
  gateway: string;
  device: string;
  deviceRegistry?: string;
  deviceRegion?: string;
  gatewayRegistry?: string;
  gatewayRegion?: string;
}

/**
 * gcloud's `--device-registry/--device-region/--gateway-registry/--gateway-region` as name sources:
 * a binding lives in one registry, so each must agree with the others and with --registry/--region
 * (mergeNames refuses a disagreement, naming both flags).
 */
function bindScopeSources(o: BindFlags): NameSource[] {
  const out: NameSource[] = [];
  for (const side of ['device', 'gateway'] as const) {
    const registry = o[`${side}Registry`];
    const region = o[`${side}Region`];
    if (registry !== undefined) out.push(parseRegistryRef(registry, `--${side}-registry`));
    if (region !== undefined) out.push({ label: `--${side}-region`, text: region, parts: { region } });
  }
  return out;
}

function bindLeaf(parent: Command, name: string, description: string, verb: string, done: string): void {
  leaf(parent, name, description)
    .option('--registry <registry>', REGISTRY_HELP)
    .requiredOption('--gateway <gateway>', 'gateway ID, numeric ID or full name')
    .requiredOption('--device <device>', 'device ID, numeric ID or full name')
    .option('--device-registry <registry>', "the device's registry (gcloud's spelling; the same registry as the gateway's)")
    .option('--device-region <region>', "the device's region (gcloud's spelling)")
    .option('--gateway-registry <registry>', "the gateway's registry (gcloud's spelling)")
    .option('--gateway-region <region>', "the gateway's region (gcloud's spelling)")
    .action(
      run(async (cmd) => {
        const o = cmd.opts<BindFlags>();
        const gw = deviceSource(o.gateway, '--gateway');
        const dev = deviceSource(o.device, '--device');
        const { ctx, registry } = registryTarget(cmd, [gw.scope, dev.scope, ...bindScopeSources(o)]);
        const doc = await ctx.client.post(`${registryPath(ctx, registry)}:${verb}`, { gatewayId: gw.id, deviceId: dev.id });
        ctx.out.status(`${done} device [${dev.id}] ${verb.startsWith('bind') ? 'to' : 'from'} gateway [${gw.id}].`);
        if (ctx.out.format === 'json') ctx.out.resource(doc);
      }),
    );
}

/** bind, unbind and list-bound-devices under `parent` (`devices gateways` or `gateways`). */
export function registerBindings(parent: Command): void {
  bindLeaf(parent, 'bind', 'bind a device to a gateway', 'bindDeviceToGateway', 'Bound');
  bindLeaf(parent, 'unbind', 'unbind a device from a gateway', 'unbindDeviceFromGateway', 'Unbound');

  leaf(parent, 'list-bound-devices', 'list the devices bound to a gateway')
    .option('--registry <registry>', REGISTRY_HELP)
    .requiredOption('--gateway <gateway>', 'gateway ID, numeric ID or full name')
    .action(
      run(async (cmd) => {
        const gw = deviceSource(cmd.opts<{ gateway: string }>().gateway, '--gateway');
        const { ctx, registry } = registryTarget(cmd, [gw.scope]);
        await listDevices(ctx, registry, { 'gatewayListOptions.associationsGatewayId': gw.id });
      }),
    );
}

export function registerGateways(program: Command): void {
  const gateways = group(program, 'gateways', 'gateways and the devices bound to them (bind commands also as devices gateways)');
  registerBindings(gateways);

  leaf(gateways, 'list', 'list the gateways of a registry (devices of type GATEWAY)')
    .option('--registry <registry>', 'registry ID or projects/P/locations/L/registries/R')
    .option('--device <device>', 'only gateways this device is bound to (ID, numeric ID or full name)')
    .action(
      run(async (cmd) => {
        const text = cmd.opts<{ device?: string }>().device;
        const dev = text === undefined ? undefined : deviceSource(text, '--device');
        const { ctx, registry } = registryTarget(cmd, dev ? [dev.scope] : []);
        await listDevices(
          ctx,
          registry,
          dev === undefined ? { 'gatewayListOptions.gatewayType': 'GATEWAY' } : { 'gatewayListOptions.associationsDeviceId': dev.id },
        );
      }),
    );
}
