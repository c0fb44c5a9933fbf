import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Command } from 'commander';
import { normalizeValue } from '../../src/cli/commands/config.js';
import { DEFAULT_API, globals, leaf, listOptions, UsageError } from '../../src/cli/context.js';
import { readUserConfig, userConfigPath, writeUserConfig } from '../../src/cli/user-config.js';

/** Settings precedence: flag > environment variable > user config > default, with a temp XDG_CONFIG_HOME. */

const ENV_KEYS = ['XDG_CONFIG_HOME', 'BRIDGEHEAD_API', 'BRIDGEHEAD_PROJECT', 'BRIDGEHEAD_REGION', 'GOOGLE_APPLICATION_CREDENTIALS'];
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
let dir: string;
let n = 0;

/** A fresh config home per test, so that the per-path cache never serves another test's file. */
function freshHome(): string {
  const home = join(dir, `xdg-${++n}`);
  process.env.XDG_CONFIG_HOME = home;
  return home;
}

/** Parses `args` on a leaf command with the global options, as commander does for a real invocation. */
function parsed(args: string[]): Command {
  const program = new Command().exitOverride();
  const cmd = leaf(program, 'x', 'test').action(() => undefined);
  program.parse(['x', ...args], { from: 'user' });
  return cmd;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-userconf-'));
});

after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  for (const k of ENV_KEYS) delete process.env[k];
});

describe('user config file', () => {
  test('lives under $XDG_CONFIG_HOME, else ~/.config; written 0600, unknown keys kept', () => {
    assert.equal(userConfigPath({ XDG_CONFIG_HOME: '/x' }, () => '/home/u'), '/x/bridgehead/config.json');
    assert.equal(userConfigPath({}, () => '/home/u'), '/home/u/.config/bridgehead/config.json');
    assert.equal(userConfigPath({ XDG_CONFIG_HOME: 'relative' }, () => '/home/u'), '/home/u/.config/bridgehead/config.json');
    const path = join(freshHome(), 'bridgehead', 'config.json');
    mkdirSync(join(dir, `xdg-${n}`, 'bridgehead'), { recursive: true });
    writeFileSync(path, JSON.stringify({ future: 1, project: 'old' }));
    writeUserConfig({ project: 'p', region: 'europe-west1' }, path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { future: 1, project: 'p', region: 'europe-west1' });
    assert.deepEqual(readUserConfig(path), { project: 'p', region: 'europe-west1' });
  });

  test('a missing file is no settings; a damaged one names the file', () => {
    assert.deepEqual(readUserConfig(join(dir, 'none.json')), {});
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{nope');
    assert.throws(() => readUserConfig(bad), new RegExp(`${bad}.*not JSON`));
    writeFileSync(bad, '{"project": 5}');
    assert.throws(() => readUserConfig(bad), /"project" must be a string/);
    writeFileSync(bad, '[]');
    assert.throws(() => readUserConfig(bad), /JSON object/);
  });

  test('values are checked like the flags they stand for; key-file becomes absolute', () => {
    assert.equal(normalizeValue('project', ' p1 '), 'p1');
    assert.throws(() => normalizeValue('project', 'a/b'), UsageError);
    assert.throws(() => normalizeValue('region', ''), /config unset region/);
    assert.equal(normalizeValue('endpoint', 'https://h:8443'), 'https://h:8443');
    assert.throws(() => normalizeValue('endpoint', 'h:8443'), /endpoint must be the API base URL/);
    assert.throws(() => normalizeValue('endpoint', 'ftp://h'), /endpoint/);
    assert.equal(normalizeValue('key-file', 'k.json', '/work', () => true), '/work/k.json');
    assert.throws(() => normalizeValue('key-file', 'k.json', '/work', () => false), /\/work\/k\.json does not exist/);
  });
});

describe('precedence: flag > environment > user config > default', () => {
  test('defaults when nothing is set', () => {
    freshHome();
    const g = globals(parsed([]));
    assert.equal(g.api, DEFAULT_API);
    assert.equal(g.region, 'us-central1');
    assert.equal(g.project, undefined);
    assert.equal(g.keyFile, undefined);
  });

  test('user config over defaults', () => {
    writeUserConfig({ project: 'conf-p', region: 'conf-r', endpoint: 'http://conf:1', 'key-file': '/k/conf.json' }, userConfigPath({ XDG_CONFIG_HOME: freshHome() }));
    const g = globals(parsed([]));
    assert.deepEqual([g.project, g.region, g.api, g.keyFile], ['conf-p', 'conf-r', 'http://conf:1', '/k/conf.json']);
  });

  test('environment over user config, flags over both', () => {
    writeUserConfig({ project: 'conf-p', region: 'conf-r', endpoint: 'http://conf:1', 'key-file': '/k/conf.json' }, userConfigPath({ XDG_CONFIG_HOME: freshHome() }));
    process.env.BRIDGEHEAD_PROJECT = 'env-p';
    process.env.BRIDGEHEAD_REGION = 'env-r';
    process.env.BRIDGEHEAD_API = 'http://env:2';
    process.env.GOOGLE_APPLICATION_CREDENTIALS = '/k/env.json';
    const fromEnv = globals(parsed([]));
    assert.deepEqual([fromEnv.project, fromEnv.region, fromEnv.api, fromEnv.keyFile], ['env-p', 'env-r', 'http://env:2', '/k/env.json']);
    const fromFlags = globals(parsed(['--project', 'f-p', '--region', 'f-r', '--api', 'http://flag:3', '--key-file', '/k/flag.json']));
    assert.deepEqual([fromFlags.project, fromFlags.region, fromFlags.api, fromFlags.keyFile], ['f-p', 'f-r', 'http://flag:3', '/k/flag.json']);
  });

  test('a flag equal to the default still wins over the user config', () => {
    writeUserConfig({ region: 'conf-r' }, userConfigPath({ XDG_CONFIG_HOME: freshHome() }));
    assert.equal(globals(parsed(['--region', 'us-central1'])).region, 'us-central1');
  });

  test('a damaged user config is a usage error, but not read when flags give everything', () => {
    const home = freshHome();
    mkdirSync(join(home, 'bridgehead'), { recursive: true });
    writeFileSync(join(home, 'bridgehead', 'config.json'), 'garbage');
    assert.throws(() => globals(parsed([])), (e: unknown) => e instanceof UsageError && /not JSON/.test(e.message));
    const g = globals(parsed(['--project', 'p', '--region', 'r', '--api', 'http://a:1', '--key-file', '/k']));
    assert.equal(g.project, 'p');
  });
});

describe('list options from flags', () => {
  test('--filter and value() fields widen a device fieldMask (known top-level fields only); --limit and --page-size pass through', () => {
    freshHome();
    const program = new Command().exitOverride();
    const cmd = leaf(program, 'list', 'test').option('--filter <f>').option('--limit <n>', '', Number).option('--page-size <n>', '', Number).action(() => undefined);
    program.parse(['list', '--project', 'p', '--filter', 'metadata.site:x AND bogus=1', '--format', 'value(id,lastEventTime)', '--limit', '2', '--page-size', '7'], {
      from: 'user',
    });
    const lo = listOptions(globals(cmd));
    assert.deepEqual(lo.maskFields, ['metadata', 'id', 'lastEventTime']);
    assert.equal(lo.limit, 2);
    assert.equal(lo.pageSize, 7);
    assert.equal(lo.matches?.({ metadata: { site: 'xy' }, bogus: '1' }), true);
    assert.equal(lo.matches?.({ metadata: { site: 'xy' } }), false);
  });
});
