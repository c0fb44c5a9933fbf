#!/usr/bin/env node
import { Command } from 'commander';
import { registerServe } from './serve-command.js';
import { registerAdminCommands } from './admin-commands.js';
import { registerFleet } from './commands/fleet.js';

const program = new Command();
program.name('bridgehead').description('Bridgehead: a self-hosted, wire-compatible Google Cloud IoT Core').showHelpAfterError();
registerServe(program);
registerAdminCommands(program);
registerFleet(program);

await program.parseAsync(process.argv);
