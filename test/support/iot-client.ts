import { readFileSync } from 'node:fs';
import iot from '@google-cloud/iot';
import { credentials, Metadata } from '@grpc/grpc-js';
import { OAuth2Client } from 'google-auth-library';
import type { StartedServer } from './server.js';

export type DeviceManagerClient = InstanceType<typeof iot.v1.DeviceManagerClient>;

/**
 * The official `@google-cloud/iot` client pointed at a Bridgehead server, exactly as the README
 * tells users to: REST fallback, plain HTTP, and an auth client that sends the admin token.
 */
export function iotClient(server: StartedServer, token = server.token): DeviceManagerClient {
  const url = new URL(server.api);
  const authClient = tokenAuthClient(token);
  return new iot.v1.DeviceManagerClient({
    apiEndpoint: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    fallback: true,
    authClient,
  });
}

/** An auth client that sends `token` as its bearer access token. */
function tokenAuthClient(token: string): OAuth2Client {
  const authClient = new OAuth2Client();
  // A fixed bearer token: an expiry far ahead keeps the client from trying to refresh it.
  authClient.setCredentials({ access_token: token, expiry_date: Date.now() + 365 * 24 * 3600 * 1000 });
  return authClient;
}

/**
 * The client in its default gRPC mode on `--grpc-listen` (h2c), as the README tells users of an
 * anonymous plaintext listener: insecure channel credentials, which carry no call credentials.
 * (The auth client is never asked for a token; it only spares gax probing for Google's metadata
 * server to learn the universe domain.)
 */
export function iotGrpcClient(server: StartedServer): DeviceManagerClient {
  const url = new URL(String(server.info.grpc));
  return new iot.v1.DeviceManagerClient({
    apiEndpoint: url.hostname,
    port: Number(url.port),
    sslCreds: credentials.createInsecure(),
    authClient: tokenAuthClient('unused-unused-unused'),
  });
}

/**
 * The client in gRPC mode on `--api-tls-listen`: TLS trusting the server's CA, with `token` as the
 * bearer of every call. Given `sslCreds`, gax uses them as they are, so the call credentials are
 * composed here as gax composes them from an auth client.
 */
export function iotGrpcTlsClient(server: StartedServer, token = server.token): DeviceManagerClient {
  const url = new URL(String(server.info.apiTls));
  const bearer = credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return new iot.v1.DeviceManagerClient({
    // The generated certificate names localhost, not the address.
    apiEndpoint: 'localhost',
    port: Number(url.port),
    sslCreds: credentials.combineChannelCredentials(credentials.createSsl(readFileSync(server.info.caFile)), bearer),
    authClient: tokenAuthClient(token),
  });
}

/**
 * In REST mode gax reports a failed call with the HTTP status in `code` and Google's error JSON as
 * the message; in gRPC mode with the canonical code number. Either way the canonical status name
 * is what a test asserts.
 */
const GRPC_NAMES: Record<number, string> = {
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

export type Canonical =
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'OUT_OF_RANGE'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'UNIMPLEMENTED'
  | 'UNAUTHENTICATED';

export function canonicalStatus(err: Error & { code?: number | string }): { status: string | undefined; message: string } {
  try {
    const body = JSON.parse(err.message) as { error?: { status?: string; message?: string } };
    if (body.error?.status) return { status: body.error.status, message: body.error.message ?? '' };
  } catch {
    // not a JSON message: a gRPC-style error
  }
  return { status: typeof err.code === 'number' ? GRPC_NAMES[err.code] : undefined, message: err.message };
}

export async function rejectsWith(p: Promise<unknown>, status: Canonical, messagePart?: RegExp): Promise<string> {
  try {
    await p;
  } catch (e) {
    const got = canonicalStatus(e as Error & { code?: number });
    if (got.status !== status) throw new Error(`expected ${status}, got ${String(got.status)}: ${(e as Error).message}`);
    if (messagePart && !messagePart.test(got.message)) throw new Error(`message ${JSON.stringify(got.message)} does not match ${String(messagePart)}`);
    return got.message;
  }
  throw new Error(`expected a rejection with ${status}, but the call succeeded`);
}
