import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/loader.js';
import { ConfigError, DEFAULTS, isLoopbackHost, parseListen, redactConfig, validateConfig, type Config } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'bridgehead-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function configFile(content: unknown): string {
  const file = join(dir, `config-${++files}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Runs `fn` and returns the problems of the ConfigError it must throw. */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError, but the configuration was accepted');
}

/**
 * The settings these tests cover. Comparing only them keeps every assertion exact while the
 * schema grows (the MQTT and TLS settings have their own tests).
 */
const core = (c: Config | Record<string, unknown>) => ({
  dataDir: c.dataDir,
  apiListen: c.apiListen,
  adminToken: c.adminToken,
  logLevel: c.logLevel,
  apiBodyLimitBytes: c.apiBodyLimitBytes,
});

const TOKEN_FILE = 'file-token-0123456789';
const TOKEN_ENV = 'env-token-0123456789';
const TOKEN_FLAG = 'flag-token-0123456789';

describe('loadConfig precedence: defaults < file < BRIDGEHEAD_* env < flags', () => {
  test('defaults alone (the explicit empty env keeps the real environment out)', () => {
    assert.deepEqual(core(loadConfig({}, {})), {
      dataDir: './data',
      apiListen: { host: '127.0.0.1', port: 8080 },
      adminToken: undefined,
      logLevel: 'info',
      apiBodyLimitBytes: 2 * 1024 * 1024,
    });
  });

  test('the file overrides defaults', () => {
    const file = configFile({ dataDir: '/srv/file', apiListen: '0.0.0.0:9000', logLevel: 'debug', apiBodyLimitBytes: 4096, adminToken: TOKEN_FILE });
    assert.deepEqual(core(loadConfig({ configFile: file }, {})), {
      dataDir: '/srv/file',
      apiListen: { host: '0.0.0.0', port: 9000 },
      adminToken: TOKEN_FILE,
      logLevel: 'debug',
      apiBodyLimitBytes: 4096,
    });
  });

  test('the environment overrides the file, key by key', () => {
    const file = configFile({ dataDir: '/srv/file', apiListen: '0.0.0.0:9000', logLevel: 'debug', adminToken: TOKEN_FILE });
    const env = { BRIDGEHEAD_API_LISTEN: '127.0.0.2:9001', BRIDGEHEAD_ADMIN_TOKEN: TOKEN_ENV, BRIDGEHEAD_API_BODY_LIMIT_BYTES: '1024' };
    assert.deepEqual(core(loadConfig({ configFile: file }, env)), {
      dataDir: '/srv/file',
      apiListen: { host: '127.0.0.2', port: 9001 },
      adminToken: TOKEN_ENV,
      logLevel: 'debug',
      apiBodyLimitBytes: 1024,
    });
  });

  test('flags override the environment; undefined flags do not', () => {
    const file = configFile({ dataDir: '/srv/file', logLevel: 'debug' });
    const env = { BRIDGEHEAD_DATA_DIR: '/srv/env', BRIDGEHEAD_LOG_LEVEL: 'warn', BRIDGEHEAD_ADMIN_TOKEN: TOKEN_ENV, BRIDGEHEAD_API_LISTEN: '127.0.0.2:9001' };
    const config = loadConfig({ configFile: file, dataDir: '/srv/flag', adminToken: TOKEN_FLAG, logLevel: undefined, apiListen: undefined }, env);
    assert.deepEqual(core(config), {
      dataDir: '/srv/flag',
      apiListen: { host: '127.0.0.2', port: 9001 },
      adminToken: TOKEN_FLAG,
      logLevel: 'warn',
      apiBodyLimitBytes: 2 * 1024 * 1024,
    });
  });

  test('an empty environment variable counts as unset', () => {
    const file = configFile({ logLevel: 'error' });
    assert.equal(loadConfig({ configFile: file }, { BRIDGEHEAD_LOG_LEVEL: '' }).logLevel, 'error');
  });

  test('BRIDGEHEAD_CONFIG names the file; --config wins over it', () => {
    const fromEnv = configFile({ dataDir: '/srv/env-file' });
    const fromFlag = configFile({ dataDir: '/srv/flag-file' });
    assert.equal(loadConfig({}, { BRIDGEHEAD_CONFIG: fromEnv }).dataDir, '/srv/env-file');
    assert.equal(loadConfig({ configFile: fromFlag }, { BRIDGEHEAD_CONFIG: fromEnv }).dataDir, '/srv/flag-file');
  });

  test('the result is frozen and holds exactly the schema’s settings', () => {
    const config = loadConfig({}, {});
    assert.deepEqual(Object.keys(config).sort(), Object.keys(DEFAULTS).sort());
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.apiListen));
  });
});

describe('validation', () => {
  test('every problem is reported at once, from all sources', () => {
    const file = configFile({ dataDir: '', bogus: 1 });
    const problems = problemsOf(() =>
      loadConfig({ configFile: file, apiListen: 'nonsense', adminToken: 'short' }, { BRIDGEHEAD_LOG_LEVEL: 'loud', BRIDGEHEAD_API_BODY_LIMIT_BYTES: '0' }),
    );
    assert.deepEqual(problems, [
      'bogus: unknown setting',
      'dataDir: expected a non-empty path',
      'apiListen: expected HOST:PORT (port 0-65535), got "nonsense"',
      'adminToken: expected a string of at least 16 characters',
      'logLevel: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'apiBodyLimitBytes: expected a positive integer, got "0"',
    ]);
  });

  test('the ConfigError message lists every problem on its own line', () => {
    assert.throws(
      () => loadConfig({ apiListen: 'x', logLevel: 'y' }, {}),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === 'invalid configuration:\n  - apiListen: expected HOST:PORT (port 0-65535), got "x"\n  - logLevel: expected one of fatal, error, warn, info, debug, trace, silent, got "y"',
    );
  });

  test('unknown keys in the file are refused by name', () => {
    const file = configFile({ dataDir: '/srv', api_listen: '127.0.0.1:1', colour: 'blue' });
    assert.deepEqual(problemsOf(() => loadConfig({ configFile: file }, {})), ['api_listen: unknown setting', 'colour: unknown setting']);
  });

  test('a missing file, invalid JSON and a non-object are reported with the path', () => {
    const missing = join(dir, 'missing.json');
    const [notFound] = problemsOf(() => loadConfig({ configFile: missing }, {}));
    assert.match(notFound ?? '', new RegExp(`^config file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`));
    const bad = configFile('{ dataDir: ');
    assert.match(problemsOf(() => loadConfig({ configFile: bad }, {}))[0] ?? '', /^config file .*config-\d+\.json: .*JSON/);
    for (const content of ['[]', '"text"', 'null', '3']) {
      const file = configFile(content);
      assert.deepEqual(problemsOf(() => loadConfig({ configFile: file }, {})), [`config file ${file}: not a JSON object`], content);
    }
  });

  test('numbers in the file and strings from the environment are both accepted for the body limit', () => {
    assert.equal(loadConfig({ configFile: configFile({ apiBodyLimitBytes: 512 }) }, {}).apiBodyLimitBytes, 512);
    assert.equal(loadConfig({}, { BRIDGEHEAD_API_BODY_LIMIT_BYTES: '512' }).apiBodyLimitBytes, 512);
    for (const bad of ['-1', '1.5', '1e3', 'lots']) {
      assert.deepEqual(problemsOf(() => loadConfig({}, { BRIDGEHEAD_API_BODY_LIMIT_BYTES: bad })), [`apiBodyLimitBytes: expected a positive integer, got ${JSON.stringify(bad)}`]);
    }
  });

  test('an admin token of exactly 16 characters passes, 15 fail', () => {
    assert.equal(loadConfig({ adminToken: 'x'.repeat(16) }, {}).adminToken, 'x'.repeat(16));
    assert.deepEqual(problemsOf(() => loadConfig({ adminToken: 'x'.repeat(15) }, {})), ['adminToken: expected a string of at least 16 characters']);
  });
});

describe('API listeners: --api-tls-listen, --grpc-listen, --grpc-anonymous', () => {
  const listeners = (c: Config) => ({ apiTlsListen: c.apiTlsListen, grpcListen: c.grpcListen, grpcAnonymous: c.grpcAnonymous });

  test('off by default', () => {
    assert.deepEqual(listeners(loadConfig({}, {})), { apiTlsListen: undefined, grpcListen: undefined, grpcAnonymous: false });
  });

  test('from the file, the environment and flags, in that order of precedence', () => {
    const file = configFile({ apiTlsListen: '0.0.0.0:443', grpcListen: { host: '127.0.0.1', port: 50051 }, grpcAnonymous: true });
    assert.deepEqual(listeners(loadConfig({ configFile: file }, {})), {
      apiTlsListen: { host: '0.0.0.0', port: 443 },
      grpcListen: { host: '127.0.0.1', port: 50051 },
      grpcAnonymous: true,
    });
    const env = { BRIDGEHEAD_API_TLS_LISTEN: '[::]:8443', BRIDGEHEAD_GRPC_LISTEN: '127.0.0.2:1', BRIDGEHEAD_GRPC_ANONYMOUS: 'false' };
    assert.deepEqual(listeners(loadConfig({ configFile: file }, env)), {
      apiTlsListen: { host: '::', port: 8443 },
      grpcListen: { host: '127.0.0.2', port: 1 },
      grpcAnonymous: false,
    });
    assert.deepEqual(listeners(loadConfig({ grpcListen: ':9090', grpcAnonymous: true }, env)), {
      apiTlsListen: { host: '::', port: 8443 },
      grpcListen: { host: '0.0.0.0', port: 9090 },
      grpcAnonymous: true,
    });
  });

  test('bad addresses, a non-boolean, and anonymous access without the gRPC listener are problems', () => {
    assert.deepEqual(problemsOf(() => loadConfig({}, { BRIDGEHEAD_API_TLS_LISTEN: '443', BRIDGEHEAD_GRPC_LISTEN: 'x:99999', BRIDGEHEAD_GRPC_ANONYMOUS: 'yes' })), [
      'apiTlsListen: expected HOST:PORT (port 0-65535), got "443"',
      'grpcListen: expected HOST:PORT (port 0-65535), got "x:99999"',
      'grpcAnonymous: expected true or false, got "yes"',
    ]);
    assert.deepEqual(problemsOf(() => loadConfig({ grpcAnonymous: true }, {})), ['grpcAnonymous: applies to grpcListen, which is not set']);
  });

  test('loopback hosts, where anonymous access draws no warning', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '127.0.0.1.example.com']) assert.equal(isLoopbackHost(host), false, host);
  });
});

describe('parseListen', () => {
  const parse = (v: unknown): { address: unknown; problems: string[] } => {
    const problems: string[] = [];
    return { address: parseListen(v, 'apiListen', problems), problems };
  };

  test('port 0 is accepted (pick a free port)', () => {
    assert.deepEqual(parse('127.0.0.1:0'), { address: { host: '127.0.0.1', port: 0 }, problems: [] });
    assert.deepEqual(loadConfig({ apiListen: '127.0.0.1:0' }, {}).apiListen, { host: '127.0.0.1', port: 0 });
  });

  test('bracketed IPv6, hostnames, and an empty host meaning every interface', () => {
    assert.deepEqual(parse('[::1]:0').address, { host: '::1', port: 0 });
    assert.deepEqual(loadConfig({}, { BRIDGEHEAD_API_LISTEN: '[::1]:0' }).apiListen, { host: '::1', port: 0 });
    assert.deepEqual(parse('[::]:8080').address, { host: '::', port: 8080 });
    assert.deepEqual(parse('localhost:65535').address, { host: 'localhost', port: 65535 });
    assert.deepEqual(parse(':8080').address, { host: '0.0.0.0', port: 8080 });
  });

  test('no port, port over 65535, bare IPv6 and non-strings are problems naming the setting', () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:65536', '127.0.0.1:123456', '::1:80', '[::1]', 'host:port', 8080, undefined]) {
      const { problems } = parse(bad);
      assert.deepEqual(problems, [`apiListen: expected HOST:PORT (port 0-65535), got ${JSON.stringify(bad)}`], String(bad));
    }
  });
});

describe('redactConfig', () => {
  test('hides the admin token and nothing else', () => {
    const config = validateConfig({ ...DEFAULTS, dataDir: '/d', apiListen: '127.0.0.1:1', adminToken: TOKEN_FLAG, logLevel: 'info', apiBodyLimitBytes: 10 });
    const redacted = redactConfig(config);
    assert.deepEqual(Object.keys(redacted).sort(), Object.keys(config).sort(), 'every setting is still listed');
    assert.deepEqual(core(redacted), { dataDir: '/d', apiListen: { host: '127.0.0.1', port: 1 }, adminToken: '[redacted]', logLevel: 'info', apiBodyLimitBytes: 10 });
    assert.ok(!JSON.stringify(redacted).includes(TOKEN_FLAG));
    assert.equal(config.adminToken, TOKEN_FLAG, 'the config itself is unchanged');
  });

  test('an unset token stays unset (nothing to hide)', () => {
    const config: Config = loadConfig({}, {});
    assert.equal(redactConfig(config).adminToken, undefined);
  });
});

describe('tokenUri', () => {
  test('unset by default; from the environment or a flag; must be an absolute http(s) URL', () => {
    assert.equal(loadConfig({}, {}).tokenUri, undefined);
    assert.equal(loadConfig({}, { BRIDGEHEAD_TOKEN_URI: 'https://iot.example.com/token' }).tokenUri, 'https://iot.example.com/token');
    assert.equal(loadConfig({ tokenUri: 'http://10.0.0.5:8080/token' }, { BRIDGEHEAD_TOKEN_URI: 'https://x/token' }).tokenUri, 'http://10.0.0.5:8080/token');
    for (const bad of ['/token', 'ftp://example.com/token', 'https://example.com/token?x=1', 'not a url']) {
      assert.deepEqual(problemsOf(() => loadConfig({ tokenUri: bad }, {})), [`tokenUri: expected an absolute http(s) URL, got ${JSON.stringify(bad)}`], bad);
    }
  });
});

describe('pubsubAutoCreateTopics', () => {
  test('on by default; off from the file, the environment or the flag', () => {
    assert.equal(loadConfig({}, {}).pubsubAutoCreateTopics, true);
    assert.equal(loadConfig({ configFile: configFile({ pubsubAutoCreateTopics: false }) }, {}).pubsubAutoCreateTopics, false);
    assert.equal(loadConfig({}, { BRIDGEHEAD_PUBSUB_AUTO_CREATE_TOPICS: 'false' }).pubsubAutoCreateTopics, false);
    assert.equal(loadConfig({ pubsubAutoCreateTopics: false }, { BRIDGEHEAD_PUBSUB_AUTO_CREATE_TOPICS: 'true' }).pubsubAutoCreateTopics, false);
    assert.deepEqual(problemsOf(() => loadConfig({}, { BRIDGEHEAD_PUBSUB_AUTO_CREATE_TOPICS: 'no' })), [
      'pubsubAutoCreateTopics: expected true or false, got "no"',
    ]);
  });
});

describe('helperThreadPriority', () => {
  test('idle by default; idle, low or normal from the file or the environment; anything else is a problem', () => {
    assert.equal(loadConfig({}, {}).helperThreadPriority, 'idle');
    assert.equal(loadConfig({ configFile: configFile({ helperThreadPriority: 'normal' }) }, {}).helperThreadPriority, 'normal');
    assert.equal(loadConfig({}, { BRIDGEHEAD_HELPER_THREAD_PRIORITY: 'low' }).helperThreadPriority, 'low');
    for (const bad of ['IDLE', 'nice', '19']) {
      assert.deepEqual(problemsOf(() => loadConfig({}, { BRIDGEHEAD_HELPER_THREAD_PRIORITY: bad })), [`helperThreadPriority: expected idle, low or normal, got ${JSON.stringify(bad)}`], bad);
    }
  });
});
