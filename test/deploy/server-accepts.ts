import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEYS, parseListen } from '../../src/config/schema.js';
import { makeCa } from '../support/pki.js';
import { runCli } from '../support/server.js';

/**
 * Whether `bridgehead serve` accepts a deployment's settings, without starting anything: the
 * deployment's flags and environment plus one setting known to be invalid go to the real CLI,
 * which validates everything at once; the run must end at the configuration stage (exit 2) naming
 * that one setting and nothing else. Addresses and files that only exist where the deployment runs
 * are replaced first (listeners by 127.0.0.1:0, TLS files by a fresh pair, the data dir by a temp dir).
 */

/** Set by no deployment file; its problem is the only one a valid deployment may leave. */
const POISON = { env: 'BRIDGEHEAD_MQTT_MAX_PACKET_BYTES', value: '0', problem: /^mqttMaxPacketBytes:/ };

export const LISTEN_FLAGS = ['--api-listen', '--mqtt-listen', '--mqtt-plain-listen', '--http-bridge-listen', '--http-bridge-plain-listen', '--api-tls-listen', '--grpc-listen'] as const;
const LISTEN_ENV = new Set(KEYS.filter(({ key }) => /Listen$/.test(key)).map(({ env }) => env));

export interface Deployment {
  args: string[];
  env: Record<string, string>;
}

/** The port of every HOST:PORT in `value` (comma-separated), checked as the server parses it. */
export function listenPorts(value: string, what: string): number[] {
  return value.split(',').map((v) => {
    const problems: string[] = [];
    const { port } = parseListen(v, what, problems);
    if (problems.length > 0) throw new Error(problems.join('; '));
    return port;
  });
}

export interface Verdict {
  code: number | null;
  /** The problems of the fatal line, the poison's left out. */
  problems: string[];
  poisonReported: boolean;
  stderr: string;
}

export async function checkWithServer(deployment: Deployment, files: { certFlag: string; keyFlag: string; certEnv: string; keyEnv: string } = {
  certFlag: '--tls-cert',
  keyFlag: '--tls-key',
  certEnv: 'BRIDGEHEAD_TLS_CERT',
  keyEnv: 'BRIDGEHEAD_TLS_KEY',
}): Promise<Verdict> {
  if (deployment.env[POISON.env] !== undefined || deployment.args.includes('--mqtt-max-packet-bytes')) throw new Error(`${POISON.env} is the poison: choose another`);
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-deploy-'));
  try {
    const ca = await makeCa();
    const cert = join(dir, 'tls.crt');
    const key = join(dir, 'tls.key');
    writeFileSync(cert, ca.certificatePem);
    writeFileSync(key, ca.privateKeyPem, { mode: 0o600 });
    const args = deployment.args.map((a, i) => {
      const flag = deployment.args[i - 1] ?? '';
      if ((LISTEN_FLAGS as readonly string[]).includes(flag)) return '127.0.0.1:0';
      if (flag === files.certFlag) return cert;
      if (flag === files.keyFlag) return key;
      if (flag === '--data-dir') return join(dir, 'data');
      return a;
    });
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(deployment.env)) {
      env[k] = LISTEN_ENV.has(k) ? v.split(',').map(() => '127.0.0.1:0').join(',') : k === files.certEnv ? cert : k === files.keyEnv ? key : k === 'BRIDGEHEAD_DATA_DIR' ? join(dir, 'data') : v;
    }
    env[POISON.env] = POISON.value;
    const r = await runCli(args, { env, cwd: dir });
    const fatal = r.stderr
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { problems?: unknown }];
        } catch {
          return [];
        }
      })
      .find((l) => Array.isArray(l.problems));
    const all = ((fatal?.problems as string[] | undefined) ?? []).map(String);
    return { code: r.code, problems: all.filter((p) => !POISON.problem.test(p)), poisonReported: all.some((p) => POISON.problem.test(p)), stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
