import { snakeToCamel } from '../../domain/field-mask.js';
import { ENUM_NUMBERS } from '../../domain/model.js';

/**
 * The request messages of the Device Manager API as proto3 JSON sees them: one table per proto
 * message (google/cloud/iot/v1/resources.proto, device_manager.proto, google/iam/v1), each field
 * with its JSON type. Output-only fields are listed too: a client may send them back (a fetched
 * device, patched), so they are known and type-checked, then ignored by the readers.
 * proto-json-check.ts checks a body against these tables (docs/compat.md C-JSON-STRICT).
 */

export type ScalarType =
  | 'string'
  | 'bool'
  | 'int32'
  | 'int64'
  | 'uint64'
  | 'bytes'
  | 'timestamp'
  /** google.protobuf.FieldMask: comma-separated paths in one string. */
  | 'field_mask'
  /** A string ID or a numId as a JSON number (spec §3.9: bind accepts either). */
  | 'device_ref';

export type FieldType =
  | { readonly kind: 'scalar'; readonly scalar: ScalarType }
  | { readonly kind: 'enum'; readonly values: Readonly<Record<string, number>> }
  | { readonly kind: 'message'; readonly message: ProtoMessage }
  /** map<string, string>: user keys, never renamed. */
  | { readonly kind: 'string_map' }
  /** google.protobuf.Any: an object naming its type in "@type"; its other members belong to that type. */
  | { readonly kind: 'any' };

export interface ProtoField {
  /** The proto (snake_case) name, used in error paths. */
  readonly name: string;
  /** The lowerCamelCase JSON name, used in what the readers see. */
  readonly jsonName: string;
  readonly type: FieldType;
  readonly repeated: boolean;
}

export interface ProtoMessage {
  readonly name: string;
  /** Each field under both its spellings. A Map, so that `constructor` or `__proto__` is never found by inheritance. */
  readonly fields: ReadonlyMap<string, ProtoField>;
}

interface FieldDecl {
  type: FieldType;
  repeated: boolean;
}

const scalar = (s: ScalarType): FieldDecl => ({ type: { kind: 'scalar', scalar: s }, repeated: false });
const enumOf = (values: Readonly<Record<string, number>>): FieldDecl => ({ type: { kind: 'enum', values }, repeated: false });
const msg = (message: ProtoMessage): FieldDecl => ({ type: { kind: 'message', message }, repeated: false });
const repeated = (d: FieldDecl): FieldDecl => ({ ...d, repeated: true });

const STRING = scalar('string');
const BOOL = scalar('bool');
const INT32 = scalar('int32');
const INT64 = scalar('int64');
const UINT64 = scalar('uint64');
const BYTES = scalar('bytes');
const TIMESTAMP = scalar('timestamp');
const STRING_MAP: FieldDecl = { type: { kind: 'string_map' }, repeated: false };
const ANY: FieldDecl = { type: { kind: 'any' }, repeated: false };

function message(name: string, decls: Record<string, FieldDecl>): ProtoMessage {
  const fields = new Map<string, ProtoField>();
  for (const [protoName, d] of Object.entries(decls)) {
    const field: ProtoField = { name: protoName, jsonName: snakeToCamel(protoName), type: d.type, repeated: d.repeated };
    fields.set(protoName, field);
    fields.set(field.jsonName, field);
  }
  return { name, fields };
}

const E = ENUM_NUMBERS;

// ---- google.rpc, google.type ----

const STATUS = message('google.rpc.Status', { code: INT32, message: STRING, details: repeated(ANY) });
const EXPR = message('google.type.Expr', { expression: STRING, title: STRING, description: STRING, location: STRING });

// ---- google.cloud.iot.v1 resources ----

const X509_DETAILS = message('google.cloud.iot.v1.X509CertificateDetails', {
  issuer: STRING,
  subject: STRING,
  start_time: TIMESTAMP,
  expiry_time: TIMESTAMP,
  signature_algorithm: STRING,
  public_key_type: STRING,
});

const PUBLIC_KEY_CERTIFICATE = message('google.cloud.iot.v1.PublicKeyCertificate', {
  format: enumOf(E.CertificateFormat!),
  certificate: STRING,
  x509_details: msg(X509_DETAILS),
});

export const DEVICE_REGISTRY = message('google.cloud.iot.v1.DeviceRegistry', {
  id: STRING,
  name: STRING,
  event_notification_configs: repeated(
    msg(message('google.cloud.iot.v1.EventNotificationConfig', { subfolder_matches: STRING, pubsub_topic_name: STRING })),
  ),
  state_notification_config: msg(message('google.cloud.iot.v1.StateNotificationConfig', { pubsub_topic_name: STRING })),
  mqtt_config: msg(message('google.cloud.iot.v1.MqttConfig', { mqtt_enabled_state: enumOf(E.MqttState!) })),
  http_config: msg(message('google.cloud.iot.v1.HttpConfig', { http_enabled_state: enumOf(E.HttpState!) })),
  log_level: enumOf(E.LogLevel!),
  credentials: repeated(msg(message('google.cloud.iot.v1.RegistryCredential', { public_key_certificate: msg(PUBLIC_KEY_CERTIFICATE) }))),
});

const DEVICE_CREDENTIAL = message('google.cloud.iot.v1.DeviceCredential', {
  public_key: msg(message('google.cloud.iot.v1.PublicKeyCredential', { format: enumOf(E.PublicKeyFormat!), key: STRING })),
  expiration_time: TIMESTAMP,
});

export const DEVICE = message('google.cloud.iot.v1.Device', {
  id: STRING,
  name: STRING,
  num_id: UINT64,
  credentials: repeated(msg(DEVICE_CREDENTIAL)),
  last_heartbeat_time: TIMESTAMP,
  last_event_time: TIMESTAMP,
  last_state_time: TIMESTAMP,
  last_config_ack_time: TIMESTAMP,
  last_config_send_time: TIMESTAMP,
  blocked: BOOL,
  last_error_time: TIMESTAMP,
  last_error_status: msg(STATUS),
  config: msg(
    message('google.cloud.iot.v1.DeviceConfig', { version: INT64, cloud_update_time: TIMESTAMP, device_ack_time: TIMESTAMP, binary_data: BYTES }),
  ),
  state: msg(message('google.cloud.iot.v1.DeviceState', { update_time: TIMESTAMP, binary_data: BYTES })),
  log_level: enumOf(E.LogLevel!),
  metadata: STRING_MAP,
  gateway_config: msg(
    message('google.cloud.iot.v1.GatewayConfig', {
      gateway_type: enumOf(E.GatewayType!),
      gateway_auth_method: enumOf(E.GatewayAuthMethod!),
      last_accessed_gateway_id: STRING,
      last_accessed_gateway_time: TIMESTAMP,
    }),
  ),
});

// ---- google.cloud.iot.v1 requests whose HTTP body is "*" (path fields may be repeated in it) ----

export const MODIFY_CLOUD_TO_DEVICE_CONFIG_REQUEST = message('google.cloud.iot.v1.ModifyCloudToDeviceConfigRequest', {
  name: STRING,
  version_to_update: INT64,
  binary_data: BYTES,
});

export const SEND_COMMAND_TO_DEVICE_REQUEST = message('google.cloud.iot.v1.SendCommandToDeviceRequest', {
  name: STRING,
  binary_data: BYTES,
  subfolder: STRING,
});

export const BIND_DEVICE_TO_GATEWAY_REQUEST = message('google.cloud.iot.v1.BindDeviceToGatewayRequest', {
  parent: STRING,
  gateway_id: scalar('device_ref'),
  device_id: scalar('device_ref'),
});

export const UNBIND_DEVICE_FROM_GATEWAY_REQUEST = message('google.cloud.iot.v1.UnbindDeviceFromGatewayRequest', {
  parent: STRING,
  gateway_id: scalar('device_ref'),
  device_id: scalar('device_ref'),
});

// ---- google.iam.v1 ----

const AUDIT_LOG_TYPES = { LOG_TYPE_UNSPECIFIED: 0, ADMIN_READ: 1, DATA_WRITE: 2, DATA_READ: 3 };

const POLICY = message('google.iam.v1.Policy', {
  version: INT32,
  bindings: repeated(msg(message('google.iam.v1.Binding', { role: STRING, members: repeated(STRING), condition: msg(EXPR) }))),
  audit_configs: repeated(
    msg(
      message('google.iam.v1.AuditConfig', {
        service: STRING,
        audit_log_configs: repeated(
          msg(message('google.iam.v1.AuditLogConfig', { log_type: enumOf(AUDIT_LOG_TYPES), exempted_members: repeated(STRING) })),
        ),
      }),
    ),
  ),
  etag: BYTES,
});

export const SET_IAM_POLICY_REQUEST = message('google.iam.v1.SetIamPolicyRequest', {
  resource: STRING,
  policy: msg(POLICY),
  update_mask: scalar('field_mask'),
});

export const GET_IAM_POLICY_REQUEST = message('google.iam.v1.GetIamPolicyRequest', {
  resource: STRING,
  options: msg(message('google.iam.v1.GetPolicyOptions', { requested_policy_version: INT32 })),
});

export const TEST_IAM_PERMISSIONS_REQUEST = message('google.iam.v1.TestIamPermissionsRequest', {
  resource: STRING,
  permissions: repeated(STRING),
});

// ---- google.cloud.iot.v1 device API (cloudiotdevice.googleapis.com, the HTTP bridge, spec §7) ----

const GATEWAY_INFO = message('google.cloud.iot.v1.GatewayInfo', { gateway_id: STRING, delegated_device_id: STRING });

export const PUBLISH_DEVICE_EVENT_REQUEST = message('google.cloud.iot.v1.PublishDeviceEventRequest', {
  name: STRING,
  binary_data: BYTES,
  sub_folder: STRING,
  gateway_info: msg(GATEWAY_INFO),
});

export const SET_DEVICE_STATE_REQUEST = message('google.cloud.iot.v1.SetDeviceStateRequest', {
  name: STRING,
  state: msg(message('google.cloud.iot.v1.DeviceState', { update_time: TIMESTAMP, binary_data: BYTES })),
  gateway_info: msg(GATEWAY_INFO),
});
