import { echo, ECHO_MAX_PATH_CHARS } from '../../domain/echo.js';
import { ApiError, invalidArgument } from '../../domain/errors.js';
import type { GatewayInfo } from '../../domain/device-http.js';
import type { DevicePath, GetConfigRequest, PublishEventRequest, SetStateRequest } from '../../services/device-http-bridge.js';
import { readBytes, readInt, readObject, readString, type Json, type JsonObject } from '../rest/json-read.js';
import { checkMessageJson } from '../rest/proto-json-check.js';
import { PUBLISH_DEVICE_EVENT_REQUEST, SET_DEVICE_STATE_REQUEST } from '../rest/proto-json-fields.js';

/**
 * The HTTP bridge's URL grammar and request bodies (spec §7.1, §7.2): which method a request is,
 * for which device, and its fields in either JSON spelling. Only translation: the rules are the
 * service's.
 */

export type DeviceMethod = 'publishEvent' | 'setState' | 'getConfig';

export interface DeviceRoute {
  method: DeviceMethod;
  path: DevicePath;
}

const NO_BYTES = new Uint8Array(0);

/** `/v1/` and `/v1beta1/` are the same API (spec §7.1). */
const PREFIX = /^\/v1(?:beta1)?\/projects\/([^/?#]+)\/locations\/([^/?#]+)\/registries\/([^/?#]+)\/devices\/([^/?#]+?)(:[^/?#]*|\/config)?$/;

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError('INVALID_ARGUMENT', 'The request path is not valid URL encoding.');
  }
}

/** The route of `httpMethod url`; NOT_FOUND (Google's "no such method") for anything else. */
export function routeOf(httpMethod: string, url: string): DeviceRoute {
  const pathOnly = url.split('?', 1)[0]!;
  const m = PREFIX.exec(pathOnly);
  const tail = m?.[5];
  let method: DeviceMethod | undefined;
  if (tail === ':publishEvent') method = 'publishEvent';
  else if (tail === ':setState') method = 'setState';
  else if (tail === '/config') method = 'getConfig';
  const expected = method === 'getConfig' ? 'GET' : 'POST';
  // HEAD is GET without a body (Node answers it so).
  const ok = method !== undefined && (httpMethod === expected || (expected === 'GET' && httpMethod === 'HEAD'));
  if (!m || !ok) {
    throw new ApiError('NOT_FOUND', `No such method: ${echo(httpMethod)} ${echo(pathOnly, ECHO_MAX_PATH_CHARS)}`, { reason: 'NO_SUCH_METHOD' });
  }
  return {
    method: method!,
    path: { registryKey: { project: decode(m[1]!), location: decode(m[2]!), registry: decode(m[3]!) }, device: decode(m[4]!) },
  };
}

function gatewayInfoOf(v: Json | undefined): GatewayInfo | undefined {
  const o = readObject(v, 'gateway_info');
  if (!o) return undefined;
  return { gatewayId: readString(o.gatewayId, 'gateway_info.gateway_id'), delegatedDeviceId: readString(o.delegatedDeviceId, 'gateway_info.delegated_device_id') };
}

function bodyObject(body: Json | undefined): JsonObject {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('INVALID_ARGUMENT', 'The request body must be a JSON object.', { reason: 'INVALID_BODY' });
  }
  return body;
}

/** PublishDeviceEventRequest (docs/compat.md C-HTTP-BODY: binary_data must be present; "" is an empty event). */
export function publishEventRequest(body: Json | undefined): PublishEventRequest {
  const b = checkMessageJson(bodyObject(body), PUBLISH_DEVICE_EVENT_REQUEST, '');
  if (b.binaryData === undefined || b.binaryData === null) {
    throw invalidArgument('binary_data', 'binary_data is required: the event payload, base64-encoded.', 'REQUIRED_FIELD');
  }
  return {
    data: readBytes(b.binaryData, 'binary_data') ?? NO_BYTES,
    subFolder: readString(b.subFolder, 'sub_folder') ?? '',
    gatewayInfo: gatewayInfoOf(b.gatewayInfo),
  };
}

/** SetDeviceStateRequest: `state.binary_data` must be present. */
export function setStateRequest(body: Json | undefined): SetStateRequest {
  const b = checkMessageJson(bodyObject(body), SET_DEVICE_STATE_REQUEST, '');
  const state = readObject(b.state, 'state');
  if (state?.binaryData === undefined || state.binaryData === null) {
    throw invalidArgument('state.binary_data', 'state.binary_data is required: the state, base64-encoded.', 'REQUIRED_FIELD');
  }
  return { data: readBytes(state.binaryData, 'state.binary_data') ?? NO_BYTES, gatewayInfo: gatewayInfoOf(b.gatewayInfo) };
}

/** Query parameters every Google API accepts and ignores here (system parameters). */
const SYSTEM_PARAMETERS = new Set(['alt', '$alt', 'fields', '$fields', 'prettyPrint', '$prettyPrint', 'key', 'quotaUser', '$quotaUser', 'callback', '$callback', 'access_token', 'oauth_token', '$.xgafv', 'upload_protocol', 'uploadType']);

const QUERY_FIELDS: Readonly<Record<string, keyof typeof QUERY_TARGETS>> = {
  local_version: 'localVersion',
  localVersion: 'localVersion',
  'gateway_info.gateway_id': 'gatewayId',
  'gatewayInfo.gatewayId': 'gatewayId',
  'gateway_info.delegated_device_id': 'delegatedDeviceId',
  'gatewayInfo.delegatedDeviceId': 'delegatedDeviceId',
};

const QUERY_TARGETS = { localVersion: 'local_version', gatewayId: 'gateway_info.gateway_id', delegatedDeviceId: 'gateway_info.delegated_device_id' } as const;

/** getConfig's query (spec §7.2, §7.3): either spelling of each parameter, each at most once. */
export function getConfigRequest(url: string): GetConfigRequest {
  const q = url.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const seen = new Map<string, string>();
  for (const [name, value] of params) {
    const target = QUERY_FIELDS[name];
    if (target === undefined) {
      if (SYSTEM_PARAMETERS.has(name)) continue;
      throw invalidArgument(echo(name), `Invalid query parameter "${echo(name)}": getConfig takes local_version and gateway_info.`);
    }
    if (seen.has(target)) throw invalidArgument(QUERY_TARGETS[target], `Query parameter ${QUERY_TARGETS[target]} is given twice.`);
    seen.set(target, value);
  }
  const gatewayId = seen.get('gatewayId');
  const delegatedDeviceId = seen.get('delegatedDeviceId');
  return {
    localVersion: readInt(seen.get('localVersion'), 'local_version') ?? 0,
    gatewayInfo: gatewayId === undefined && delegatedDeviceId === undefined ? undefined : { gatewayId, delegatedDeviceId },
  };
}
