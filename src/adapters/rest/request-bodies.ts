import type { JsonObject } from './json-read.js';
import { checkMessageJson } from './proto-json-check.js';
import {
  BIND_DEVICE_TO_GATEWAY_REQUEST,
  DEVICE,
  DEVICE_REGISTRY,
  GET_IAM_POLICY_REQUEST,
  MODIFY_CLOUD_TO_DEVICE_CONFIG_REQUEST,
  SEND_COMMAND_TO_DEVICE_REQUEST,
  SET_IAM_POLICY_REQUEST,
  TEST_IAM_PERMISSIONS_REQUEST,
  UNBIND_DEVICE_FROM_GATEWAY_REQUEST,
  type ProtoMessage,
} from './proto-json-fields.js';

/**
 * What each Device Manager method takes as its HTTP body (device_manager.proto's `body:`), by the
 * route keys of device-manager-routes.ts. `path` is the body's place in the request message, the
 * prefix of the field paths errors name: `device` for `body: "device"`, none for `body: "*"`.
 * Methods without a body (GET, DELETE) are absent: whatever body they are sent is ignored.
 */
export const REQUEST_BODIES: Readonly<Record<string, { message: ProtoMessage; path: string }>> = {
  'PL/registries POST': { message: DEVICE_REGISTRY, path: 'device_registry' },
  'PLR PATCH': { message: DEVICE_REGISTRY, path: 'device_registry' },
  'PLR:bindDeviceToGateway POST': { message: BIND_DEVICE_TO_GATEWAY_REQUEST, path: '' },
  'PLR:unbindDeviceFromGateway POST': { message: UNBIND_DEVICE_FROM_GATEWAY_REQUEST, path: '' },
  'PLR:getIamPolicy POST': { message: GET_IAM_POLICY_REQUEST, path: '' },
  'PLR:setIamPolicy POST': { message: SET_IAM_POLICY_REQUEST, path: '' },
  'PLR:testIamPermissions POST': { message: TEST_IAM_PERMISSIONS_REQUEST, path: '' },
  'PLR/devices POST': { message: DEVICE, path: 'device' },
  'PLRD PATCH': { message: DEVICE, path: 'device' },
  'PLRD:modifyCloudToDeviceConfig POST': { message: MODIFY_CLOUD_TO_DEVICE_CONFIG_REQUEST, path: '' },
  'PLRD:sendCommandToDevice POST': { message: SEND_COMMAND_TO_DEVICE_REQUEST, path: '' },
};

/** The body a route's handler sees: checked against its message, fields in camelCase; undefined without one. */
export function readRequestBody(routeKey: string, body: JsonObject | undefined): JsonObject | undefined {
  const spec = Object.hasOwn(REQUEST_BODIES, routeKey) ? REQUEST_BODIES[routeKey] : undefined;
  if (spec === undefined || body === undefined) return undefined;
  return checkMessageJson(body, spec.message, spec.path);
}
