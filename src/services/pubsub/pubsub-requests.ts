/**
 * google.pubsub.v1 request messages as every edge hands them to the Pub/Sub services: the shape
 * @grpc/proto-loader decodes (camelCase, int64 as decimal strings, bytes as Buffers/Uint8Arrays,
 * enums as names, no defaults filled in: an absent field is absent). Nothing here is trusted:
 * the services validate every field and answer INVALID_ARGUMENT naming it. Only the fields
 * Bridgehead acts on are listed; others are ignored (or refused where ignoring them would
 * surprise, which the services decide).
 */

export interface DurationMessage {
  seconds?: string | number;
  nanos?: number;
}

export type TimestampMessage = DurationMessage;

export interface FieldMaskMessage {
  paths?: string[];
}

export interface PubsubMessageInput {
  data?: Uint8Array;
  attributes?: Record<string, string>;
  /** Ignored on publish: the server assigns it. */
  messageId?: string;
  publishTime?: TimestampMessage;
  orderingKey?: string;
}

export interface TopicMessage {
  name?: string;
  labels?: Record<string, string>;
  messageRetentionDuration?: DurationMessage;
  kmsKeyName?: string;
  schemaSettings?: unknown;
  messageStoragePolicy?: unknown;
  ingestionDataSourceSettings?: unknown;
}

export interface UpdateTopicRequest {
  topic?: TopicMessage;
  updateMask?: FieldMaskMessage;
}

export interface PublishRequest {
  topic?: string;
  messages?: PubsubMessageInput[];
}

export interface ListRequest {
  pageSize?: number;
  pageToken?: string;
}

export interface ListTopicsRequest extends ListRequest {
  project?: string;
}

export interface ListTopicSubscriptionsRequest extends ListRequest {
  topic?: string;
}

export interface ListSubscriptionsRequest extends ListRequest {
  project?: string;
}

export interface ListSnapshotsRequest extends ListRequest {
  project?: string;
}

export interface PushConfigMessage {
  pushEndpoint?: string;
  attributes?: Record<string, string>;
  oidcToken?: { serviceAccountEmail?: string; audience?: string };
  pubsubWrapper?: unknown;
  noWrapper?: { writeMetadata?: boolean };
}

export interface SubscriptionMessage {
  name?: string;
  topic?: string;
  pushConfig?: PushConfigMessage;
  bigqueryConfig?: unknown;
  cloudStorageConfig?: unknown;
  ackDeadlineSeconds?: number;
  retainAckedMessages?: boolean;
  messageRetentionDuration?: DurationMessage;
  labels?: Record<string, string>;
  enableMessageOrdering?: boolean;
  expirationPolicy?: { ttl?: DurationMessage };
  filter?: string;
  deadLetterPolicy?: { deadLetterTopic?: string; maxDeliveryAttempts?: number };
  retryPolicy?: { minimumBackoff?: DurationMessage; maximumBackoff?: DurationMessage };
  detached?: boolean;
  enableExactlyOnceDelivery?: boolean;
}

export interface UpdateSubscriptionRequest {
  subscription?: SubscriptionMessage;
  updateMask?: FieldMaskMessage;
}

export interface ModifyAckDeadlineRequest {
  subscription?: string;
  ackIds?: string[];
  ackDeadlineSeconds?: number;
}

export interface AcknowledgeRequest {
  subscription?: string;
  ackIds?: string[];
}

export interface PullRequest {
  subscription?: string;
  returnImmediately?: boolean;
  maxMessages?: number;
}

/** The first request of a StreamingPull stream; later ones carry only acks and deadline changes. */
export interface StreamingPullRequest {
  subscription?: string;
  ackIds?: string[];
  modifyDeadlineSeconds?: number[];
  modifyDeadlineAckIds?: string[];
  streamAckDeadlineSeconds?: number;
  clientId?: string;
  maxOutstandingMessages?: string | number;
  maxOutstandingBytes?: string | number;
}

export interface ModifyPushConfigRequest {
  subscription?: string;
  pushConfig?: PushConfigMessage;
}

export interface CreateSnapshotRequest {
  name?: string;
  subscription?: string;
  labels?: Record<string, string>;
}

export interface UpdateSnapshotRequest {
  snapshot?: { name?: string; labels?: Record<string, string>; expireTime?: TimestampMessage };
  updateMask?: FieldMaskMessage;
}

export interface SeekRequest {
  subscription?: string;
  time?: TimestampMessage;
  snapshot?: string;
}

export interface SetIamPolicyRequest {
  resource?: string;
  policy?: { version?: number; bindings?: { role?: string; members?: string[]; condition?: unknown }[]; etag?: Uint8Array };
  updateMask?: FieldMaskMessage;
}

export interface TestIamPermissionsRequest {
  resource?: string;
  permissions?: string[];
}
