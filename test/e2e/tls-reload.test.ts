import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import { issueTlsServerCertificate } from '../../src/adapters/crypto/key-pairs.js';
import { createDevice, createRegistry, type TestDevice } from '../support/fleet.js';
import { firstEvent, WAIT_MS } from '../support/mqtt-clients.js';
import { makeCa, type TestCa } from '../support/pki.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * SIGHUP (systemd's ExecReload, docs/compat.md C-SERVER-RELOAD): the server reads --tls-cert/--tls-key
 * again. New handshakes on every TLS listener (MQTT, API, HTTP bridge) get the new certificate; an
 * MQTT connection opened before keeps working; a broken new certificate keeps the old one in use.
 */

/** The serial number of the certificate a new TLS handshake to `url` gets. */
function servedSerial(url: string, ca: string, alpn?: string[], servername = 'localhost'): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), servername, ca, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      resolve(socket.getPeerX509Certificate()!.serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/** Waits for a stderr log line with `msg` that was not there before (the server logs the reload's outcome). */
async function logged(server: StartedServer, msg: string, seenBefore: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const lines = server
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === msg);
    if (lines.length > seenBefore) return lines[lines.length - 1]!;
    if (Date.now() > deadline) throw new Error(`no "${msg}" line within ${WAIT_MS} ms:\n${server.stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const countLogged = (server: StartedServer, msg: string): number => server.stderr().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;

/** PUBLISH QoS 1 and wait for its PUBACK. */
function publishAcked(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no PUBACK')), WAIT_MS);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
  });
}

describe('SIGHUP reloads the TLS certificate without dropping connections', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-reload-'));
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');
  const sniCert = join(dir, 'sni.pem');
  const sniKey = join(dir, 'sni-key.pem');
  const SNI_HOST = 'devices.example.test';
  let ca: TestCa;
  let server: StartedServer;
  let device: TestDevice;
  let oldSerial: string;

  before(async () => {
    ca = await makeCa({ subject: { commonName: 'Reload test CA' } });
    const first = await issueTlsServerCertificate(ca, [], { commonName: 'first' });
    oldSerial = new X509Certificate(first.certificatePem).serialNumber;
    writeFileSync(certFile, first.certificatePem);
    writeFileSync(keyFile, first.privateKeyPem);
    const sni = await issueTlsServerCertificate(ca, [SNI_HOST], { commonName: SNI_HOST });
    writeFileSync(sniCert, sni.certificatePem);
    writeFileSync(sniKey, sni.privateKeyPem);
    server = await startServer({
      args: [
        '--tls-cert',
        certFile,
        '--tls-key',
        keyFile,
        '--tls-sni',
        `${SNI_HOST}=${sniCert},${sniKey}`,
        '--api-tls-listen',
        '127.0.0.1:0',
        '--http-bridge-listen',
        '127.0.0.1:0',
      ],
      logLevel: 'info',
    });
    await createRegistry(server, 'reload-reg');
    device = await createDevice(server, 'reload-reg', 'reload-dev');
  });
  after(async () => {
    await server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('new handshakes see the renewed certificate on every listener; an open MQTT connection keeps publishing', async () => {
    const listeners = { mqtt: server.info.mqtt[0]!, api: String(server.info.apiTls), httpBridge: String(server.info.httpBridge) };
    for (const url of Object.values(listeners)) assert.equal(await servedSerial(url, ca.certificatePem, ['h2']), oldSerial);

    const client = mqtt.connect(listeners.mqtt, {
      clientId: device.clientId,
      username: 'unused',
      password: await device.jwt(),
      protocolVersion: 4,
      ca: ca.certificatePem,
      servername: 'localhost',
      reconnectPeriod: 0,
      connectTimeout: WAIT_MS,
    });
    client.on('error', () => undefined);
    try {
      assert.equal((await firstEvent(client as never, ['connect', 'error', 'close'])).event, 'connect');
      await publishAcked(client, `/devices/${device.id}/events`, 'before');

      const sniBefore = await servedSerial(listeners.mqtt, ca.certificatePem, undefined, SNI_HOST);
      const renewedSni = await issueTlsServerCertificate(ca, [SNI_HOST], { commonName: SNI_HOST });
      writeFileSync(sniCert, renewedSni.certificatePem);
      writeFileSync(sniKey, renewedSni.privateKeyPem);
      const renewed = await issueTlsServerCertificate(ca, [], { commonName: 'renewed' });
      const newSerial = new X509Certificate(renewed.certificatePem).serialNumber;
      assert.notEqual(newSerial, oldSerial);
      writeFileSync(certFile, renewed.certificatePem);
      writeFileSync(keyFile, renewed.privateKeyPem);
      const before = countLogged(server, 'TLS certificates reloaded');
      server.process.kill('SIGHUP');
      const line = await logged(server, 'TLS certificates reloaded', before);
      assert.equal((line.certificate as { serialNumber: string }).serialNumber, newSerial);

      for (const [name, url] of Object.entries(listeners)) assert.equal(await servedSerial(url, ca.certificatePem, ['h2']), newSerial, `${name} serves the renewed certificate`);
      const sniAfter = new X509Certificate(renewedSni.certificatePem).serialNumber;
      assert.notEqual(sniBefore, sniAfter);
      for (const [name, url] of Object.entries(listeners)) assert.equal(await servedSerial(url, ca.certificatePem, ['h2'], SNI_HOST), sniAfter, `${name} serves the renewed --tls-sni certificate`);
      // The connection from before the reload is untouched.
      assert.equal(client.connected, true);
      await publishAcked(client, `/devices/${device.id}/events`, 'after');
    } finally {
      client.end(true);
    }
  });

  test('a broken certificate on disk keeps the running one and logs an error', async () => {
    const running = await servedSerial(server.info.mqtt[0]!, ca.certificatePem);
    const other = await issueTlsServerCertificate(ca, [], { commonName: 'mismatched' });
    const another = await issueTlsServerCertificate(ca, [], { commonName: 'another' });
    // A certificate with somebody else's key.
    writeFileSync(certFile, other.certificatePem);
    writeFileSync(keyFile, another.privateKeyPem);
    const before = countLogged(server, 'TLS certificate reload failed; the running certificates stay in use');
    server.process.kill('SIGHUP');
    const line = await logged(server, 'TLS certificate reload failed; the running certificates stay in use', before);
    assert.equal(line.level, 50);
    assert.equal(await servedSerial(server.info.mqtt[0]!, ca.certificatePem), running);
    assert.equal(server.process.exitCode, null, 'still running');
  });
});
