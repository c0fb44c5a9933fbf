import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';

/**
 * gcloud asks before it deletes. So does the CLI, but only when a person can answer: with stdin
 * not a terminal (scripts, CI, pipes) it goes ahead, as gcloud does when prompts are disabled, and
 * `--quiet` (`-q`) skips the question on a terminal too.
 */

export class Declined extends Error {}

/** Adds `--quiet` unless the command already has it (a global option may bring it). */
export function withQuiet(cmd: Command): Command {
  if (cmd.options.some((o) => o.long === '--quiet')) return cmd;
  return cmd.option('-q, --quiet', 'do not ask for confirmation (no question is asked when stdin is not a terminal)');
}

export interface Terminal {
  isTTY: boolean;
  ask(question: string): Promise<string>;
}

const processTerminal: Terminal = {
  get isTTY() {
    return process.stdin.isTTY === true;
  },
  async ask(question) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

/** Whether to go ahead: true without asking when quiet or not interactive; else the answer (default yes). */
export async function confirm(message: string, quiet: boolean, term: Terminal = processTerminal): Promise<boolean> {
  if (quiet || !term.isTTY) return true;
  const answer = (await term.ask(`${message}\n\nDo you want to continue (Y/n)?  `)).trim().toLowerCase();
  return answer === '' || answer === 'y' || answer === 'yes';
}

/** confirm() for a command with --quiet; a "no" throws Declined (exit 1, nothing changed). */
export async function confirmOrStop(cmd: Command, message: string, term?: Terminal): Promise<void> {
  const quiet = cmd.opts<{ quiet?: boolean }>().quiet === true;
  if (!(await confirm(message, quiet, term))) throw new Declined('aborted by user; nothing was changed.');
}
