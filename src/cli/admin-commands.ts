import type { Command } from 'commander';
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
 *   devices create|list|describe|update|delete|block|unblock
 *   devices configs update|list, devices states list, devices commands send
 *   gateways bind|unbind|list-bound-devices|list
 *   keys generate, jwt mint
 *   events tail (the embedded event log)
 *   service-accounts create|list|describe|delete, service-accounts keys create|list|disable|enable|delete
 *   pubsub topics|subscriptions|snapshots ... (the google.pubsub.v1 gRPC API)
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
}
