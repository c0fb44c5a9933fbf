import type { handleUnaryCall, Metadata, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ApiError, isApiError } from '../../domain/errors.js';
import type { ApiAuth, Principal } from '../../services/api-auth.js';
import type { CallDeadlines } from '../../services/call-deadlines.js';
import type { DeviceAdmin } from '../../services/device-admin.js';
import { grpcError } from './grpc-status.js';
import { MalformedRequest, type StatusCodec } from './protos.js';
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
 * deadlines, malformed messages and the error mapping are common to all, in `unary`.
 */

export interface DeviceManagerServiceOptions {
  admin: DeviceAdmin;
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
  for (const name of DEVICE_MANAGER_METHODS) impl[name] = unary(name, METHODS[name] as Method<unknown>, opts);
  return impl;
}

function unary(name: string, method: Method<unknown>, opts: DeviceManagerServiceOptions): handleUnaryCall<unknown, Message> {
  return (call: ServerUnaryCall<unknown, Message>, callback) => {
    const respond = async (): Promise<Message> => {
      const caller = await authenticate(call.metadata, opts);
      if (call.request instanceof MalformedRequest) {
        throw new ApiError('INVALID_ARGUMENT', `The request is not a valid ${name} request message: ${call.request.problem}.`, { reason: 'INVALID_BODY' });
      }
      const deadline = call.getDeadline();
      const limits = { deadline: deadline instanceof Date ? deadline.getTime() : deadline, cancelled: () => call.cancelled };
      // x-goog-request-params (the routing header gax sends) repeats names the message carries; the
      // message is authoritative, so the header is accepted and not read.
      return opts.deadlines.run(limits, () => method(opts.admin, caller, call.request));
    };
    respond().then(
      (message) => callback(null, message),
      (e: unknown) => {
        const error = isApiError(e) ? e : new ApiError('INTERNAL', 'Internal error.', { cause: e });
        if (error.kind === 'INTERNAL') opts.log.error({ err: e, method: name }, 'internal error in gRPC call');
        callback(grpcError(error, opts.codec));
      },
    );
  };
}

async function authenticate(metadata: Metadata, opts: DeviceManagerServiceOptions): Promise<Principal> {
  const values = metadata.get('authorization');
  const authorization = typeof values[0] === 'string' ? values[0] : undefined;
  if (authorization === undefined && opts.anonymousAsAdmin) return { kind: 'admin' };
  // Awaited: authentication may come to need I/O (service-account keys), and then be async.
  return await opts.auth.authenticate(authorization);
}
