import type { Command } from 'commander';
import { exitOnUsageError } from '../context.js';

/**
 * Spellings a `gcloud iot` user (or a hurried one) types that are not commands: each is a hidden
 * command that exits 2 with the command to type instead. Commander's own "Did you mean" only
 * compares names at one level, so it cannot send `devices bind` to `devices gateways bind`.
 */

/** `from` (the typed words) -> the command that does it; `*` stands for the words the user typed next. */
const TOP_LEVEL: Readonly<Record<string, string>> = {
  device: 'devices *',
  registry: 'registries *',
  gateway: 'gateways *',
  credentials: 'devices credentials *',
  credential: 'devices credentials *',
  configs: 'devices configs *',
  states: 'devices states *',
  commands: 'devices commands *',
  iot: '*',
};

const UNDER_DEVICES: Readonly<Record<string, string>> = {
  bind: 'devices gateways bind',
  unbind: 'devices gateways unbind',
  'list-bound-devices': 'devices gateways list-bound-devices',
  gateway: 'devices gateways *',
  credential: 'devices credentials *',
  keys: 'devices credentials *',
  config: 'devices configs *',
  state: 'devices states *',
  command: 'devices commands *',
  'get-value': 'devices configs get-value',
};

/**
 * The command to type for `template` and the words typed after the misspelt one: the words up to
 * the first flag are kept (`*` stands for them), the flags shown as `...` so that a token typed on
 * the command line is not echoed.
 */
export function suggestion(template: string, rest: readonly string[]): string {
  const firstFlag = rest.findIndex((w) => w.startsWith('-'));
  const words = firstFlag === -1 ? rest : rest.slice(0, firstFlag);
  const tail = firstFlag === -1 ? '' : ' ...';
  const filled = template.endsWith('*') ? `${template.slice(0, -1)}${words.join(' ')}` : [template, ...words].join(' ');
  return `bridgehead ${filled.trim()}${tail}`.replace(/\s+/g, ' ');
}

function addHidden(parent: Command, name: string, template: string, prefix: string): void {
  if (parent.commands.some((c) => c.name() === name || c.aliases().includes(name))) return;
  parent
    .command(name, { hidden: true })
    .argument('[words...]')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .exitOverride(exitOnUsageError)
    .action((words: string[], _opts: unknown, cmd: Command) => {
      const typed = `bridgehead ${prefix}${name}`;
      cmd.error(`error: unknown command '${typed}'. Did you mean: ${suggestion(template, words)} ?`, { exitCode: 2, code: 'bridgehead.usage' });
    });
}

export function registerMisspellings(program: Command, devices: Command, deviceGateways: Command): void {
  for (const [name, template] of Object.entries(TOP_LEVEL)) addHidden(program, name, template, '');
  for (const [name, template] of Object.entries(UNDER_DEVICES)) addHidden(devices, name, template, 'devices ');
  // Listing gateways is `gateways list` (devices of type GATEWAY), not a bindings command.
  addHidden(deviceGateways, 'list', 'gateways list', 'devices gateways ');
}
