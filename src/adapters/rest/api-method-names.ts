import { deviceManagerRouteKey, splitVerb } from './device-manager-routes.js';
import { iamAdminRouteKey, isIamAdminPath } from './iam-admin-routes.js';

/**
 * The `method` label of a REST call in `bridgehead_api_requests_total`: the name of the RPC it is
 * the REST form of, the same name the gRPC transport reports, so that one query covers both
 * (docs/compat.md C-METRICS-API). Other routes are named by their route pattern; whatever matches
 * nothing is `unknown`: the label's values are a fixed set whatever clients send.
 */

const DEVICE_MANAGER = 'google.cloud.iot.v1.DeviceManager/';
const IAM = 'google.iam.admin.v1.IAM/';
const PROJECTS = 'google.cloud.resourcemanager.v1.Projects/';

/** The prefix of the names of REST methods Bridgehead adds, which Google's API does not have. */
export const BRIDGEHEAD_EXTENSION = 'bridgehead.';

export const DEVICE_MANAGER_REST_METHODS: Readonly<Record<string, string>> = {
  'PL/registries GET': 'ListDeviceRegistries',
  'PL/registries POST': 'CreateDeviceRegistry',
  'PLR GET': 'GetDeviceRegistry',
  'PLR PATCH': 'UpdateDeviceRegistry',
  'PLR DELETE': 'DeleteDeviceRegistry',
  'PLR:bindDeviceToGateway POST': 'BindDeviceToGateway',
  'PLR:unbindDeviceFromGateway POST': 'UnbindDeviceFromGateway',
  'PLR:getIamPolicy POST': 'GetIamPolicy',
  'PLR:setIamPolicy POST': 'SetIamPolicy',
  'PLR:testIamPermissions POST': 'TestIamPermissions',
  'PLR/devices GET': 'ListDevices',
  // Bridgehead's REST-only extensions (docs/compat.md C-CONSOLE-CONNECTION): no gRPC method of that name.
  'PLR/devices:connections GET': `${BRIDGEHEAD_EXTENSION}GetDeviceConnections`,
  'PLRD:connection GET': `${BRIDGEHEAD_EXTENSION}GetDeviceConnection`,
  // docs/compat.md C-CONSOLE-GATEWAY-ERRORS
  'PLRD:gatewayErrors GET': `${BRIDGEHEAD_EXTENSION}GetGatewayErrors`,
  'PLR/devices POST': 'CreateDevice',
  'PLRD GET': 'GetDevice',
  'PLRD PATCH': 'UpdateDevice',
  'PLRD DELETE': 'DeleteDevice',
  'PLRD:modifyCloudToDeviceConfig POST': 'ModifyCloudToDeviceConfig',
  'PLRD:sendCommandToDevice POST': 'SendCommandToDevice',
  'PLRD/configVersions GET': 'ListDeviceConfigVersions',
  'PLRD/states GET': 'ListDeviceStates',
};

const IAM_REST_METHODS: Readonly<Record<string, string>> = {
  'P:getIamPolicy POST': `${PROJECTS}GetIamPolicy`,
  'P:setIamPolicy POST': `${PROJECTS}SetIamPolicy`,
  'P/serviceAccounts POST': `${IAM}CreateServiceAccount`,
  'P/serviceAccounts GET': `${IAM}ListServiceAccounts`,
  'PA GET': `${IAM}GetServiceAccount`,
  'PA DELETE': `${IAM}DeleteServiceAccount`,
  'PA/keys POST': `${IAM}CreateServiceAccountKey`,
  'PA/keys GET': `${IAM}ListServiceAccountKeys`,
  'PAK GET': `${IAM}GetServiceAccountKey`,
  'PAK DELETE': `${IAM}DeleteServiceAccountKey`,
  'PAK:disable POST': `${IAM}DisableServiceAccountKey`,
  'PAK:enable POST': `${IAM}EnableServiceAccountKey`,
};

export const UNKNOWN_METHOD = 'unknown';

export interface RestCall {
  /** The HTTP method as received. */
  method: string;
  url: string;
  /** Fastify's matched route pattern; undefined when no route matched. */
  route: string | undefined;
  /** X-HTTP-Method-Override, honoured on POST as the API route does. */
  override: string | string[] | undefined;
}

export function restMethodName(call: RestCall): string {
  if (call.route === undefined) return UNKNOWN_METHOD;
  if (call.route !== '/v1/*') return `${call.method} ${call.route}`;
  if (!call.url.startsWith('/v1/')) return UNKNOWN_METHOD;
  const method = call.method === 'POST' && typeof call.override === 'string' ? call.override.toUpperCase() : call.method;
  const segments = call.url.slice('/v1/'.length).split('?')[0]!.split('/');
  for (let i = 0; i < segments.length; i++) {
    try {
      segments[i] = decodeURIComponent(segments[i]!);
    } catch {
      return UNKNOWN_METHOD;
    }
  }
  const verb = splitVerb(segments);
  if (isIamAdminPath(segments)) return IAM_REST_METHODS[iamAdminRouteKey(segments, verb, method)] ?? UNKNOWN_METHOD;
  const rpc = DEVICE_MANAGER_REST_METHODS[deviceManagerRouteKey(segments, verb, method)];
  if (rpc === undefined) return UNKNOWN_METHOD;
  // Bridgehead's own methods are not Google's DeviceManager's: named as themselves (`bridgehead.GetDeviceConnections`).
  return rpc.startsWith(BRIDGEHEAD_EXTENSION) ? rpc : DEVICE_MANAGER + rpc;
}

/** The canonical code of an answer whose error kind is not known (success, or answered outside the error handler). */
export function codeOfStatus(status: number): string {
  if (status < 400) return 'OK';
  return STATUS_CODES[status] ?? (status < 500 ? 'FAILED_PRECONDITION' : 'INTERNAL');
}

const STATUS_CODES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};
