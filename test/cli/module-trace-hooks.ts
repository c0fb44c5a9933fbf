import { appendFileSync } from 'node:fs';
import type { InitializeHook, LoadHook } from 'node:module';

/**
 * Module customization hooks (node:module register) that append the URL of every module the
 * process loads to a file, one per line. test/cli/lean-entry.test.ts registers them in CLI
 * children with --import; they run on Node's hooks thread, hence a file rather than stdout.
 */

let traceFile: string | undefined;

export const initialize: InitializeHook<{ traceFile: string }> = (data) => {
  traceFile = data.traceFile;
};

export const load: LoadHook = (url, context, nextLoad) => {
  if (traceFile !== undefined) appendFileSync(traceFile, `${url}\n`);
  return nextLoad(url, context);
};
