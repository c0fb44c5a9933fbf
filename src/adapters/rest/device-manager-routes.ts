import { ApiError, invalidArgument } from '../../domain/errors.js';
import {
  checkReadMask,
  DEVICE_FIELDS,
  parseDeviceUpdateMask,
  parseMask,
  parseRegistryUpdateMask,
  project,
} from '../../domain/field-mask.js';
import type { GatewayType, RegistryKey } from '../../domain/model.js';
import type { LocationKey } from '../../domain/names.js';
import { checkCommandSubfolder } from '../../domain/ids.js';
import { echo, ECHO_MAX_PATH_CHARS } from '../../domain/echo.js';
import type { DeviceAdmin, DeviceRefInput } from '../../services/device-admin.js';
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
  policyJson,
  readDeviceInput,
  readPolicy,
  readRegistryInput,
  registryJson,
  stateJson,
  type Encoding,
} from './resource-json.js';
import { readRequestBody } from './request-bodies.js';

/**
 * The Device Manager REST surface (spec §3.2): a table of path shapes, each mapped to one
 * DeviceAdmin call. Paths are matched here rather than by the HTTP framework because custom verbs
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
}

export type RestResult = JsonObject;

type Handler = (req: RestRequest, admin: DeviceAdmin) => Promise<RestResult>;

const loc = (s: string[]): LocationKey => ({ project: s[1]!, location: s[3]! });
const reg = (s: string[]): RegistryKey => ({ project: s[1]!, location: s[3]!, registry: s[5]! });
const dev = (s: string[]): DeviceRefInput => ({ registryKey: reg(s), device: s[7]! });

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
  'PL/registries GET': async (r, a) => {
    const page = await a.listRegistries(loc(r.segments), pageSize(r), queryString(r.query.pageToken ?? r.query.page_token));
    const out: JsonObject = { deviceRegistries: page.items.map((x) => registryJson(x, r.enc)) };
    if (page.nextPageToken) out.nextPageToken = page.nextPageToken;
    return out;
  },
  'PL/registries POST': async (r, a) =>
    registryJson(await a.createRegistry(loc(r.segments), readRegistryInput(r.body, 'device_registry')), r.enc),
  'PLR GET': async (r, a) => registryJson(await a.getRegistry(reg(r.segments)), r.enc),
  'PLR PATCH': async (r, a) => {
    const mask = parseRegistryUpdateMask(queryMask(r.query, 'updateMask', 'update_mask'));
    return registryJson(await a.updateRegistry(reg(r.segments), readRegistryInput(r.body, 'device_registry'), mask), r.enc);
  },
  'PLR DELETE': async (r, a) => {
    await a.deleteRegistry(reg(r.segments));
    return {};
  },
  'PLR:bindDeviceToGateway POST': async (r, a) => {
    await a.bind(reg(r.segments), idField(r.body?.gatewayId, 'gateway_id'), idField(r.body?.deviceId, 'device_id'));
    return {};
  },
  'PLR:unbindDeviceFromGateway POST': async (r, a) => {
    await a.unbind(reg(r.segments), idField(r.body?.gatewayId, 'gateway_id'), idField(r.body?.deviceId, 'device_id'));
    return {};
  },
  'PLR:getIamPolicy POST': async (r, a) => policyJson(await a.getIamPolicy(reg(r.segments))),
  'PLR:setIamPolicy POST': async (r, a) => {
    const { policy, etag } = readPolicy(r.body?.policy);
    return policyJson(await a.setIamPolicy(reg(r.segments), policy, etag));
  },
  'PLR:testIamPermissions POST': async (r, a) => {
    const permissions = (readArray(r.body?.permissions, 'permissions') ?? []).map((p, i) => readString(p, `permissions[${i}]`) ?? '');
    const granted = await a.testIamPermissions(reg(r.segments), permissions);
    return granted.length ? { permissions: granted } : ({} as JsonObject);
  },
  'PLR/devices GET': async (r, a) => listDevices(r, a),
  'PLR/devices POST': async (r, a) => deviceJson(await a.createDevice(reg(r.segments), readDeviceInput(r.body, true)), r.enc),
  'PLRD GET': async (r, a) => {
    const mask = parseMask(queryMask(r.query, 'fieldMask', 'field_mask'));
    checkReadMask(mask, DEVICE_FIELDS, 'field_mask');
    const json = deviceJson(await a.getDevice(dev(r.segments)), r.enc);
    return mask.length ? (project(json, mask, []) as JsonObject) : json;
  },
  'PLRD PATCH': async (r, a) => {
    const mask = parseDeviceUpdateMask(queryMask(r.query, 'updateMask', 'update_mask'));
    return deviceJson(await a.updateDevice(dev(r.segments), readDeviceInput(r.body, false), mask), r.enc);
  },
  'PLRD DELETE': async (r, a) => {
    await a.deleteDevice(dev(r.segments));
    return {};
  },
  'PLRD:modifyCloudToDeviceConfig POST': async (r, a) => {
    const versionToUpdate = readInt(r.body?.versionToUpdate, 'version_to_update') ?? 0;
    const data = readBytes(r.body?.binaryData, 'binary_data');
    if (data === undefined) throw invalidArgument('binary_data', 'binary_data is required.');
    return configJson(await a.modifyConfig(dev(r.segments), versionToUpdate, data));
  },
  'PLRD:sendCommandToDevice POST': async (r, a) => {
    const data = readBytes(r.body?.binaryData, 'binary_data');
    if (data === undefined) throw invalidArgument('binary_data', 'binary_data is required.');
    const subfolder = readString(r.body?.subfolder, 'subfolder') ?? '';
    checkCommandSubfolder(subfolder, 'subfolder');
    await a.sendCommand(dev(r.segments), data, subfolder);
    return {};
  },
  'PLRD/configVersions GET': async (r, a) => {
    const n = readInt(queryString(r.query.numVersions ?? r.query.num_versions), 'num_versions') ?? 0;
    const list = await a.listConfigVersions(dev(r.segments), n);
    return list.length ? { deviceConfigs: list.map(configJson) } : ({} as JsonObject);
  },
  'PLRD/states GET': async (r, a) => {
    const n = readInt(queryString(r.query.numStates ?? r.query.num_states), 'num_states') ?? 0;
    const list = await a.listStates(dev(r.segments), n);
    return list.length ? { deviceStates: list.map(stateJson) } : ({} as JsonObject);
  },
};

/** Every `shape[:verb] METHOD` the surface answers; request-bodies.ts keys its table by these. */
export const ROUTE_KEYS: readonly string[] = Object.keys(ROUTES);

export async function handleDeviceManager(req: RestRequest, admin: DeviceAdmin): Promise<RestResult> {
  const s = shape(req.segments);
  if (s === 'groups') {
    // docs/compat.md C-GROUPS: device groups never had public CRUD.
    throw new ApiError('UNIMPLEMENTED', 'Device groups are not supported by Bridgehead.');
  }
  const key = `${s}${req.verb ? `:${req.verb}` : ''} ${req.method}`;
  const handler = ROUTES[key];
  if (!handler) {
    const pathKnown = Object.keys(ROUTES).some((k) => k.startsWith(`${s}${req.verb ? `:${req.verb}` : ''} `));
    if (pathKnown) throw new ApiError('UNIMPLEMENTED', `Method ${echo(req.method)} is not allowed on this resource.`);
    throw new ApiError('NOT_FOUND', `No Device Manager method at ${echo(`/v1/${req.segments.join('/')}${req.verb ? `:${req.verb}` : ''}`, ECHO_MAX_PATH_CHARS)}.`);
  }
  return handler({ ...req, body: readRequestBody(key, req.body) }, admin);
}

async function listDevices(r: RestRequest, a: DeviceAdmin): Promise<RestResult> {
  const q = r.query;
  const mask = parseMask(queryMask(q, 'fieldMask', 'field_mask'));
  checkReadMask(mask, DEVICE_FIELDS, 'field_mask');
  const gatewayType = readEnum<GatewayType>(
    queryString(q['gatewayListOptions.gatewayType'] ?? q['gateway_list_options.gateway_type']),
    'GatewayType',
    'gateway_list_options.gateway_type',
  );
  const filter = {
    deviceIds: queryList(q.deviceIds ?? q.device_ids),
    deviceNumIds: queryList(q.deviceNumIds ?? q.device_num_ids).map((v) => readUint64String(v, 'device_num_ids')),
    ...(gatewayType && gatewayType !== 'GATEWAY_TYPE_UNSPECIFIED' ? { gatewayType } : {}),
    associationsGatewayId: queryString(q['gatewayListOptions.associationsGatewayId'] ?? q['gateway_list_options.associations_gateway_id']),
    associationsDeviceId: queryString(q['gatewayListOptions.associationsDeviceId'] ?? q['gateway_list_options.associations_device_id']),
  };
  const page = await a.listDevices(reg(r.segments), filter, pageSize(r), queryString(q.pageToken ?? q.page_token));
  // docs/compat.md C-LIST-PROJECTION: id, name and numId always, plus the masked fields.
  const devices = page.items.map((d) => project(deviceJson(d, r.enc), mask, ['id', 'name', 'numId']));
  const out: JsonObject = devices.length ? { devices: devices as Json[] } : {};
  if (page.nextPageToken) out.nextPageToken = page.nextPageToken;
  return out;
}

function pageSize(r: RestRequest): number {
  return readInt(queryString(r.query.pageSize ?? r.query.page_size), 'page_size') ?? 0;
}

function queryMask(q: Record<string, unknown>, camel: string, snake: string): string[] | undefined {
  const v = q[camel] ?? q[snake] ?? q[`${camel}.paths`] ?? q[`${snake}.paths`];
  if (v === undefined) return undefined;
  return queryList(v);
}

function idField(v: Json | undefined, field: string): string {
  if (typeof v === 'number') return readUint64String(v, field);
  const s = readString(v, field);
  if (!s) throw invalidArgument(field, `${field} is required.`);
  return s;
}

