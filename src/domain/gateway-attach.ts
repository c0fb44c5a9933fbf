import type { GatewayAuthMethod } from './model.js';

/**
 * The gateway attach decision (spec §6.2), as a pure function of the facts the bridge gathered.
 */

export type TokenCheck = 'valid' | 'invalid' | 'absent' | 'not-checked';

export interface AttachFacts {
  method: GatewayAuthMethod;
  deviceExists: boolean;
  deviceBlocked: boolean;
  /** The device is itself a gateway: gateways cannot be attached (they connect on their own). */
  deviceIsGateway: boolean;
  bound: boolean;
  token: TokenCheck;
  alreadyAttached: boolean;
  attachedCount: number;
  maxAttached: number;
}

export type AttachDecision = { ok: true } | { ok: false; reason: string };

/** Which facts the method needs, so the bridge only verifies a JWT or reads a binding when it matters. */
export function attachNeeds(method: GatewayAuthMethod): { binding: boolean; token: boolean } {
  switch (method) {
    case 'ASSOCIATION_ONLY':
      return { binding: true, token: false };
    case 'DEVICE_AUTH_TOKEN_ONLY':
      return { binding: false, token: true };
    case 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN':
      return { binding: true, token: true };
    default:
      return { binding: false, token: false };
  }
}

export function decideAttach(f: AttachFacts): AttachDecision {
  if (!f.deviceExists) return { ok: false, reason: 'the device does not exist in the gateway\'s registry' };
  if (f.alreadyAttached) return { ok: true };
  if (f.method === 'GATEWAY_AUTH_METHOD_UNSPECIFIED') {
    return { ok: false, reason: 'the gateway has no gatewayAuthMethod, so no device may attach through it' };
  }
  if (f.deviceIsGateway) return { ok: false, reason: 'a gateway cannot be attached to another gateway' };
  if (f.deviceBlocked) return { ok: false, reason: 'the device is blocked' };
  const needs = attachNeeds(f.method);
  if (needs.binding && !f.bound) return { ok: false, reason: 'the device is not bound to the gateway' };
  if (needs.token && f.token !== 'valid') {
    return { ok: false, reason: f.token === 'absent' ? 'no device JWT was given in the attach message' : 'the device JWT is not valid' };
  }
  if (f.attachedCount >= f.maxAttached) return { ok: false, reason: `the gateway already has ${f.maxAttached} attached devices` };
  return { ok: true };
}

/**
 * Reads the attach payload (spec §6.2): `{"authorization":"<jwt>"}`, `{}`,
 * `{"authorization":""}`, an empty payload, and the single-quoted form a Google sample sent.
 * Undefined when the payload cannot be read at all.
 */
export function parseAttachPayload(text: string): { token: string } | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return { token: '' };
  try {
    const v: unknown = JSON.parse(trimmed);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const auth = (v as { authorization?: unknown }).authorization;
    if (auth === undefined || auth === null) return { token: '' };
    return typeof auth === 'string' ? { token: auth.trim() } : undefined;
  } catch {
    const m = /^\{\s*['"]?authorization['"]?\s*:\s*['"]?([A-Za-z0-9_\-.=+/]*)['"]?\s*\}$/.exec(trimmed);
    return m ? { token: m[1]! } : undefined;
  }
}

/** The JSON of one errors-topic message (spec §6.5): compact, keys in this order. */
export function gatewayErrorJson(e: {
  errorType: string;
  deviceId: string;
  description: string;
  packet?: { messageType: string; topic: string; packetId: number };
}): string {
  const body: Record<string, unknown> = { error_type: e.errorType, device_id: e.deviceId, description: e.description };
  if (e.packet) body.mqtt_message_info = { message_type: e.packet.messageType, topic: e.packet.topic, packet_id: e.packet.packetId };
  return JSON.stringify(body);
}

export const GATEWAY_ERROR_TYPES = [
  'GATEWAY_ATTACHMENT_ERROR',
  'GATEWAY_DEVICE_NOT_FOUND',
  'GATEWAY_INVALID_MQTT_TOPIC',
  'GATEWAY_UNEXPECTED_PACKET_ID',
  'GATEWAY_UNEXPECTED_MESSAGE_TYPE',
  'GATEWAY_DETACHMENT_DEVICE_ERROR',
  'UNKNOWN',
] as const;
export type GatewayErrorType = (typeof GATEWAY_ERROR_TYPES)[number];
