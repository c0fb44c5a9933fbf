import type { Command } from 'commander';
import { registerConfig } from './commands/config.js';
import { addListOptions } from './context.js';
import { registerDevices } from './commands/devices.js';
import { registerEvents } from './commands/events.js';
import { registerGateways } from './commands/gateways.js';
import { registerJwt } from './commands/jwt.js';
import { registerKeys } from './commands/keys.js';
import { registerPubSub } from './commands/pubsub.js';
import { registerRegistries } from './commands/registries.js';
import { registerServiceAccounts } from './commands/service-accounts.js';

/**
 * The admin CLI, in the spirit of `gcloud iot`: every resource command is a client of the
 * cloudiot v1 REST API (src/cli/api-client.ts); `keys` and `jwt` work locally.
 *
 *   registries create|list|describe|update|delete
 *   registries get-iam-policy|set-iam-policy|add-iam-policy-binding|remove-iam-policy-binding, registries credentials create|list|describe|delete|clear
 *   devices create|list|describe|update|delete|block|unblock
 *   devices credentials create|list|describe|update|delete|clear
 *   devices configs update|list|describe|get-value, devices states list, devices commands send
 *   devices gateways bind|unbind|list-bound-devices (also as gateways bind|unbind|list-bound-devices), gateways list
 *   keys generate, jwt mint
 *   events tail (the embedded event log)
 *   service-accounts create|list|describe|delete, service-accounts keys create|list|disable|enable|delete
 *   pubsub topics|subscriptions|snapshots ... (the google.pubsub.v1 gRPC API)
 *   config set|get|unset|list (per-user project, region, endpoint, key-file)
 *   import, export (fleet files, offline; registered in main.ts)
 * Every list command gets gcloud's --filter, --limit and --page-size (addListOptions).
 */
export function registerAdminCommands(program: Command): void {
  registerRegistries(program);
  registerDevices(program);
  registerGateways(program);
  registerKeys(program);
  registerJwt(program);
  registerEvents(program);
  registerServiceAccounts(program);
  registerPubSub(program);
  registerConfig(program);
  for (const cmd of listCommands(program)) addListOptions(cmd, { pageSize: pagesThroughApi(cmd) });
}

/** Lists whose items come from one API response (or from gRPC Pub/Sub), where a page size would not be sent. */
const UNPAGED_GROUPS = new Set(['configs', 'states', 'keys', 'credentials', 'pubsub']);

function pagesThroughApi(cmd: Command): boolean {
  for (let c: Command | null = cmd.parent; c !== null; c = c.parent) if (UNPAGED_GROUPS.has(c.name())) return false;
  return true;
}

/** Leaf commands named list or list-* (registered by the command modules, whichever they are). */
function listCommands(cmd: Command): Command[] {
  const out: Command[] = [];
  for (const sub of cmd.commands) {
    if (sub.commands.length > 0) out.push(...listCommands(sub));
    else if (/^list(-|$)/.test(sub.name()) && sub.parent?.name() !== 'config') out.push(sub);
  }
  return out;
}
