import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rs256 } from './sa-jwt.js';
import { runCli, type StartedServer } from './server.js';

/**
 * A service account created as an operator would, with the CLI through `server` (holding `role`
 * on `project`, if given), a key file for it written into `dir`, and the self-signed JWT Google's
 * libraries send for that key file, in its scope form (docs/compat.md C-SA-JWT).
 */
export async function serviceAccountWithKey(
  server: Pick<StartedServer, 'api' | 'token'>,
  opts: { project: string; dir: string; id: string; role: string | undefined },
): Promise<{ email: string; keyId: string; jwt: string }> {
  const keyFile = join(opts.dir, `${opts.id}.json`);
  for (const args of [
    ['service-accounts', 'create', opts.id, ...(opts.role === undefined ? [] : ['--role', opts.role])],
    ['service-accounts', 'keys', 'create', opts.id, '--output', keyFile],
  ]) {
    const r = await runCli([...args, '--project', opts.project, '--token', server.token], { env: { BRIDGEHEAD_API: server.api } });
    assert.equal(r.code, 0, r.stderr);
  }
  const key = JSON.parse(readFileSync(keyFile, 'utf8')) as { client_email: string; private_key: string; private_key_id: string };
  const now = Math.floor(Date.now() / 1000);
  const jwt = rs256(
    { kid: key.private_key_id },
    { iss: key.client_email, sub: key.client_email, scope: 'https://www.googleapis.com/auth/cloud-platform', iat: now, exp: now + 3600 },
    key.private_key,
  );
  return { email: key.client_email, keyId: key.private_key_id, jwt };
}
