import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiCallError, ApiClient, ConnectionError, resourcePath, type ListOptions } from './api-client.js';
import { chooseCredential, CredentialChoiceError, readSignerKey, selfSignedJwt, type OptionSource } from './credentials.js';
import { evaluate, filterFields, FilterSyntaxError, parseFilter, type FilterNode } from './filter.js';
import { intParser } from './flags.js';
import { FORMAT_HELP, FormatSyntaxError, parseFormat, Printer, type Format, type JsonObject, type ListShaping, type OutputFormat } from './output.js';
import { readUserConfig, resolveSetting, userConfigPath, UserConfigError, type UserConfig } from './user-config.js';
import { DEVICE_FIELDS } from '../domain/field-mask.js';

/** What every admin command shares: global options, the action wrapper, error reporting. */

export interface GlobalOptions {
  api: string;
  token?: string;
  tokenFile?: string;
  keyFile?: string;
  project?: string;
  region: string;
  format: Format;
  /** The whole of --format (fields of value(...), table(...)). */
  formatSpec: OutputFormat;
  /** List commands only. */
  filter?: FilterNode;
  limit?: number;
  pageSize?: number;
}

/** A problem with how the command was called: reported like commander's own errors, exit 2. */
export class UsageError extends Error {}

export const DEFAULT_API = 'http://127.0.0.1:8080';
export const DEFAULT_TOKEN_FILE = 'data/admin-token';

export function addGlobalOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--api <url>', 'Bridgehead API base URL (or: bridgehead config set endpoint URL)').env('BRIDGEHEAD_API').default(DEFAULT_API))
    .addOption(new Option('--token <token>', 'admin bearer token').env('BRIDGEHEAD_ADMIN_TOKEN'))
    .option('--token-file <path>', `file holding the admin token (default ./${DEFAULT_TOKEN_FILE} when it exists)`)
    .addOption(
      new Option('--key-file <file>', 'service-account key file to authenticate with instead of the admin token (or: bridgehead config set key-file FILE)').env('GOOGLE_APPLICATION_CREDENTIALS'),
    )
    .addOption(new Option('--project <project>', 'project ID (or: bridgehead config set project ID)').env('BRIDGEHEAD_PROJECT'))
    .addOption(new Option('--region <region>', 'cloud region (location) (or: bridgehead config set region REGION)').env('BRIDGEHEAD_REGION').default(DEFAULT_REGION))
    .addOption(new Option('--format <format>', `output format: ${FORMAT_HELP}`).argParser(formatArg).default('text'));
}

export const DEFAULT_REGION = 'us-central1';

/** Checks --format while parsing (so that a bad one is a usage error before anything runs); keeps the text. */
export function formatArg(text: string): string {
  try {
    parseFormat(text);
  } catch (e) {
    if (e instanceof FormatSyntaxError) throw new InvalidArgumentError(e.message);
    throw e;
  }
  return text;
}

function filterArg(text: string): string {
  try {
    parseFilter(text);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw new InvalidArgumentError(`${e.message} Example: --filter 'id~^dev- AND blocked=true'.`);
    throw e;
  }
  return text;
}

/**
 * gcloud's list flags, for a list command that does not declare them itself: --filter and --limit
 * apply to what is printed; --page-size is sent as pageSize (every page is still fetched unless
 * --limit is reached).
 */
export function addListOptions(cmd: Command, opts: { pageSize: boolean } = { pageSize: true }): Command {
  const has = (flag: string): boolean => cmd.options.some((o) => o.long === flag);
  if (!has('--filter')) cmd.option('--filter <expr>', "only resources matching EXPR (gcloud filter syntax, e.g. 'id~^dev- AND NOT blocked=true')", filterArg);
  if (!has('--limit')) cmd.option('--limit <n>', 'show at most N resources', intParser('--limit', 1));
  if (opts.pageSize && !has('--page-size')) cmd.option('--page-size <n>', 'resources per API request (all pages are fetched)', intParser('--page-size', 1));
  return cmd;
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
export function callerAuth(cmd: Command, nowMs: number = Date.now(), g: GlobalOptions = globals(cmd)): CallerAuth {
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

let cachedUserConfig: { path: string; config: UserConfig } | undefined;

/** The user's `bridgehead config` settings, read once per invocation; a damaged file is a usage error. */
export function userConfig(): UserConfig {
  const path = userConfigPath();
  if (cachedUserConfig?.path !== path) {
    try {
      cachedUserConfig = { path, config: readUserConfig(path) };
    } catch (e) {
      if (e instanceof UserConfigError) throw new UsageError(e.message);
      throw e;
    }
  }
  return cachedUserConfig.config;
}

/**
 * The options of this invocation, each from its flag, else its environment variable, else the
 * user config (`bridgehead config set`), else its default.
 */
export function globals(cmd: Command): GlobalOptions {
  const raw = cmd.opts<Omit<GlobalOptions, 'format' | 'formatSpec' | 'filter'> & { format?: string; filter?: string }>();
  const given = (name: string): { value: string | undefined; source: string | undefined } => ({
    value: raw[name as keyof typeof raw] as string | undefined,
    source: cmd.getOptionValueSource(name),
  });
  const fromUser = (name: string): boolean => {
    const s = cmd.getOptionValueSource(name);
    return s !== 'cli' && s !== 'env';
  };
  // The config file is read only when some setting falls through to it.
  const needConfig = ['api', 'project', 'region', 'keyFile'].some(fromUser);
  const conf = needConfig ? userConfig() : {};
  const formatSpec = parseFormat(raw.format ?? 'text');
  const { filter: filterText, format: _format, ...rest } = raw;
  const g: GlobalOptions = {
    ...rest,
    api: resolveSetting(given('api'), conf.endpoint, raw.api ?? DEFAULT_API),
    region: resolveSetting(given('region'), conf.region, raw.region ?? DEFAULT_REGION),
    format: formatSpec.kind,
    formatSpec,
  };
  const project = resolveSetting(given('project'), conf.project, undefined);
  if (project === undefined) delete g.project;
  else g.project = project;
  const keyFile = resolveSetting(given('keyFile'), conf['key-file'], undefined);
  if (keyFile === undefined) delete g.keyFile;
  else g.keyFile = keyFile;
  if (filterText !== undefined) g.filter = parseFilter(filterText);
  return g;
}

/** What --filter and --limit do to the items a list prints (and to when paging stops). */
function shaping(g: { filter?: FilterNode | undefined; limit?: number | undefined }): ListShaping {
  return { ...(g.filter ? { filter: g.filter } : {}), ...(g.limit !== undefined ? { limit: g.limit } : {}) };
}

/** The printer for this invocation; reads only --format, --filter and --limit (no user config). */
export function printer(cmd: Command): Printer {
  const o = cmd.opts<{ format?: string; filter?: string; limit?: number }>();
  const filter = o.filter === undefined ? undefined : parseFilter(o.filter);
  return new Printer(parseFormat(o.format ?? 'text'), undefined, shaping({ filter, limit: o.limit }));
}

const KNOWN_DEVICE_FIELDS: readonly string[] = DEVICE_FIELDS;

/**
 * The list behaviour of this invocation for ApiClient.listAll: --page-size, paging that stops at
 * --limit, and the top-level device fields --filter or value()/table() read added to a list's
 * fieldMask (only device lists send one; unknown names are left out so that the server does not
 * refuse the mask, and simply match nothing).
 */
export function listOptions(g: GlobalOptions): ListOptions {
  const paths = [...(g.filter ? filterFields(g.filter) : []), ...g.formatSpec.fields.map((f) => f.path)];
  const maskFields = [...new Set(paths.map((p) => p.split('.')[0]!))].filter((f) => KNOWN_DEVICE_FIELDS.includes(f));
  const filter = g.filter;
  return {
    ...(g.pageSize !== undefined ? { pageSize: g.pageSize } : {}),
    ...(maskFields.length > 0 ? { maskFields } : {}),
    ...(g.limit !== undefined ? { limit: g.limit } : {}),
    ...(filter ? { matches: (item: JsonObject) => evaluate(filter, item) } : {}),
  };
}

export function apiContext(cmd: Command): ApiContext {
  const g = globals(cmd);
  const auth = callerAuth(cmd, Date.now(), g);
  // With a key file, the project defaults to the key's own, as with gcloud.
  const project = g.project ?? auth.keyProject;
  if (!project) throw new UsageError('--project is required (or set BRIDGEHEAD_PROJECT, or run: bridgehead config set project PROJECT).');
  const client = new ApiClient(g.api, auth.bearer, undefined, listOptions(g));
  return {
    client,
    out: new Printer(g.formatSpec, undefined, shaping(g)),
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
