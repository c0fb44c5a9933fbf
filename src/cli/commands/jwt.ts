import type { Command } from 'commander';
import { globals, group, leaf, printer, readText, run, UsageError } from '../context.js';
import { intParser } from '../flags.js';
import { parseAlg } from './keys.js';

/** `bridgehead jwt mint`: the device JWT an MQTT/HTTP client sends as its password (spec §4.1). */

export function registerJwt(program: Command): void {
  const jwt = group(program, 'jwt', 'device JWTs');

  leaf(jwt, 'mint', 'mint a device JWT (aud = project) and print it')
    .requiredOption('--private-key <file>', 'the device private key (PEM)')
    .requiredOption('--alg <alg>', 'RS256 or ES256', parseAlg)
    .option('--expires-in <seconds>', 'lifetime in seconds (Cloud IoT accepts at most 86400)', intParser('--expires-in', 1), 3600)
    .option('--issued-at <seconds>', 'iat, seconds since the epoch (default now)', intParser('--issued-at', 0))
    .action(
      run(async (cmd) => {
        const o = cmd.opts<{ privateKey: string; alg: 'RS256' | 'ES256'; expiresIn: number; issuedAt?: number }>();
        const project = globals(cmd).project;
        if (!project) throw new UsageError('--project is required (it is the JWT audience).');
        const privateKeyPem = readText(o.privateKey, '--private-key');
        // Lazily: only this command needs jose.
        const { mintDeviceJwt } = await import('../../adapters/crypto/device-jwt.js');
        const token = await mintDeviceJwt({
          privateKeyPem,
          alg: o.alg,
          audience: project,
          expiresInSeconds: o.expiresIn,
          ...(o.issuedAt === undefined ? {} : { issuedAt: o.issuedAt }),
        });
        printer(cmd).value(token, { jwt: token });
      }),
    );
}
