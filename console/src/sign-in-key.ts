import { ApiFailure } from './api.js';
import { problemOf } from './logic/api-errors.js';

/** The fields of a service-account key file the sign-in uses. */
export interface KeyFile {
  client_email: string;
  private_key: string;
  private_key_id: string;
  token_uri: string;
  project_id?: string;
}

/** The key file's JSON, checked; the error names the missing field. */
export function parseKeyFile(text: string): KeyFile {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error('The key is not JSON: paste the whole key file as downloaded.');
  }
  for (const f of ['client_email', 'private_key', 'private_key_id', 'token_uri'] as const) {
    if (typeof doc[f] !== 'string' || doc[f] === '') throw new Error(`The key file has no "${f}".`);
  }
  return doc as unknown as KeyFile;
}

const b64url = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const b64urlJson = (v: unknown): string => b64url(new TextEncoder().encode(JSON.stringify(v)));

function pemBody(pem: string): ArrayBuffer {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
}

/**
 * Signs the jwt-bearer assertion in the browser (WebCrypto, RS256), so the private key never
 * leaves the page, and exchanges it at the server's token endpoint (docs/compat.md C-SA-TOKEN)
 * for an access token. The endpoint is reached on this origin whatever host token_uri names;
 * the assertion's audience stays token_uri, which the server accepts.
 */
export async function exchangeKey(key: KeyFile): Promise<{ accessToken: string; expiresInS: number }> {
  let signingKey: CryptoKey;
  try {
    signingKey = await crypto.subtle.importKey('pkcs8', pemBody(key.private_key), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  } catch {
    throw new Error('The key file\'s "private_key" is not an RSA private key in PKCS #8 PEM.');
  }
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid: key.private_key_id };
  const claims = { iss: key.client_email, sub: key.client_email, aud: key.token_uri, scope: 'https://www.googleapis.com/auth/cloud-platform', iat: now, exp: now + 3600 };
  const input = `${b64urlJson(header)}.${b64urlJson(claims)}`;
  const signature = new Uint8Array(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', signingKey, new TextEncoder().encode(input)));
  const res = await fetch('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: `${input}.${b64url(signature)}` }).toString(),
  });
  const text = await res.text();
  if (!res.ok) throw new ApiFailure(problemOf(res.status, text));
  const doc = JSON.parse(text) as { access_token: string; expires_in: number };
  return { accessToken: doc.access_token, expiresInS: doc.expires_in };
}
