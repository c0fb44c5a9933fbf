import { createHmac, generateKeyPairSync, sign } from 'node:crypto';

/** Service-account JWTs built by hand, for the good cases and for every attack on them. */

export interface RsaPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

export function rsaPair(): RsaPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

const seg = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

export function rs256(header: Record<string, unknown>, payload: Record<string, unknown>, privateKeyPem: string): string {
  const input = `${seg({ alg: 'RS256', typ: 'JWT', ...header })}.${seg(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKeyPem).toString('base64url')}`;
}

/** The classic confusion attack: HS256 keyed with the public key's PEM text. */
export function hs256(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string): string {
  const input = `${seg({ typ: 'JWT', ...header, alg: 'HS256' })}.${seg(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${seg({ typ: 'JWT', ...header, alg: 'none' })}.${seg(payload)}.`;
}

export const CLOUDIOT_AUD = 'https://cloudiot.googleapis.com/';
export const SCOPES = 'https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/cloudiot';

/** The claims google-auth-library sends for Cloud IoT (the aud form). */
export const apiClaims = (email: string, nowS: number, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: email,
  sub: email,
  aud: CLOUDIOT_AUD,
  iat: nowS,
  exp: nowS + 3600,
  ...over,
});
