import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiCallError, ApiClient, ConnectionError, resourcePath } from './api-client.js';
import { chooseCredential, CredentialChoiceError, readSignerKey, selfSignedJwt, type OptionSource } from './credentials.js';
import { Printer, type Format } from './output.js';

/** What every admin command shares: global options, the action wrapper, error reporting. */

export interface GlobalOptions {
  api: string;
  token?: string;
  tokenFile?: string;
  keyFile?: string;
  project?: string;
  region: string;
  format: Format;
}

/** A problem with how the command was called: reported like commander's own errors, exit 2. */
export class UsageError extends Error {}

export const DEFAULT_API = 'http://127.0.0.1:8080';
export const DEFAULT_TOKEN_FILE = 'data/admin-token';

export function addGlobalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--api <url>', 'Bridgehead API base URL').env('BRIDGEHEAD_API').default(DEFAULT_API))
    .addOption(new Option('--token <token>', 'admin bearer token').env('BRIDGEHEAD_ADMIN_TOKEN'))
    .option('--token-file <path>', `file holding the admin token (default ./${DEFAULT_TOKEN_FILE} when it exists)`)
    .addOption(
      new Option('--key-file <file>', 'service-account key file to authenticate with instead of the admin token').env('GOOGLE_APPLICATION_CREDENTIALS'),
    )
    .addOption(new Option('--project <project>', 'project ID').env('BRIDGEHEAD_PROJECT'))
    .addOption(new Option('--region <region>', 'cloud region (location)').env('BRIDGEHEAD_REGION').default('us-central1'))
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'text']).default('text'));
}

/** Commander reports usage errors with exit code 1; the admin CLI uses 2 (help and --version keep theirs). */
export function exitOnUsageError(err: CommanderError): never {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) process.exit(err.exitCode);
  process.exit(2);
}

/** A command group (`registries`, `devices configs`, ...) whose subcommands exit 2 on usage errors. */
export function group(parent: Command, name: string, description: string): Command {
  return parent.command(name).description(description).exitOverride(exitOnUsageError);
}

/** A leaf command with the global options. */
export function leaf(parent: Command, nameAndArgs: string, description: string): Command {
  return addGlobalOptions(parent.command(nameAndArgs).description(description));
}

/**
 * The admin token: --token / BRIDGEHEAD_ADMIN_TOKEN, else --token-file, else ./data/admin-token
 * (what `bridgehead serve` writes) when it exists.
 */
export function resolveToken(
  opts: Pick<GlobalOptions, 'token' | 'tokenFile'>,
  read: (path: string) => string = (p) => readText(p, 'the admin token file'),
  exists: (path: string) => boolean = existsSync,
): string {
  if (opts.token) return opts.token;
  const fallback = resolve(DEFAULT_TOKEN_FILE);
  const file = opts.tokenFile ?? (exists(fallback) ? fallback : undefined);
  if (file === undefined) {
    throw new UsageError(`no admin token: pass --token, set BRIDGEHEAD_ADMIN_TOKEN, or use --token-file (default ./${DEFAULT_TOKEN_FILE}).`);
  }
  const token = read(file).trim();
  if (token === '') throw new UsageError(`the admin token file ${file} is empty.`);
  return token;
}

/** Reads a text file the user named, with an error that says which flag it came from. */
export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function readBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what} ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The bearer credential of this invocation, and the project of the key file when one is used. */
export interface CallerAuth {
  bearer: string;
  keyProject: string | undefined;
}

/**
 * The credential, in this order: --token, --token-file or --key-file as typed (two kinds at once
 * are a usage error), BRIDGEHEAD_ADMIN_TOKEN, GOOGLE_APPLICATION_CREDENTIALS, ./data/admin-token.
 * A key file signs a self-signed service-account JWT, valid for an hour.
 */
export function callerAuth(cmd: Command, nowMs: number = Date.now()): CallerAuth {
  const g = globals(cmd);
  const source = (name: string): OptionSource => {
    const s = cmd.getOptionValueSource(name);
    return s === 'cli' ? 'cli' : s === 'env' ? 'env' : undefined;
  };
  const fallback = resolve(DEFAULT_TOKEN_FILE);
  let choice;
  try {
    choice = chooseCredential(g, { token: source('token'), keyFile: source('keyFile') }, existsSync(fallback) ? fallback : undefined);
  } catch (e) {
    if (e instanceof CredentialChoiceError) throw new UsageError(e.message);
    throw e;
  }
  if (choice === undefined) {
    throw new UsageError(
      `no admin token or key file: pass --token, --token-file or --key-file, or set BRIDGEHEAD_ADMIN_TOKEN or GOOGLE_APPLICATION_CREDENTIALS (or have ./${DEFAULT_TOKEN_FILE}).`,
    );
  }
  if (choice.kind === 'admin-token') return { bearer: resolveToken(choice), keyProject: undefined };
  const key = readSignerKey(readText(choice.path, 'the key file'), choice.path);
  return { bearer: selfSignedJwt(key, Math.floor(nowMs / 1000)), keyProject: key.project_id };
}

export interface ApiContext {
  client: ApiClient;
  out: Printer;
  project: string;
  region: string;
  /** `projects/P/locations/R`, URL-encoded. */
  location: string;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.opts<GlobalOptions>();
}

export function printer(cmd: Command): Printer {
  return new Printer(globals(cmd).format);
}

export function apiContext(cmd: Command): ApiContext {
  const g = globals(cmd);
  const auth = callerAuth(cmd);
  // With a key file, the project defaults to the key's own, as with gcloud.
  const project = g.project ?? auth.keyProject;
  if (!project) throw new UsageError('--project is required (or set BRIDGEHEAD_PROJECT).');
  const client = new ApiClient(g.api, auth.bearer);
  return {
    client,
    out: new Printer(g.format),
    project,
    region: g.region,
    location: resourcePath('projects', project, 'locations', g.region),
  };
}

export function registryPath(ctx: ApiContext, registry: string): string {
  return `${ctx.location}/${resourcePath('registries', registry)}`;
}

export function devicePath(ctx: ApiContext, registry: string, device: string): string {
  return `${registryPath(ctx, registry)}/${resourcePath('devices', device)}`;
}

/** The message the CLI prints for an error (after `ERROR: `). */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiCallError) return `(${e.status}) ${e.message}`;
  if (e instanceof ConnectionError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Wraps an action: the command is the last argument commander passes. API and I/O errors print
 * `ERROR: ...` to stderr and exit 1; usage errors go through commander (exit 2).
 */
export function run(fn: (cmd: Command) => Promise<void>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    try {
      await fn(cmd);
    } catch (e) {
      if (e instanceof UsageError || e instanceof InvalidArgumentError) {
        cmd.error(`error: ${e.message}`, { exitCode: 2, code: 'bridgehead.usage' });
      }
      process.stderr.write(`ERROR: ${errorMessage(e)}\n`);
      process.exitCode = 1;
    }
  };
}

/** The positional argument at `index` (commander has checked that required ones are there). */
export function arg(cmd: Command, index: number): string {
  return String(cmd.processedArgs[index]);
}
