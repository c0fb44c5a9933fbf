import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type PeerCertificate } from 'node:tls';
import { issueTlsServerCertificate } from '../../src/adapters/crypto/key-pairs.js';
import { makeCa, type TestCa } from '../support/pki.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * `--tls-sni HOST=CERT,KEY` (docs/compat.md C-MQTT-TLS, C-API-TLS): on the MQTT TLS port and on
 * `--api-tls-listen`, a ClientHello naming HOST gets the operator's certificate for HOST, signed
 * by its own CA; any other name gets the default (generated) certificate.
 */

interface Handshake {
  authorized: boolean;
  error: string | undefined;
  cert: PeerCertificate;
  alpn: string | false | null;
}

/**
 * A TLS handshake with `servername` (undefined: no SNI, as the host is an IP address) against
 * `port`, trusting `ca` only; resolves once it is done.
 */
function handshake(port: number, servername: string | undefined, ca: string, alpn?: string[]): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), ca, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      resolve({
        authorized: socket.authorized,
        error: socket.authorizationError?.toString(),
        cert: socket.getPeerCertificate(),
        alpn: socket.alpnProtocol,
      });
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

const NAMES = ['alpha.example.test', 'beta.example.test'] as const;

describe('--tls-sni: the certificate per server name on every TLS listener', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-sni-e2e-'));
  const cas = new Map<string, TestCa>();
  let server: StartedServer;
  let ports: { mqtt: number; api: number };
  let localCa: string;

  before(async () => {
    const args = ['--api-tls-listen', '127.0.0.1:0'];
    for (const name of NAMES) {
      const ca = await makeCa({ subject: { commonName: `${name} CA`, organization: 'SNI test' } });
      cas.set(name, ca);
      const leaf = await issueTlsServerCertificate(ca, [name], { commonName: name });
      writeFileSync(join(dir, `${name}.pem`), leaf.certificatePem);
      writeFileSync(join(dir, `${name}-key.pem`), leaf.privateKeyPem);
      args.push('--tls-sni', `${name}=${join(dir, `${name}.pem`)},${join(dir, `${name}-key.pem`)}`);
    }
    server = await startServer({ args });
    ports = { mqtt: Number(new URL(server.info.mqtt[0]!).port), api: Number(new URL(String(server.info.apiTls)).port) };
    localCa = readFileSync(server.info.caFile, 'utf8');
  });
  after(async () => {
    await server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const listener of ['mqtt', 'api'] as const) {
    for (const name of NAMES) {
      test(`${listener}: a client naming ${name} gets its certificate, verified by its CA`, async () => {
        const ca = cas.get(name)!.certificatePem;
        const h = await handshake(ports[listener], name, ca, listener === 'api' ? ['h2'] : undefined);
        assert.equal(h.error, undefined);
        assert.equal(h.authorized, true);
        assert.equal(h.cert.subject.CN, name);
        assert.match(h.cert.subjectaltname ?? '', new RegExp(`DNS:${name.replace(/\./g, '\\.')}`));
        assert.equal(h.cert.issuer.CN, `${name} CA`);
        // ALPN still picks the protocol on a connection whose certificate SNI chose.
        if (listener === 'api') assert.equal(h.alpn, 'h2');
        // The other name's CA does not vouch for it: each name has its own chain.
        const other = NAMES.find((n) => n !== name)!;
        const wrong = await handshake(ports[listener], name, cas.get(other)!.certificatePem);
        assert.equal(wrong.authorized, false);
      });
    }

    test(`${listener}: an unknown name, or none, gets the default certificate of the local CA`, async () => {
      for (const servername of ['gamma.example.test', 'localhost', undefined]) {
        const h = await handshake(ports[listener], servername, localCa);
        assert.equal(h.cert.issuer.CN, 'Bridgehead local CA', servername);
        assert.match(h.cert.subjectaltname ?? '', /DNS:localhost/);
        assert.doesNotMatch(h.cert.subjectaltname ?? '', /example\.test/);
        // Signed by the local CA, which vouches for localhost and 127.0.0.1 (no SNI) only.
        if (servername === 'gamma.example.test') assert.equal(h.error, 'ERR_TLS_CERT_ALTNAME_INVALID');
        else assert.equal(h.authorized, true, `${servername}: ${h.error}`);
      }
    });
  }
});
