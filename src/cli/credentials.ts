import { sign } from 'node:crypto';
import { parseKeyFile, type KeyFile } from '../domain/key-file.js';

/**
 * How the admin CLI authenticates: the admin token, or a service-account key file from which it
 * signs the self-signed JWT Google's libraries send (docs/compat.md C-SA-JWT), with node:crypto
 * only, so that the admin path stays lean (test/cli/lean-entry.test.ts).
 */

export type SignerKey = Pick<KeyFile, 'project_id' | 'private_key_id' | 'private_key' | 'client_email' | 'token_uri'>;

export type Credential = { kind: 'admin-token'; token: string } | { kind: 'key-file'; path: string; key: SignerKey };

/** Where commander found an option: typed on the command line, or from its environment variable. */
export type OptionSource = 'cli' | 'env' | undefined;

export interface CredentialOptions {
  token?: string;
  tokenFile?: string;
  keyFile?: string;
}

export class CredentialChoiceError extends Error {}

/**
 * Flags first (--token, --token-file or --key-file; not two kinds at once), then
 * BRIDGEHEAD_ADMIN_TOKEN, then GOOGLE_APPLICATION_CREDENTIALS, then `fallbackTokenFile` when it
 * exists. Undefined: nothing names a credential.
 */
export function chooseCredential(
  opts: CredentialOptions,
  sources: { token: OptionSource; keyFile: OptionSource },
  fallbackTokenFile: string | undefined,
): { kind: 'admin-token'; token?: string; tokenFile?: string } | { kind: 'key-file'; path: string } | undefined {
  const adminFlag = sources.token === 'cli' || opts.tokenFile !== undefined;
  if (adminFlag && sources.keyFile === 'cli') throw new CredentialChoiceError('give either --token/--token-file or --key-file, not both.');
  if (sources.token === 'cli') return { kind: 'admin-token', token: opts.token! };
  if (opts.tokenFile !== undefined) return { kind: 'admin-token', tokenFile: opts.tokenFile };
  if (sources.keyFile === 'cli') return { kind: 'key-file', path: opts.keyFile! };
  if (opts.token) return { kind: 'admin-token', token: opts.token };
  if (opts.keyFile) return { kind: 'key-file', path: opts.keyFile };
  if (fallbackTokenFile !== undefined) return { kind: 'admin-token', tokenFile: fallbackTokenFile };
  return undefined;
}

/** The signing fields of a key file's text; the error says which file and what is wrong. */
export function readSignerKey(text: string, path: string): SignerKey {
  const parsed = parseKeyFile(text);
  if (!parsed.ok) throw new CredentialChoiceError(`${path} is not a service-account key file: ${parsed.message}.`);
  return parsed.file;
}

export const CLOUDIOT_AUDIENCE = 'https://cloudiot.googleapis.com/';
const LIFETIME_S = 3600;

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

/** The JWT google-auth-library signs for Cloud IoT: RS256, kid = private_key_id, iss = sub = client_email. */
export function selfSignedJwt(key: SignerKey, nowS: number): string {
  const input = `${b64url({ alg: 'RS256', typ: 'JWT', kid: key.private_key_id })}.${b64url({
    iss: key.client_email,
    sub: key.client_email,
    aud: CLOUDIOT_AUDIENCE,
    iat: nowS,
    exp: nowS + LIFETIME_S,
  })}`;
  let signature: Buffer;
  try {
    signature = sign('sha256', Buffer.from(input, 'ascii'), key.private_key);
  } catch (e) {
    throw new CredentialChoiceError(`cannot sign with the key file's private_key: ${e instanceof Error ? e.message : String(e)}.`);
  }
  return `${input}.${signature.toString('base64url')}`;
}
