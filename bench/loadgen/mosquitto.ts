import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCertificateAuthority, issueTlsServerCertificate } from '../../src/adapters/crypto/key-pairs.js';
import { freePort } from './proc.js';
import type { BenchTarget } from './target.js';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/bin/mosquitto'];

/** The mosquitto broker binary (Debian puts it in /usr/sbin), or null when it is not installed. */
export function findMosquitto(): string | null {
  const fromEnv = process.env.BENCH_MOSQUITTO;
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

function mosquittoVersion(bin: string): string {
  const out = spawnSync(bin, ['-h'], { encoding: 'utf8', timeout: 5_000 });
  return /mosquitto version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`mosquitto did not listen on 127.0.0.1:${port} in time`);
}

/**
 * Mosquitto with a TLS listener (server certificate from a fresh CA, the same kind Bridgehead
 * makes for itself) and a plain one, both on loopback, anonymous access, no persistence, and
 * otherwise the Debian package's defaults.
 */
export async function startMosquitto(bin: string): Promise<BenchTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-bench-mosquitto-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const ca = await createCertificateAuthority({ subject: { commonName: 'Bridgehead bench CA' } });
    const server = await issueTlsServerCertificate({ privateKeyPem: ca.privateKeyPem, certificatePem: ca.certificatePem });
    writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
    writeFileSync(join(dir, 'server.pem'), server.certificatePem);
    writeFileSync(join(dir, 'server.key'), server.privateKeyPem, { mode: 0o600 });
    const [tlsPort, plainPort] = [await freePort(), await freePort()];
    const conf = [
      'per_listener_settings false',
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'connection_messages false',
      // Package default: Nagle on. Then the CONNACK that follows the TLS 1.3 session tickets
      // waits for the client's delayed ACK (~45 ms per connect on loopback, so ~1,000 connects/s
      // at 50 in flight), while PUBACKs coalesce into few segments (cheap for both sides).
      // BENCH_MOSQUITTO_NODELAY=1 measures with TCP_NODELAY, as Bridgehead runs.
      ...(process.env.BENCH_MOSQUITTO_NODELAY === '1' ? ['set_tcp_nodelay true'] : []),
      // Run as root only when started as root (a root mosquitto otherwise switches to user "mosquitto").
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      // Extra global options, ';'-separated (e.g. BENCH_MOSQUITTO_CONF='max_connections 5000').
      ...(process.env.BENCH_MOSQUITTO_CONF ?? '').split(';').map((l) => l.trim()).filter((l) => l !== ''),
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${join(dir, 'ca.pem')}`,
      `certfile ${join(dir, 'server.pem')}`,
      `keyfile ${join(dir, 'server.key')}`,
      `listener ${plainPort} 127.0.0.1`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'mosquitto.conf'), conf);

    const child = spawn(bin, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 64_000) err += d;
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // Whatever happens to the bench process, the broker goes with it.
    const killOnExit = (): void => {
      child.kill('SIGKILL');
      removeDir();
    };
    process.once('exit', killOnExit);
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const escalate = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(escalate);
      }
      process.removeListener('exit', killOnExit);
      removeDir();
    };
    try {
      const deadline = Date.now() + 10_000;
      const died = exited.then(() => {
        throw new Error(`mosquitto exited at start: ${err.trim()}`);
      });
      died.catch(() => undefined); // it may also exit much later, at stop()
      await Promise.race([Promise.all([waitForPort(tlsPort, deadline), waitForPort(plainPort, deadline)]), died]);
    } catch (e) {
      await stop();
      throw e;
    }
    if (child.pid === undefined) throw new Error('mosquitto has no pid');
    const version = mosquittoVersion(bin);
    return {
      name: 'Mosquitto',
      version: `mosquitto ${version}, ${process.env.BENCH_MOSQUITTO_NODELAY === '1' ? 'set_tcp_nodelay true' : 'Nagle on (package default)'}`,
      pid: child.pid,
      tls: { transport: 'tls', host: '127.0.0.1', port: tlsPort, caPem: ca.certificatePem, servername: 'localhost' },
      plain: { transport: 'plain', host: '127.0.0.1', port: plainPort },
      configIsApi: false,
      provision: async () => undefined,
      // C, malloc: nothing to collect.
      collectGarbage: async () => null,
      configTrigger: () => ({
        kind: 'mqtt',
        dial: { transport: 'plain', host: '127.0.0.1', port: plainPort },
        login: { deviceId: 'bench-backend', clientId: 'bench-backend', username: 'unused', password: 'unused' },
      }),
      stop,
      stderr: () => err,
    };
  } catch (e) {
    removeDir();
    throw e;
  }
}
