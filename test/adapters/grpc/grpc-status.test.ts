import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import type * as Protobuf from 'protobufjs';
import { ERROR_DOMAIN, GRPC_CODES, grpcError, REASON_TRAILER, STATUS_DETAILS_TRAILER } from '../../../src/adapters/grpc/grpc-status.js';
import { statusCodec } from '../../../src/adapters/grpc/protos.js';
import { ApiError, ERROR_KINDS, type ErrorKind } from '../../../src/domain/errors.js';

/**
 * The details are decoded here as google-gax decodes them for @google-cloud/iot: with protobufjs
 * and the status definitions gax ships (build/protos/status.json).
 */
const require = createRequire(import.meta.url);
const gaxMain = createRequire(require.resolve('@google-cloud/iot/package.json')).resolve('google-gax');
const protobuf = createRequire(require.resolve('@grpc/proto-loader'))('protobufjs') as typeof Protobuf;
const gaxStatus = protobuf.Root.fromJSON(JSON.parse(readFileSync(join(dirname(dirname(dirname(gaxMain))), 'build', 'protos', 'status.json'), 'utf8')) as Protobuf.INamespace);

interface DecodedStatus {
  code: number;
  message: string;
  details: { typeUrl: string; value: Record<string, unknown> }[];
}

function decodeDetails(bin: Buffer): DecodedStatus {
  const status = gaxStatus.lookupType('google.rpc.Status').toObject(gaxStatus.lookupType('google.rpc.Status').decode(bin)) as {
    code: number;
    message: string;
    details: { type_url: string; value: Uint8Array }[];
  };
  return {
    code: status.code,
    message: status.message,
    details: status.details.map((d) => {
      const type = gaxStatus.lookupType(d.type_url.replace('type.googleapis.com/', ''));
      return { typeUrl: d.type_url, value: type.toObject(type.decode(d.value)) };
    }),
  };
}

describe('gRPC status of an ApiError', () => {
  test('each kind maps to its canonical code (the one ERROR_KINDS and docs/errors.md give)', () => {
    for (const kind of Object.keys(ERROR_KINDS) as ErrorKind[]) assert.equal(GRPC_CODES[kind], ERROR_KINDS[kind].grpc, kind);
    assert.deepEqual(Object.keys(GRPC_CODES).sort(), Object.keys(ERROR_KINDS).sort());
  });

  test('INVALID_ARGUMENT with a field: BadRequest naming it, and the reason as ErrorInfo and as a trailer', () => {
    const e = new ApiError('INVALID_ARGUMENT', 'device.id is bad.', { field: 'device.id' });
    const status = grpcError(e, statusCodec());
    assert.equal(status.code, 3);
    assert.equal(status.details, 'device.id is bad.');
    assert.deepEqual(status.metadata.get(REASON_TRAILER), ['INVALID_FIELD']);
    const [bin] = status.metadata.get(STATUS_DETAILS_TRAILER);
    assert.ok(Buffer.isBuffer(bin));
    assert.deepEqual(decodeDetails(bin), {
      code: 3,
      message: 'device.id is bad.',
      details: [
        { typeUrl: 'type.googleapis.com/google.rpc.BadRequest', value: { fieldViolations: [{ field: 'device.id', description: 'device.id is bad.' }] } },
        { typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: { reason: 'INVALID_FIELD', domain: ERROR_DOMAIN } },
      ],
    });
  });

  test('other kinds carry no field violation, even with a field; only the reason', () => {
    const e = new ApiError('ABORTED', 'etag mismatch', { field: 'policy.etag', reason: 'ETAG_MISMATCH' });
    const status = grpcError(e, statusCodec());
    assert.equal(status.code, 10);
    const [bin] = status.metadata.get(STATUS_DETAILS_TRAILER);
    assert.deepEqual(decodeDetails(bin as Buffer).details, [
      { typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: { reason: 'ETAG_MISMATCH', domain: ERROR_DOMAIN } },
    ]);
  });
});
