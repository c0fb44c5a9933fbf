import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Principal } from '../../services/api-auth.js';
import type { PublisherApi, PubSubIamApi, SubscriberApi } from '../../services/pubsub/pubsub-api.js';
import type * as Req from '../../services/pubsub/pubsub-requests.js';
import { unary, type GrpcCallOptions, type UnaryMethod } from './grpc-calls.js';
import { listProto, receivedMessageProto, snapshotProto, subscriptionProto, topicProto } from './pubsub-messages.js';
import { streamingPull } from './pubsub-streaming-pull.js';
import { policyProto, type Message } from './resource-messages.js';

/**
 * google.pubsub.v1 Publisher and Subscriber, and google.iam.v1.IAMPolicy for their resources, over
 * gRPC: each handler only translates the request message for the Pub/Sub services
 * (src/services/pubsub/pubsub-api.ts) and renders their domain result as the response message.
 * Authentication, deadlines, malformed messages and errors are those of every gRPC service
 * (./grpc-calls.ts); StreamingPull has its own file.
 */

export interface PubSubServiceOptions extends GrpcCallOptions {
  publisher: PublisherApi;
  subscriber: SubscriberApi;
  iam: PubSubIamApi;
}

const EMPTY: Message = {};

type Handler<Api, R> = (api: Api, caller: Principal, request: R, call: Parameters<UnaryMethod>[2]) => Promise<Message>;

const PUBLISHER = {
  CreateTopic: async (a, c, r: Req.TopicMessage) => topicProto(await a.createTopic(c, r)),
  UpdateTopic: async (a, c, r: Req.UpdateTopicRequest) => topicProto(await a.updateTopic(c, r)),
  Publish: async (a, c, r: Req.PublishRequest) => ({ messageIds: await a.publish(c, r) }),
  GetTopic: async (a, c, r: { topic?: string }) => topicProto(await a.getTopic(c, r)),
  ListTopics: async (a, c, r: Req.ListTopicsRequest) => listProto('topics', await a.listTopics(c, r), topicProto),
  ListTopicSubscriptions: async (a, c, r: Req.ListTopicSubscriptionsRequest) => listProto('subscriptions', await a.listTopicSubscriptions(c, r), (s) => s),
  ListTopicSnapshots: async (a, c, r: Req.ListTopicSubscriptionsRequest) => listProto('snapshots', await a.listTopicSnapshots(c, r), (s) => s),
  DeleteTopic: async (a, c, r: { topic?: string }) => {
    await a.deleteTopic(c, r);
    return EMPTY;
  },
  DetachSubscription: async (a, c, r: { subscription?: string }) => {
    await a.detachSubscription(c, r);
    return EMPTY;
  },
} satisfies Record<string, Handler<PublisherApi, never>>;

const SUBSCRIBER = {
  CreateSubscription: async (a, c, r: Req.SubscriptionMessage) => subscriptionProto(await a.createSubscription(c, r)),
  GetSubscription: async (a, c, r: { subscription?: string }) => subscriptionProto(await a.getSubscription(c, r)),
  UpdateSubscription: async (a, c, r: Req.UpdateSubscriptionRequest) => subscriptionProto(await a.updateSubscription(c, r)),
  ListSubscriptions: async (a, c, r: Req.ListSubscriptionsRequest) => listProto('subscriptions', await a.listSubscriptions(c, r), subscriptionProto),
  DeleteSubscription: async (a, c, r: { subscription?: string }) => {
    await a.deleteSubscription(c, r);
    return EMPTY;
  },
  ModifyAckDeadline: async (a, c, r: Req.ModifyAckDeadlineRequest) => {
    await a.modifyAckDeadline(c, r);
    return EMPTY;
  },
  Acknowledge: async (a, c, r: Req.AcknowledgeRequest) => {
    await a.acknowledge(c, r);
    return EMPTY;
  },
  Pull: async (a, c, r: Req.PullRequest, call) => {
    // A caller that gives up (cancel, deadline) stops the wait rather than leaving it to time out.
    const abort = new AbortController();
    const onCancel = (): void => abort.abort();
    call.once('cancelled', onCancel);
    try {
      const received = await a.pull(c, r, abort.signal);
      return received.length ? { receivedMessages: received.map(receivedMessageProto) } : EMPTY;
    } finally {
      call.off('cancelled', onCancel);
    }
  },
  ModifyPushConfig: async (a, c, r: Req.ModifyPushConfigRequest) => {
    await a.modifyPushConfig(c, r);
    return EMPTY;
  },
  GetSnapshot: async (a, c, r: { snapshot?: string }) => snapshotProto(await a.getSnapshot(c, r)),
  ListSnapshots: async (a, c, r: Req.ListSnapshotsRequest) => listProto('snapshots', await a.listSnapshots(c, r), snapshotProto),
  CreateSnapshot: async (a, c, r: Req.CreateSnapshotRequest) => snapshotProto(await a.createSnapshot(c, r)),
  UpdateSnapshot: async (a, c, r: Req.UpdateSnapshotRequest) => snapshotProto(await a.updateSnapshot(c, r)),
  DeleteSnapshot: async (a, c, r: { snapshot?: string }) => {
    await a.deleteSnapshot(c, r);
    return EMPTY;
  },
  Seek: async (a, c, r: Req.SeekRequest) => {
    await a.seek(c, r);
    return EMPTY;
  },
} satisfies Record<string, Handler<SubscriberApi, never>>;

const IAM_POLICY = {
  SetIamPolicy: async (a, c, r: Req.SetIamPolicyRequest) => policyProto(await a.setIamPolicy(c, r)),
  // GetIamPolicyRequest.options (requested policy version) changes nothing: no conditions are kept.
  GetIamPolicy: async (a, c, r: { resource?: string }) => policyProto(await a.getIamPolicy(c, r)),
  TestIamPermissions: async (a, c, r: Req.TestIamPermissionsRequest) => {
    const granted = await a.testIamPermissions(c, r);
    return granted.length ? { permissions: granted } : EMPTY;
  },
} satisfies Record<string, Handler<PubSubIamApi, never>>;

function implementation<Api>(api: Api, handlers: Record<string, Handler<Api, never>>, opts: GrpcCallOptions): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const method = handler as Handler<Api, unknown>;
    impl[name] = unary(name, (caller, request, call) => method(api, caller, request, call), opts);
  }
  return impl;
}

export interface PubSubImplementations {
  publisher: UntypedServiceImplementation;
  subscriber: UntypedServiceImplementation;
  iamPolicy: UntypedServiceImplementation;
}

/** The grpc-js implementation objects of the three services. */
export function pubSubServices(opts: PubSubServiceOptions): PubSubImplementations {
  return {
    publisher: implementation(opts.publisher, PUBLISHER, opts),
    subscriber: { ...implementation(opts.subscriber, SUBSCRIBER, opts), StreamingPull: streamingPull(opts.subscriber, opts) },
    iamPolicy: implementation(opts.iam, IAM_POLICY, opts),
  };
}
