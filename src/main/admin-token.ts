import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Without a configured admin token, one is generated on first start and kept in the data dir
 * (mode 0600) so that restarts keep it.
 */
export function resolveAdminToken(configured: string | undefined, dataDir: string): { token: string; file: string | undefined } {
  if (configured) return { token: configured, file: undefined };
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) return { token, file };
  }
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, file };
}
