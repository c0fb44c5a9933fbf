import iot from '@google-cloud/iot';
import { OAuth2Client } from 'google-auth-library';
import type { StartedServer } from './server.js';

/**
 * The official `@google-cloud/iot` client pointed at a Bridgehead server, exactly as the README
 * tells users to: REST fallback, plain HTTP, and an auth client that sends the admin token.
 */
export function iotClient(server: StartedServer, token = server.token): InstanceType<typeof iot.v1.DeviceManagerClient> {
  const url = new URL(server.api);
  const authClient = new OAuth2Client();
  // A fixed bearer token: an expiry far ahead keeps the client from trying to refresh it.
  authClient.setCredentials({ access_token: token, expiry_date: Date.now() + 365 * 24 * 3600 * 1000 });
  return new iot.v1.DeviceManagerClient({
    apiEndpoint: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    fallback: true,
    authClient,
  });
}

/**
 * In REST mode gax reports a failed call with the HTTP status in `code` and Google's error JSON as
 * the message; in gRPC mode with the canonical code number. Either way the canonical status name
 * is what a test asserts.
 */
const GRPC_NAMES: Record<number, string> = {
  3: 'INVALID_ARGUMENT',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  12: 'UNIMPLEMENTED',
  16: 'UNAUTHENTICATED',
};

export type Canonical =
  | 'INVALID_ARGUMENT'
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
