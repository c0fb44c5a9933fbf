import type { Command } from 'commander';
import { buildUpdateMask, collect, enumParser, intParser, LOG_LEVELS, parseEventConfig } from '../flags.js';
import { REGISTRY_MASK_PATHS, registryBody, type RegistryFlags } from '../bodies.js';
import { confirmOrStop, withQuiet } from '../confirm.js';
import { apiContext, arg, group, leaf, readText, registryPath, run, UsageError, type ApiContext } from '../context.js';
import { pick, type Column, type JsonObject } from '../output.js';
import { parseRegistryRef, resolveScope } from '../resource-names.js';
import { registerRegistryCredentials } from './registry-credentials.js';
import { registerRegistryIam } from './registry-iam.js';

/** `bridgehead registries ...`: gcloud iot registries. */

const COLUMNS: Column[] = [
  { header: 'ID', value: 'id' },
  { header: 'LOCATION', value: (r) => String(pick(r, 'name') ?? '').split('/')[3] ?? '' },
  { header: 'MQTT_ENABLED', value: (r) => String(pick(r, 'mqttConfig.mqttEnabledState') ?? 'MQTT_ENABLED') },
  { header: 'HTTP_ENABLED', value: (r) => String(pick(r, 'httpConfig.httpEnabledState') ?? 'HTTP_ENABLED') },
];

function addRegistryFlags(cmd: Command): Command {
  return cmd
    .option(
      '--event-notification-config <topic=T[,subfolder=S]>',
      'telemetry Pub/Sub topic (projects/P/topics/T or a topic ID), optionally for one subfolder; repeatable, first match wins',
      collect(parseEventConfig),
    )
    .option('--state-pubsub-topic <topic>', 'Pub/Sub topic for state notifications')
    .option('--enable-mqtt-config', 'allow MQTT connections')
    .option('--no-enable-mqtt-config', 'refuse MQTT connections')
    .option('--enable-http-config', 'allow HTTP bridge requests')
    .option('--no-enable-http-config', 'refuse HTTP bridge requests')
    .option('--log-level <level>', 'none|error|info|debug', enumParser(LOG_LEVELS, '--log-level'))
    .option('--public-key-path <file>', 'CA certificate (X.509 PEM) that device certificates must chain to; repeatable', collect(String));
}

/** The registry argument (ID or full name); a full name sets the project and region. */
function registryArg(cmd: Command): { ctx: ApiContext; id: string } {
  const parts = resolveScope(cmd, [parseRegistryRef(arg(cmd, 0), 'the registry argument')]);
  return { ctx: apiContext(cmd), id: parts.registry! };
}

export function registerRegistries(program: Command): void {
  const registries = group(program, 'registries', 'manage device registries');

  addRegistryFlags(leaf(registries, 'create <id>', 'create a device registry')).action(
    run(async (cmd) => {
      const { ctx, id } = registryArg(cmd);
      const body: JsonObject = { id, ...registryBody(cmd.opts<RegistryFlags>(), ctx.project, readText) };
      const doc = await ctx.client.post(`${ctx.location}/registries`, body);
      ctx.out.status(`Created registry [${id}].`);
      ctx.out.resource(doc);
    }),
  );

  leaf(registries, 'list', 'list the registries of the project and region')
    .option('--page-size <n>', 'registries per request (all pages are fetched)', intParser('--page-size', 1))
    .action(
      run(async (cmd) => {
        const ctx = apiContext(cmd);
        const { pageSize } = cmd.opts<{ pageSize?: number }>();
        const doc = await ctx.client.listAll(`${ctx.location}/registries`, 'deviceRegistries', { pageSize });
        ctx.out.list(doc, (doc.deviceRegistries ?? []) as JsonObject[], COLUMNS, 'registries');
      }),
    );

  leaf(registries, 'describe <id>', 'show a registry').action(
    run(async (cmd) => {
      const { ctx, id } = registryArg(cmd);
      ctx.out.resource(await ctx.client.get(registryPath(ctx, id)));
    }),
  );

  addRegistryFlags(leaf(registries, 'update <id>', 'change a registry; the update mask covers exactly the flags given')).action(
    run(async (cmd) => {
      const flags = cmd.opts<RegistryFlags>();
      const mask = buildUpdateMask({ ...flags }, REGISTRY_MASK_PATHS);
      if (mask.length === 0) throw new UsageError('nothing to update: give at least one registry flag.');
      const { ctx, id } = registryArg(cmd);
      const doc = await ctx.client.patch(registryPath(ctx, id), registryBody(flags, ctx.project, readText), mask);
      ctx.out.status(`Updated registry [${id}].`);
      ctx.out.resource(doc);
    }),
  );

  withQuiet(leaf(registries, 'delete <id>', 'delete a registry (it must have no devices)')).action(
    run(async (cmd) => {
      const { ctx, id } = registryArg(cmd);
      await confirmOrStop(cmd, `Registry [${id}] will be deleted.`);
      const doc = await ctx.client.delete(registryPath(ctx, id));
      ctx.out.status(`Deleted registry [${id}].`);
      if (ctx.out.format === 'json') ctx.out.resource(doc);
    }),
  );
  registerRegistryIam(registries);
  registerRegistryCredentials(registries);
}
