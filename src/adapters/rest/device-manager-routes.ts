import { echo, ECHO_MAX_PATH_CHARS } from '../../domain/echo.js';
import { ApiError } from '../../domain/errors.js';
import { project } from '../../domain/field-mask.js';
import type { Device, GatewayType, Registry } from '../../domain/model.js';
import type { Principal } from '../../services/api-auth.js';
import type { DeviceAdmin } from '../../services/device-admin.js';
import type { BindingRequest } from '../../services/device-manager-requests.js';
import {
  queryList,
  queryString,
  readArray,
  readBytes,
  readEnum,
  readInt,
  readString,
  readUint64String,
  type Json,
  type JsonObject,
} from './json-read.js';
import {
  configJson,
  deviceJson,
  gatewayErrorJson,
  policyJson,
  readDeviceMessage,
  readPolicyMessage,
  readRegistryMessage,
  registryJson,
  stateJson,
  type Encoding,
} from './resource-json.js';
import { readRequestBody } from './request-bodies.js';

/**
 * The Device Manager REST surface (spec §3.2): a table of path shapes, each mapped to one
 * DeviceAdmin call; the handlers only translate JSON and paths to request messages and back. Paths are matched here rather than by the HTTP framework because custom verbs
 * (`:modifyCloudToDeviceConfig`) and resource names do not fit a router's parameter syntax.
 */

export interface RestRequest {
  method: string;
  /** Path segments after `/v1/`, URL-decoded. */
  segments: string[];
  /** Custom verb after the last `:` of the path, if any. */
  verb: string | undefined;
  query: Record<string, unknown>;
  /**
   * The JSON object as parsed, in the client's spelling, when it reaches handleDeviceManager; the
   * handler sees it checked against the method's message and in camelCase (request-bodies.ts).
   */
  body: JsonObject | undefined;
  enc: Encoding;
  /** The `If-Match` header (docs/compat.md C-DEVICE-ETAG). */
  ifMatch?: string | undefined;
  /** Sets the response's `ETag` header. */
  setEtag?: (etag: string) => void;
}

export type RestResult = JsonObject;

type Handler = (req: RestRequest, admin: DeviceAdmin, caller: Principal) => Promise<RestResult>;

/** Resource names from the path: the first `n` segments (`projects/p/locations/l/...`). */
const nameOf = (s: string[], n: number): string => s.slice(0, n).join('/');
const locationName = (s: string[]): string => nameOf(s, 4);
const registryPath = (s: string[]): string => nameOf(s, 6);
const devicePath = (s: string[]): string => nameOf(s, 8);

/** Shape of the path: P=projects/x, L=locations/x, R=registries/x, D=devices/x. */
function shape(segments: string[]): string | undefined {
  const labels = ['projects', 'locations', 'registries', 'devices'];
  let out = '';
  for (let i = 0; i < segments.length; i++) {
    const expected = labels[i >> 1];
    if (i % 2 === 0) {
      // A trailing name is a collection (`registries`, `devices`, `configVersions`, `states`).
      if (i === segments.length - 1) return `${out}/${segments[i]}`;
      if (segments[i] === expected) continue;
      if (segments[i] === 'groups' && i === 6) return 'groups';
      return undefined;
    }
    if (segments[i] === '') return undefined;
    out += expected![0]!.toUpperCase();
  }
  return out;
}

const ROUTES: Record<string, Handler> = {
  'PL/registries GET': async (r, a, c) => {
    const page = await a.listDeviceRegistries(c, {
      parent: locationName(r.segments),
      pageSize: pageSize(r),
      pageToken: queryString(r.query.pageToken ?? r.query.page_token),
    });
    const out: JsonObject = { deviceRegistries: page.deviceRegistries.map((x) => registryJson(x, r.enc)) };
    if (page.nextPageToken) out.nextPageToken = page.nextPageToken;
    return out;
  },
  'PL/registries POST': async (r, a, c) =>
    registryJson(
      withEtag(r, await a.createDeviceRegistry(c, { parent: locationName(r.segments), deviceRegistry: readRegistryMessage(r.body, 'device_registry') })),
      r.enc,
    ),
  'PLR GET': async (r, a, c) => registryJson(withEtag(r, await a.getDeviceRegistry(c, { name: registryPath(r.segments) })), r.enc),
  'PLR PATCH': async (r, a, c) => {
    const expectedRevision = r.ifMatch === undefined ? undefined : revisionOfEtag(r.ifMatch);
    const saved = await a.updateDeviceRegistry(c, {
      name: registryPath(r.segments),
      deviceRegistry: readRegistryMessage(r.body, 'device_registry'),
      updateMask: queryMask(r.query, 'updateMask', 'update_mask'),
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    });
    return registryJson(withEtag(r, saved), r.enc);
  },
  'PLR DELETE': async (r, a, c) => {
    await a.deleteDeviceRegistry(c, { name: registryPath(r.segments) });
    return {};
  },
  'PLR:bindDeviceToGateway POST': async (r, a, c) => {
    await a.bindDeviceToGateway(c, bindingRequest(r));
    return {};
  },
  'PLR:unbindDeviceFromGateway POST': async (r, a, c) => {
    await a.unbindDeviceFromGateway(c, bindingRequest(r));
    return {};
  },
  'PLR:getIamPolicy POST': async (r, a, c) => policyJson(await a.getIamPolicy(c, { resource: registryPath(r.segments) })),
  'PLR:setIamPolicy POST': async (r, a, c) =>
    policyJson(await a.setIamPolicy(c, { resource: registryPath(r.segments), policy: readPolicyMessage(r.body?.policy) })),
  'PLR:testIamPermissions POST': async (r, a, c) => {
    const permissions = (readArray(r.body?.permissions, 'permissions') ?? []).map((p, i) => readString(p, `permissions[${i}]`) ?? '');
    const granted = await a.testIamPermissions(c, { resource: registryPath(r.segments), permissions });
    return granted.length ? { permissions: granted } : ({} as JsonObject);
  },
  'PLR/devices GET': async (r, a, c) => listDevices(r, a, c),
  // docs/compat.md C-CONSOLE-CONNECTION: Bridgehead's own, not Google's.
  'PLR/devices:connections GET': async (r, a, c) => {
    const connections = await a.getDeviceConnections(c, { parent: registryPath(r.segments), deviceIds: queryList(r.query.deviceIds ?? r.query.device_ids) });
    return { connections: connections as unknown as Json[] };
  },
  'PLRD:connection GET': async (r, a, c) => {
    const device = r.segments[7]!;
    const [connection] = await a.getDeviceConnections(c, { parent: registryPath(r.segments), deviceIds: [device] });
    if (!connection) throw new ApiError('NOT_FOUND', `Device ${echo(devicePath(r.segments), ECHO_MAX_PATH_CHARS)} not found.`, { reason: 'NOT_FOUND' });
    return connection as unknown as JsonObject;
  },
  // docs/compat.md C-CONSOLE-GATEWAY-ERRORS: Bridgehead's own, not Google's.
  'PLRD:gatewayErrors GET': async (r, a, c) => ({ errors: (await a.getGatewayErrors(c, { name: devicePath(r.segments) })).map(gatewayErrorJson) }),
  'PLR/devices POST': async (r, a, c) =>
    deviceJson(withEtag(r, await a.createDevice(c, { parent: registryPath(r.segments), device: readDeviceMessage(r.body) })), r.enc),
  'PLRD GET': async (r, a, c) => {
    const view = await a.getDevice(c, { name: devicePath(r.segments), fieldMask: queryMask(r.query, 'fieldMask', 'field_mask') });
    const json = deviceJson(withEtag(r, view.device), r.enc);
    return view.fields ? (project(json, view.fields, []) as JsonObject) : json;
  },
  'PLRD PATCH': async (r, a, c) => {
    const expectedRevision = r.ifMatch === undefined ? undefined : revisionOfEtag(r.ifMatch);
    const saved = await a.updateDevice(c, {
      name: devicePath(r.segments),
      device: readDeviceMessage(r.body),
      updateMask: queryMask(r.query, 'updateMask', 'update_mask'),
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    });
    return deviceJson(withEtag(r, saved), r.enc);
  },
  'PLRD DELETE': async (r, a, c) => {
    await a.deleteDevice(c, { name: devicePath(r.segments) });
    return {};
  },
  'PLRD:modifyCloudToDeviceConfig POST': async (r, a, c) =>
    configJson(
      await a.modifyCloudToDeviceConfig(c, {
        name: devicePath(r.segments),
        versionToUpdate: readInt(r.body?.versionToUpdate, 'version_to_update'),
        binaryData: readBytes(r.body?.binaryData, 'binary_data'),
      }),
    ),
  'PLRD:sendCommandToDevice POST': async (r, a, c) => {
    await a.sendCommandToDevice(c, {
      name: devicePath(r.segments),
      binaryData: readBytes(r.body?.binaryData, 'binary_data'),
      subfolder: readString(r.body?.subfolder, 'subfolder'),
    });
    return {};
  },
  'PLRD/configVersions GET': async (r, a, c) => {
    const list = await a.listDeviceConfigVersions(c, {
      name: devicePath(r.segments),
      numVersions: readInt(queryString(r.query.numVersions ?? r.query.num_versions), 'num_versions'),
    });
    return list.length ? { deviceConfigs: list.map(configJson) } : ({} as JsonObject);
  },
  'PLRD/states GET': async (r, a, c) => {
    const list = await a.listDeviceStates(c, {
      name: devicePath(r.segments),
      numStates: readInt(queryString(r.query.numStates ?? r.query.num_states), 'num_states'),
    });
    return list.length ? { deviceStates: list.map(stateJson) } : ({} as JsonObject);
  },
};

/** The `shape[:verb] METHOD` key of a request (one of ROUTE_KEYS when answered), for metrics. */
export const deviceManagerRouteKey = (segments: string[], verb: string | undefined, method: string): string =>
  `${shape(segments)}${verb ? `:${verb}` : ''} ${method}`;

/** Every `shape[:verb] METHOD` the surface answers; request-bodies.ts keys its table by these. */
export const ROUTE_KEYS: readonly string[] = Object.keys(ROUTES);

/**
 * docs/compat.md C-DEVICE-ETAG: a device's or registry's revision travels as an HTTP entity tag,
 * so that a client's read-modify-write (the CLI's credential edits) can be made conditional with
 * If-Match. The v1 messages have no etag field; the header keeps their JSON Google's.
 */
function withEtag<T extends Device | Registry>(r: RestRequest, resource: T): T {
  r.setEtag?.(`"r${resource.revision}"`);
  return resource;
}

/** `"r12"` (or weak `W/"r12"`) to 12; `*` matches any revision (undefined). */
function revisionOfEtag(header: string): number | undefined {
  const h = header.trim();
  if (h === '*') return undefined;
  const m = /^(?:W\/)?"r(\d{1,15})"$/.exec(h);
  if (!m) throw new ApiError('INVALID_ARGUMENT', `If-Match must be an ETag this server sent for the resource (like "r12"), got ${echo(h)}.`, { reason: 'INVALID_ARGUMENT' });
  return Number(m[1]);
}

export async function handleDeviceManager(req: RestRequest, admin: DeviceAdmin, caller: Principal): Promise<RestResult> {
  const s = shape(req.segments);
  if (s === 'groups') {
    // docs/compat.md C-GROUPS: device groups never had public CRUD.
    throw new ApiError('UNIMPLEMENTED', 'Device groups are not supported by Bridgehead.', { reason: 'UNIMPLEMENTED' });
  }
  const key = `${s}${req.verb ? `:${req.verb}` : ''} ${req.method}`;
  const handler = ROUTES[key];
  if (!handler) {
    const pathKnown = Object.keys(ROUTES).some((k) => k.startsWith(`${s}${req.verb ? `:${req.verb}` : ''} `));
    if (pathKnown) throw new ApiError('UNIMPLEMENTED', `Method ${echo(req.method)} is not allowed on this resource.`, { reason: 'METHOD_NOT_ALLOWED' });
    const path = echo(`/v1/${req.segments.join('/')}${req.verb ? `:${req.verb}` : ''}`, ECHO_MAX_PATH_CHARS);
    throw new ApiError('NOT_FOUND', `No Device Manager method at ${path}.`, { reason: 'NO_SUCH_METHOD' });
  }
  return handler({ ...req, body: readRequestBody(key, req.body) }, admin, caller);
}

async function listDevices(r: RestRequest, a: DeviceAdmin, caller: Principal): Promise<RestResult> {
  const q = r.query;
  const gatewayType = readEnum<GatewayType>(
    queryString(q['gatewayListOptions.gatewayType'] ?? q['gateway_list_options.gateway_type']),
    'GatewayType',
    'gateway_list_options.gateway_type',
  );
  const page = await a.listDevices(caller, {
    parent: registryPath(r.segments),
    deviceIds: queryList(q.deviceIds ?? q.device_ids),
    deviceNumIds: queryList(q.deviceNumIds ?? q.device_num_ids).map((v) => readUint64String(v, 'device_num_ids')),
    fieldMask: queryMask(q, 'fieldMask', 'field_mask'),
    gatewayListOptions: {
      ...(gatewayType ? { gatewayType } : {}),
      associationsGatewayId: queryString(q['gatewayListOptions.associationsGatewayId'] ?? q['gateway_list_options.associations_gateway_id']),
      associationsDeviceId: queryString(q['gatewayListOptions.associationsDeviceId'] ?? q['gateway_list_options.associations_device_id']),
    },
    deviceIdPrefix: queryString(q.deviceIdPrefix ?? q.device_id_prefix),
    ...queryBlocked(q.blocked),
    pageSize: pageSize(r),
    pageToken: queryString(q.pageToken ?? q.page_token),
  });
  const devices = page.devices.map((d) => project(deviceJson(d, r.enc), page.fields, []));
  const out: JsonObject = devices.length ? { devices: devices as Json[] } : {};
  if (page.nextPageToken) out.nextPageToken = page.nextPageToken;
  return out;
}

/** `blocked=true|false` (docs/compat.md C-CONSOLE-PREFIX); absent: both. */
function queryBlocked(v: unknown): { blocked?: boolean } {
  const s = queryString(v);
  if (s === undefined || s === '') return {};
  if (s === 'true' || s === 'false') return { blocked: s === 'true' };
  throw new ApiError('INVALID_ARGUMENT', `blocked must be true or false, got ${echo(s)}.`, { field: 'blocked', reason: 'INVALID_FIELD' });
}

function pageSize(r: RestRequest): number {
  return readInt(queryString(r.query.pageSize ?? r.query.page_size), 'page_size') ?? 0;
}

function queryMask(q: Record<string, unknown>, camel: string, snake: string): string[] | undefined {
  const v = q[camel] ?? q[snake] ?? q[`${camel}.paths`] ?? q[`${snake}.paths`];
  return v === undefined ? undefined : queryList(v);
}

/** gateway_id and device_id name a device by ID or numId; a numId may come as a JSON number. */
function idField(v: Json | undefined, field: string): string | undefined {
  return typeof v === 'number' ? readUint64String(v, field) : readString(v, field);
}

function bindingRequest(r: RestRequest): BindingRequest {
  return { parent: registryPath(r.segments), gatewayId: idField(r.body?.gatewayId, 'gateway_id'), deviceId: idField(r.body?.deviceId, 'device_id') };
}

/** Splits a custom verb (`…/devices/d:modifyCloudToDeviceConfig`) off the last path segment, in place. */
export function splitVerb(segments: string[]): string | undefined {
  const last = segments[segments.length - 1] ?? '';
  const colon = last.lastIndexOf(':');
  if (colon <= 0) return undefined;
  segments[segments.length - 1] = last.slice(0, colon);
  return last.slice(colon + 1);
}
