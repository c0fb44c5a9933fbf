import type { Command } from 'commander';
import { apiContext, group, leaf, registryPath, run } from '../context.js';
import { listDevices } from './devices.js';

/** `bridgehead gateways ...`: gcloud iot devices gateways. */

function bindLeaf(parent: Command, name: string, description: string, verb: string, done: string): void {
  leaf(parent, name, description)
    .requiredOption('--registry <registry>', 'registry ID')
    .requiredOption('--gateway <gateway>', 'gateway ID or numeric ID')
    .requiredOption('--device <device>', 'device ID or numeric ID')
    .action(
      run(async (cmd) => {
        const ctx = apiContext(cmd);
        const o = cmd.opts<{ registry: string; gateway: string; device: string }>();
        const doc = await ctx.client.post(`${registryPath(ctx, o.registry)}:${verb}`, { gatewayId: o.gateway, deviceId: o.device });
        ctx.out.status(`${done} device [${o.device}] ${verb.startsWith('bind') ? 'to' : 'from'} gateway [${o.gateway}].`);
        if (ctx.out.format === 'json') ctx.out.resource(doc);
      }),
    );
}

export function registerGateways(program: Command): void {
  const gateways = group(program, 'gateways', 'gateways and the devices bound to them');

  bindLeaf(gateways, 'bind', 'bind a device to a gateway', 'bindDeviceToGateway', 'Bound');
  bindLeaf(gateways, 'unbind', 'unbind a device from a gateway', 'unbindDeviceFromGateway', 'Unbound');

  leaf(gateways, 'list-bound-devices', 'list the devices bound to a gateway')
    .requiredOption('--registry <registry>', 'registry ID')
    .requiredOption('--gateway <gateway>', 'gateway ID or numeric ID')
    .action(
      run(async (cmd) => {
        const o = cmd.opts<{ registry: string; gateway: string }>();
        await listDevices(apiContext(cmd), o.registry, { 'gatewayListOptions.associationsGatewayId': o.gateway });
      }),
    );

  leaf(gateways, 'list', 'list the gateways of a registry')
    .requiredOption('--registry <registry>', 'registry ID')
    .option('--device <device>', 'only gateways this device is bound to')
    .action(
      run(async (cmd) => {
        const o = cmd.opts<{ registry: string; device?: string }>();
        await listDevices(
          apiContext(cmd),
          o.registry,
          o.device === undefined ? { 'gatewayListOptions.gatewayType': 'GATEWAY' } : { 'gatewayListOptions.associationsDeviceId': o.device },
        );
      }),
    );
}
