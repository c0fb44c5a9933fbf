import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { issueTlsServerCertificate } from '../../src/adapters/crypto/key-pairs.js';
import { secureContextFor } from '../../src/adapters/mqtt/tls-material.js';
import { loadConfig } from '../../src/config/loader.js';
import { ConfigError } from '../../src/config/schema.js';
import { makeCa } from '../support/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'bridgehead-sni-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** PEM files of a certificate for `names`: [certFile, keyFile]. */
async function certFiles(label: string, names: string[]): Promise<[string, string]> {
  const ca = await makeCa();
  const leaf = await issueTlsServerCertificate(ca, names);
  const cert = join(dir, `${label}.pem`);
  const key = join(dir, `${label}-key.pem`);
  writeFileSync(cert, leaf.certificatePem);
  writeFileSync(key, leaf.privateKeyPem);
  return [cert, key];
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError, but the configuration was accepted');
}

let alpha: [string, string];
let beta: [string, string];
let wildcard: [string, string];
before(async () => {
  alpha = await certFiles('alpha', ['alpha.example.test']);
  beta = await certFiles('beta', ['beta.example.test']);
  wildcard = await certFiles('wild', ['*.devices.example.test']);
});

describe('tlsSni: parsing', () => {
  test('unset: no per-name certificates', () => {
    assert.deepEqual(loadConfig({}, {}).tlsSni, []);
  });

  test('repeated flags, one HOST=CERT,KEY each; host names are compared in lower case', () => {
    const config = loadConfig({ tlsSni: [`Alpha.Example.Test=${alpha[0]},${alpha[1]}`, `beta.example.test=${beta[0]},${beta[1]}`] }, {});
    assert.deepEqual(config.tlsSni, [
      { host: 'alpha.example.test', certFile: alpha[0], keyFile: alpha[1] },
      { host: 'beta.example.test', certFile: beta[0], keyFile: beta[1] },
    ]);
  });

  test('BRIDGEHEAD_TLS_SNI: entries separated by semicolons or commas', () => {
    const expected = [
      { host: 'alpha.example.test', certFile: alpha[0], keyFile: alpha[1] },
      { host: 'beta.example.test', certFile: beta[0], keyFile: beta[1] },
    ];
    for (const sep of [';', ',']) {
      const env = { BRIDGEHEAD_TLS_SNI: `alpha.example.test=${alpha[0]},${alpha[1]}${sep}beta.example.test=${beta[0]},${beta[1]}` };
      assert.deepEqual(loadConfig({}, env).tlsSni, expected, `separator ${sep}`);
    }
  });

  test('a config file may give objects; a wildcard host takes a wildcard certificate', () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ tlsSni: [{ host: '*.devices.example.test', certFile: wildcard[0], keyFile: wildcard[1] }] }));
    assert.deepEqual(loadConfig({ configFile: file }, {}).tlsSni, [{ host: '*.devices.example.test', certFile: wildcard[0], keyFile: wildcard[1] }]);
  });
});

describe('tlsSni: every problem is reported with the setting, the value and the fix', () => {
  test('bad shape', () => {
    const problems = problemsOf(() => loadConfig({ tlsSni: [`alpha.example.test:${alpha[0]}`] }, {}));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^tlsSni\[0\]: expected HOST=CERTFILE,KEYFILE, got ".*alpha\.example\.test:.*"; give HOST=CERTFILE,KEYFILE/);
  });

  test('a host that is not a DNS name', () => {
    for (const host of ['bad host', '-x.example', 'a..b', '*.com', '']) {
      const problems = problemsOf(() => loadConfig({ tlsSni: [`${host}=${alpha[0]},${alpha[1]}`] }, {}));
      assert.equal(problems.length, 1, host);
      assert.match(problems[0]!, /^tlsSni\[0\]: .* is not a DNS host name/, host);
    }
  });

  test('unreadable certificate or key file', () => {
    const missing = join(dir, 'missing.pem');
    const problems = problemsOf(() => loadConfig({ tlsSni: [`alpha.example.test=${missing},${alpha[1]}`, `beta.example.test=${beta[0]},${missing}`] }, {}));
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /^tlsSni\[0\]: cannot read certificate .*missing\.pem .*ENOENT/);
    assert.match(problems[1]!, /^tlsSni\[1\]: cannot read private key .*missing\.pem .*ENOENT/);
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked-key.pem');
      writeFileSync(locked, 'x');
      chmodSync(locked, 0o000);
      assert.match(problemsOf(() => loadConfig({ tlsSni: [`alpha.example.test=${alpha[0]},${locked}`] }, {}))[0]!, /cannot read private key .*EACCES/);
    }
  });

  test('files that are not PEM', () => {
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    assert.match(problemsOf(() => loadConfig({ tlsSni: [`alpha.example.test=${junk},${alpha[1]}`] }, {}))[0]!, /is not a PEM certificate/);
    assert.match(problemsOf(() => loadConfig({ tlsSni: [`alpha.example.test=${alpha[0]},${junk}`] }, {}))[0]!, /is not a PEM private key/);
  });

  test('a key that does not match the certificate', () => {
    const problems = problemsOf(() => loadConfig({ tlsSni: [`alpha.example.test=${alpha[0]},${beta[1]}`] }, {}));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^tlsSni\[0\]: the private key .*beta-key\.pem does not match the certificate .*alpha\.pem/);
  });

  test('a certificate that does not name the host', () => {
    const problems = problemsOf(() => loadConfig({ tlsSni: [`beta.example.test=${alpha[0]},${alpha[1]}`, `*.example.test=${alpha[0]},${alpha[1]}`] }, {}));
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /^tlsSni\[0\]: the certificate .*alpha\.pem does not name beta\.example\.test \(.*DNS:alpha\.example\.test.*\); give a certificate whose SANs include beta\.example\.test/);
    assert.match(problems[1]!, /^tlsSni\[1\]: the certificate .*alpha\.pem does not name \*\.example\.test/);
  });

  test('the same host twice', () => {
    const entry = `alpha.example.test=${alpha[0]},${alpha[1]}`;
    assert.match(problemsOf(() => loadConfig({ tlsSni: [entry, entry] }, {}))[0]!, /^tlsSni\[1\]: alpha\.example\.test is given twice/);
  });
});

describe('secureContextFor: which --tls-sni entry answers a server name', () => {
  const contexts = new Map([
    ['alpha.example.test', 'alpha'],
    ['*.devices.example.test', 'wild'],
  ]);
  test('exact names, in any case', () => {
    assert.equal(secureContextFor(contexts, 'alpha.example.test'), 'alpha');
    assert.equal(secureContextFor(contexts, 'ALPHA.example.test'), 'alpha');
  });
  test('a wildcard covers one label, not the bare domain nor two labels', () => {
    assert.equal(secureContextFor(contexts, 'd1.devices.example.test'), 'wild');
    assert.equal(secureContextFor(contexts, 'devices.example.test'), undefined);
    assert.equal(secureContextFor(contexts, 'a.d1.devices.example.test'), undefined);
  });
  test('anything else: the default certificate', () => {
    assert.equal(secureContextFor(contexts, 'beta.example.test'), undefined);
    assert.equal(secureContextFor(contexts, ''), undefined);
  });
});
