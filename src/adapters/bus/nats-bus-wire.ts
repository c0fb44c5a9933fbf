import { ApiError, ERROR_KINDS, isApiError, type ErrorKind } from '../../domain/errors.js';
import type { ErrorReason } from '../../domain/error-reasons.js';
import type { BusEvent, BusReply, BusRequest } from '../../services/ports.js';

/**
 * What the NATS bus puts on the wire. Events and replies are small and carry no bytes: JSON.
 * A command request carries the command's raw payload, which JSON would inflate by a third as
 * base64, so every request is framed, big-endian (data empty for requests without a payload):
 *
 *   u8  version (1)
 *   u32 header length, then the header: the request without `data`, as JSON
 *   data (the rest)
 *
 * A reply is `{"ok":<BusReply>}` or `{"error":{"kind","message","field"?,"reason"}}`: a
 * responder's ApiError crosses as the error vocabulary, nothing else of it.
 */

const REQUEST_VERSION = 1;

export function encodeEvent(event: BusEvent): Uint8Array {
  return Buffer.from(JSON.stringify(event), 'utf8');
}

/** Throws on bytes that are not an event object; the caller drops them. */
export function decodeEvent(bytes: Uint8Array): BusEvent {
  const value: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    throw new Error('bus: an event without a type');
  }
  // A newer node may send a type this one does not know: subscribers ignore what they do not handle.
  return value as BusEvent;
}

const NO_DATA = new Uint8Array(0);

export function encodeRequest(request: BusRequest): Uint8Array {
  const { data, ...head } = request.type === 'deliver-command' ? request : { ...request, data: NO_DATA };
  const header = Buffer.from(JSON.stringify(head), 'utf8');
  const out = Buffer.allocUnsafe(1 + 4 + header.length + data.length);
  let o = out.writeUInt8(REQUEST_VERSION, 0);
  o = out.writeUInt32BE(header.length, o);
  o += header.copy(out, o);
  out.set(data, o);
  return out;
}

export function decodeRequest(bytes: Uint8Array): BusRequest {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 5 || b.readUInt8(0) !== REQUEST_VERSION) throw new Error('bus: not a version 1 request');
  const headerLength = b.readUInt32BE(1);
  if (5 + headerLength > b.length) throw new Error('bus: truncated request');
  const head: unknown = JSON.parse(b.subarray(5, 5 + headerLength).toString('utf8'));
  const h = head as { type?: unknown; numId?: unknown; subfolder?: unknown };
  if (h.type === 'gateway-errors' && typeof h.numId === 'string') return { type: h.type, numId: h.numId };
  if (h.type !== 'deliver-command' || typeof h.numId !== 'string' || typeof h.subfolder !== 'string') {
    throw new Error('bus: not a known request');
  }
  // A copy: the message buffer belongs to the client, the request to its handler.
  return { type: h.type, numId: h.numId, subfolder: h.subfolder, data: new Uint8Array(b.subarray(5 + headerLength)) };
}

export function encodeReply(reply: BusReply): Uint8Array {
  return Buffer.from(JSON.stringify({ ok: reply }), 'utf8');
}

export function encodeFailure(e: unknown): Uint8Array {
  const err = isApiError(e) ? e : new ApiError('INTERNAL', 'The responder failed.');
  return Buffer.from(JSON.stringify({ error: { kind: err.kind, message: err.message, field: err.field, reason: err.reason } }), 'utf8');
}

/** The reply, or throws the responder's ApiError (INTERNAL for bytes that are neither). */
export function decodeReply(bytes: Uint8Array): BusReply {
  let value: { ok?: BusReply; error?: { kind?: unknown; message?: unknown; field?: unknown; reason?: unknown } };
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as typeof value;
  } catch (cause) {
    throw new ApiError('INTERNAL', 'The responder sent an unreadable reply.', { cause });
  }
  if (value?.ok && typeof value.ok === 'object') return value.ok;
  const e = value?.error;
  if (e && typeof e.kind === 'string' && e.kind in ERROR_KINDS) {
    return throwFailure(e.kind as ErrorKind, e);
  }
  throw new ApiError('INTERNAL', 'The responder sent an unreadable reply.');
}

function throwFailure(kind: ErrorKind, e: { message?: unknown; field?: unknown; reason?: unknown }): never {
  // ApiError keeps the reason only when it belongs to the kind, so a reason this node does not
  // know degrades to the kind's generic one.
  throw new ApiError(kind, typeof e.message === 'string' ? e.message : kind, {
    field: typeof e.field === 'string' ? e.field : undefined,
    reason: typeof e.reason === 'string' ? (e.reason as ErrorReason) : undefined,
  });
}
