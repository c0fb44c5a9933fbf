import type { handleUnaryCall, Metadata, ServerUnaryCall, StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ApiError, isApiError } from '../../domain/errors.js';
import type { ApiAuth, Principal } from '../../services/api-auth.js';
import type { CallDeadlines } from '../../services/call-deadlines.js';
import type { ApiCallObserver } from '../../observability/api-call-observer.js';
import { grpcError } from './grpc-status.js';
import { MalformedRequest, type StatusCodec } from './protos.js';
import type { Message } from './resource-messages.js';

/**
 * What every gRPC service of Bridgehead does around its handlers, whatever the API: who the
 * caller is, the call's deadline, malformed messages, and the error mapping.
 */

export interface GrpcCallOptions {
  auth: Pick<ApiAuth, 'authenticate'>;
  deadlines: CallDeadlines;
  codec: StatusCodec;
  log: Logger;
  /**
   * Calls that carry no credentials run as the admin (`--grpc-anonymous`, C-GRPC-PLAIN: the emulator convention
   * for plaintext listeners, where Google's client libraries send none). Credentials that are
   * sent are still checked.
   */
  anonymousAsAdmin: boolean;
  /** Told of every call's outcome (metrics); absent: nobody is. */
  observer?: ApiCallObserver;
}

/** A unary handler: the decoded request (never a MalformedRequest) in, the response message out. */
export type UnaryMethod = (caller: Principal, request: unknown, call: ServerUnaryCall<unknown, Message>) => Promise<Message>;

export function unary(name: string, method: UnaryMethod, opts: GrpcCallOptions): handleUnaryCall<unknown, Message> {
  return (call: ServerUnaryCall<unknown, Message>, callback) => {
    const started = performance.now();
    const respond = async (): Promise<Message> => {
      const caller = await authenticate(call.metadata, opts);
      const request = checkedRequest(name, call.request);
      const deadline = call.getDeadline();
      const limits = { deadline: deadline instanceof Date ? deadline.getTime() : deadline, cancelled: () => call.cancelled };
      // x-goog-request-params (the routing header gax sends) repeats names the message carries; the
      // message is authoritative, so the header is accepted and not read.
      return opts.deadlines.run(limits, () => method(caller, request, call));
    };
    respond().then(
      (message) => {
        opts.observer?.apiCall('grpc', methodOf(call), 'OK', (performance.now() - started) / 1000);
        callback(null, message);
      },
      (e: unknown) => {
        const status = statusOf(e, name, opts);
        opts.observer?.apiCall('grpc', methodOf(call), codeName(status.code), (performance.now() - started) / 1000);
        callback(status);
      },
    );
  };
}

/**
 * The method's full name (`google.cloud.iot.v1.DeviceManager/GetDevice`): grpc-js calls handlers
 * only for the methods of added services, so the label's values are a fixed set.
 */
export function methodOf(call: { getPath(): string }): string {
  const path = call.getPath();
  return path.startsWith('/') ? path.slice(1) : path;
}

/** google.rpc code names by number, for metric labels. */
const CODE_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

export function codeName(code: number): string {
  return CODE_NAMES[code] ?? 'UNKNOWN';
}

/** INVALID_ARGUMENT for bytes that did not decode as the method's request message. */
export function checkedRequest(name: string, request: unknown): unknown {
  if (request instanceof MalformedRequest) {
    throw new ApiError('INVALID_ARGUMENT', `The request is not a valid ${name} request message: ${request.problem}.`, { reason: 'INVALID_BODY' });
  }
  return request;
}

/** The status a failure is answered with; anything but an ApiError is our fault, logged, and INTERNAL. */
export function statusOf(e: unknown, method: string, opts: Pick<GrpcCallOptions, 'codec' | 'log'>): StatusObject {
  const error = isApiError(e) ? e : new ApiError('INTERNAL', 'Internal error.', { cause: e });
  if (error.kind === 'INTERNAL') opts.log.error({ err: e, method }, 'internal error in gRPC call');
  return grpcError(error, opts.codec);
}

export async function authenticate(metadata: Metadata, opts: Pick<GrpcCallOptions, 'auth' | 'anonymousAsAdmin'>): Promise<Principal> {
  const values = metadata.get('authorization');
  const authorization = typeof values[0] === 'string' ? values[0] : undefined;
  if (authorization === undefined && opts.anonymousAsAdmin) return { kind: 'admin' };
  // Awaited: authentication may come to need I/O (service-account keys), and then be async.
  return await opts.auth.authenticate(authorization);
}
