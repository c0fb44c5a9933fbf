import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import type * as Protobuf from 'protobufjs';

/*
 * The cloudiot v1 protos, loaded from the packages that ship them (never copied into the tree):
 * `@google-cloud/iot` ships device_manager.proto and resources.proto; the google/api, google/iam,
 * google/type and google/rpc protos they import come with google-gax, its dependency, which also
 * decodes the error details clients receive.
 */

const require = createRequire(import.meta.url);
const IOT_PROTOS = join(dirname(require.resolve('@google-cloud/iot/package.json')), 'build', 'protos');
// google-gax's package exports hide package.json: its main module is build/src/index.js.
const GAX_PROTOS = join(dirname(dirname(dirname(createRequire(IOT_PROTOS).resolve('google-gax')))), 'build', 'protos');

/**
 * How requests are decoded for DeviceAdmin (src/services/device-manager-requests.ts): camelCase
 * names, enums as names (an unknown number stays a number, for the translation to refuse), int64 as
 * decimal strings, bytes as Buffers, and no defaults filled in: a field absent from the wire stays
 * absent. proto3 fields without `optional` have no presence, so "absent" also means "sent with its
 * default value"; the translation treats the two alike.
 */
const LOAD_OPTIONS: Options = { keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: false, arrays: false, oneofs: false };

/** A request whose bytes are not a valid message of the method's request type. */
export class MalformedRequest {
  constructor(readonly problem: string) {}
}

export type DeviceManagerDefinition = ServiceDefinition;

let cached: DeviceManagerDefinition | undefined;

/** The DeviceManager service definition for grpc-js, its decoders wrapped by `tolerant`. */
export function deviceManagerDefinition(): DeviceManagerDefinition {
  if (cached) return cached;
  const pkg = loadSync('google/cloud/iot/v1/device_manager.proto', { ...LOAD_OPTIONS, includeDirs: [IOT_PROTOS, GAX_PROTOS] });
  cached = tolerant(pkg['google.cloud.iot.v1.DeviceManager'] as ServiceDefinition);
  return cached;
}

/*
 * google.pubsub.v1 from `@google-cloud/pubsub`, whose own google-gax brings the google/api and
 * google/iam protos it imports; IAMPolicy (google.iam.v1) is the service its clients call for
 * topic and subscription policies.
 */
const PUBSUB_PROTOS = join(dirname(require.resolve('@google-cloud/pubsub/package.json')), 'build', 'protos');
const PUBSUB_GAX_PROTOS = join(dirname(dirname(dirname(createRequire(PUBSUB_PROTOS).resolve('google-gax')))), 'build', 'protos');
/** Where pubsub.proto and what it imports are found; the CLI's client loads them from here too. */
export const PUBSUB_PROTO_DIRS: readonly string[] = [PUBSUB_PROTOS, PUBSUB_GAX_PROTOS];

export interface PubSubDefinitions {
  publisher: ServiceDefinition;
  subscriber: ServiceDefinition;
  iamPolicy: ServiceDefinition;
}

let cachedPubSub: PubSubDefinitions | undefined;

/** Publisher, Subscriber and IAMPolicy for grpc-js, decoded with LOAD_OPTIONS (src/services/pubsub/pubsub-requests.ts). */
export function pubSubDefinitions(): PubSubDefinitions {
  if (cachedPubSub) return cachedPubSub;
  const pkg = loadSync(['google/pubsub/v1/pubsub.proto', 'google/iam/v1/iam_policy.proto'], {
    ...LOAD_OPTIONS,
    includeDirs: [...PUBSUB_PROTO_DIRS],
  });
  cachedPubSub = {
    publisher: tolerant(pkg['google.pubsub.v1.Publisher'] as ServiceDefinition),
    subscriber: tolerant(pkg['google.pubsub.v1.Subscriber'] as ServiceDefinition),
    iamPolicy: tolerant(pkg['google.iam.v1.IAMPolicy'] as ServiceDefinition),
  };
  return cachedPubSub;
}

/**
 * Each method's request decoder wrapped so that malformed bytes reach the handler as a
 * MalformedRequest (answered INVALID_ARGUMENT), where grpc-js would answer INTERNAL, which is our
 * fault, not the caller's.
 */
function tolerant(service: ServiceDefinition): ServiceDefinition {
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service as Record<string, MethodDefinition<unknown, unknown>>)) {
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (e) {
          return new MalformedRequest(e instanceof Error ? e.message : String(e));
        }
      },
    };
  }
  return out;
}

/** What goes into `grpc-status-details-bin`: a google.rpc.Status with typed details. */
export interface StatusCodec {
  encode(status: { code: number; message: string; details: { typeName: string; value: Record<string, unknown> }[] }): Buffer;
}

/**
 * google.rpc.Status, BadRequest and ErrorInfo encoded with protobufjs, the codec proto-loader uses
 * (resolved through it: it is proto-loader's dependency, not ours), from the status definitions
 * google-gax decodes them with.
 */
export function statusCodec(): StatusCodec {
  const protobuf = createRequire(require.resolve('@grpc/proto-loader'))('protobufjs') as typeof Protobuf;
  const root = new protobuf.Root();
  // google/protobuf/* resolve to protobufjs's bundled copies whatever the directory.
  root.resolvePath = (_origin, target) => join(GAX_PROTOS, target);
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto']);
  const statusType = root.lookupType('google.rpc.Status');
  return {
    encode(status) {
      const details = status.details.map(({ typeName, value }) => {
        const type = root.lookupType(typeName);
        // protobufjs's bundled google.protobuf.Any keeps the proto's snake_case field names.
        return { type_url: `type.googleapis.com/${typeName}`, value: type.encode(type.fromObject(value)).finish() };
      });
      return Buffer.from(statusType.encode(statusType.fromObject({ code: status.code, message: status.message, details })).finish());
    },
  };
}
