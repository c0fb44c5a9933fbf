import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Principal } from '../../services/api-auth.js';
import type { DeviceAdmin } from '../../services/device-admin.js';
import { unary, type GrpcCallOptions } from './grpc-calls.js';
import * as rq from './request-messages.js';
import {
  configProto,
  deviceListProto,
  deviceProto,
  deviceViewProto,
  policyProto,
  registryListProto,
  registryProto,
  stateProto,
  type Message,
} from './resource-messages.js';

/**
 * google.cloud.iot.v1.DeviceManager over gRPC (docs/compat.md C-GRPC): one handler per method, each only translating the
 * request message for DeviceAdmin and its result back (the REST routes' twin). Authentication,
 * deadlines, malformed messages and the error mapping are common to all, in `unary` (./grpc-calls.ts).
 */

export interface DeviceManagerServiceOptions extends GrpcCallOptions {
  admin: DeviceAdmin;
}

type Method<Req> = (admin: DeviceAdmin, caller: Principal, request: Req) => Promise<Message>;

const EMPTY: Message = {};

const METHODS = {
  CreateDeviceRegistry: async (a, c, r: rq.PbCreateDeviceRegistryRequest) => registryProto(await a.createDeviceRegistry(c, rq.createDeviceRegistryRequest(r))),
  GetDeviceRegistry: async (a, c, r: rq.PbNameRequest) => registryProto(await a.getDeviceRegistry(c, rq.nameRequest(r))),
  UpdateDeviceRegistry: async (a, c, r: rq.PbUpdateDeviceRegistryRequest) => registryProto(await a.updateDeviceRegistry(c, rq.updateDeviceRegistryRequest(r))),
  DeleteDeviceRegistry: async (a, c, r: rq.PbNameRequest) => {
    await a.deleteDeviceRegistry(c, rq.nameRequest(r));
    return EMPTY;
  },
  ListDeviceRegistries: async (a, c, r: rq.PbListDeviceRegistriesRequest) => registryListProto(await a.listDeviceRegistries(c, rq.listDeviceRegistriesRequest(r))),
  CreateDevice: async (a, c, r: rq.PbCreateDeviceRequest) => deviceProto(await a.createDevice(c, rq.createDeviceRequest(r))),
  GetDevice: async (a, c, r: rq.PbGetDeviceRequest) => deviceViewProto(await a.getDevice(c, rq.getDeviceRequest(r))),
  UpdateDevice: async (a, c, r: rq.PbUpdateDeviceRequest) => deviceProto(await a.updateDevice(c, rq.updateDeviceRequest(r))),
  DeleteDevice: async (a, c, r: rq.PbNameRequest) => {
    await a.deleteDevice(c, rq.nameRequest(r));
    return EMPTY;
  },
  ListDevices: async (a, c, r: rq.PbListDevicesRequest) => deviceListProto(await a.listDevices(c, rq.listDevicesRequest(r))),
  ModifyCloudToDeviceConfig: async (a, c, r: rq.PbModifyConfigRequest) => configProto(await a.modifyCloudToDeviceConfig(c, rq.modifyConfigRequest(r))),
  ListDeviceConfigVersions: async (a, c, r: rq.PbListConfigVersionsRequest) => {
    const list = await a.listDeviceConfigVersions(c, rq.listConfigVersionsRequest(r));
    return list.length ? { deviceConfigs: list.map(configProto) } : EMPTY;
  },
  ListDeviceStates: async (a, c, r: rq.PbListStatesRequest) => {
    const list = await a.listDeviceStates(c, rq.listStatesRequest(r));
    return list.length ? { deviceStates: list.map(stateProto) } : EMPTY;
  },
  SetIamPolicy: async (a, c, r: rq.PbSetIamPolicyRequest) => policyProto(await a.setIamPolicy(c, rq.setIamPolicyRequest(r))),
  GetIamPolicy: async (a, c, r: rq.PbResourceRequest) => policyProto(await a.getIamPolicy(c, rq.getIamPolicyRequest(r))),
  TestIamPermissions: async (a, c, r: rq.PbTestIamPermissionsRequest) => {
    const granted = await a.testIamPermissions(c, rq.testIamPermissionsRequest(r));
    return granted.length ? { permissions: granted } : EMPTY;
  },
  SendCommandToDevice: async (a, c, r: rq.PbSendCommandRequest) => {
    await a.sendCommandToDevice(c, rq.sendCommandRequest(r));
    return EMPTY;
  },
  BindDeviceToGateway: async (a, c, r: rq.PbBindingRequest) => {
    await a.bindDeviceToGateway(c, rq.bindingRequest(r));
    return EMPTY;
  },
  UnbindDeviceFromGateway: async (a, c, r: rq.PbBindingRequest) => {
    await a.unbindDeviceFromGateway(c, rq.bindingRequest(r));
    return EMPTY;
  },
} satisfies Record<string, Method<never>>;

export type DeviceManagerMethodName = keyof typeof METHODS;
export const DEVICE_MANAGER_METHODS = Object.keys(METHODS) as DeviceManagerMethodName[];

/** The grpc-js implementation object: method name -> handler. */
export function deviceManagerService(opts: DeviceManagerServiceOptions): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const name of DEVICE_MANAGER_METHODS) {
    const method = METHODS[name] as Method<unknown>;
    impl[name] = unary(name, (caller, request) => method(opts.admin, caller, request), opts);
  }
  return impl;
}
