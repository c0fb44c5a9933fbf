import type { handleBidiStreamingCall, ServerDuplexStream, StatusObject } from '@grpc/grpc-js';
import type { ApiError } from '../../domain/errors.js';
import { messageBytes } from '../../domain/pubsub/delivery-rules.js';
import type { ReceivedMessage, StreamingPullSession, StreamingPullSink, SubscriberApi } from '../../services/pubsub/pubsub-api.js';
import type { StreamingPullRequest } from '../../services/pubsub/pubsub-requests.js';
import { authenticate, checkedRequest, codeName, methodOf, statusOf, type GrpcCallOptions } from './grpc-calls.js';
import { grpcError } from './grpc-status.js';
import { receivedMessageProto } from './pubsub-messages.js';
import type { Message } from './resource-messages.js';

/**
 * Subscriber.StreamingPull: one bidirectional stream per consumer. The first request opens a
 * session of the subscription engine (through SubscriberApi, which authorizes and validates it);
 * later requests (acks, deadline changes, keepalives) go to the session. The engine writes through
 * the sink, and stops when the stream's write buffer is full until it has half drained: a
 * subscriber that does not read costs the server its HTTP/2 window and that buffer, not a growing
 * queue. Whatever ends the stream (the client's half-close or cancel, an error, the engine's end)
 * closes the session once.
 */

const METHOD = 'StreamingPull';

/**
 * The write buffer, in bytes of messages written and not yet taken by HTTP/2. Not grpc-js's own
 * high-water mark of 16 responses: the engine writes one message per response, so that one paused
 * every stream a few dozen messages into any backlog, and the engine handed the rest of each
 * fetched batch back to JetStream with a delay; a drain then crawled in 2 s steps (issue 12).
 */
export const STREAM_BUFFER_BYTES = 256 * 1024;
/** Per message written, beyond its data, attributes and ack ID: IDs, timestamps, protobuf framing. */
const MESSAGE_OVERHEAD_BYTES = 64;

type Stream = ServerDuplexStream<unknown, Message>;

export function streamingPull(subscriber: SubscriberApi, opts: GrpcCallOptions): handleBidiStreamingCall<unknown, Message> {
  return (call: Stream) => new PullStream(call, subscriber, opts).start();
}

class PullStream implements StreamingPullSink {
  private session: StreamingPullSession | undefined;
  /** Requests that came while the session was opening, handed to it once open. */
  private early: StreamingPullRequest[] | undefined = [];
  private opened = false;
  /** Messages the engine delivered before `open` resolved. */
  private readonly heldBack: ReceivedMessage[] = [];
  private done = false;
  /** Bytes written that HTTP/2 has not taken yet; the engine waits while `full`. */
  private buffered = 0;
  private full = false;

  constructor(
    private readonly call: Stream,
    private readonly subscriber: SubscriberApi,
    private readonly opts: GrpcCallOptions,
  ) {}

  start(): void {
    const call = this.call;
    call.on('data', (request: unknown) => this.onRequest(request));
    // The client half-closed: it wants no more messages; the stream ends OK.
    call.on('end', () => this.finish(null));
    // Cancelled by the client, its deadline, or a broken connection: grpc-js destroys the stream.
    call.on('cancelled', () => this.finish(undefined));
    call.on('close', () => this.finish(undefined));
    call.on('error', () => this.finish(undefined));
  }

  private onRequest(raw: unknown): void {
    if (this.done) return;
    try {
      const request = checkedRequest(METHOD, raw) as StreamingPullRequest;
      if (!this.opened) {
        this.opened = true;
        this.open(request);
      } else if (this.early) this.early.push(request);
      else this.session!.request(request);
    } catch (e) {
      this.finish(statusOf(e, METHOD, this.opts));
    }
  }

  private open(first: StreamingPullRequest): void {
    const deadline = this.call.getDeadline();
    const limits = { deadline: deadline instanceof Date ? deadline.getTime() : deadline, cancelled: () => this.call.cancelled };
    const opening = async (): Promise<StreamingPullSession> => {
      const caller = await authenticate(this.call.metadata, this.opts);
      return this.opts.deadlines.run(limits, () => this.subscriber.streamingPull(caller, first, this));
    };
    opening().then(
      (session) => {
        if (this.done) {
          // The stream went away while the session was opening.
          session.close();
          return;
        }
        this.session = session;
        const early = this.early ?? [];
        this.early = undefined;
        try {
          for (const request of early) session.request(request);
        } catch (e) {
          this.finish(statusOf(e, METHOD, this.opts));
          return;
        }
        const held = this.heldBack.splice(0);
        // Written at once; the engine resumes now, or once HTTP/2 took half the buffer if that filled it.
        if (held.length && this.deliver(held)) session.resume();
      },
      (e: unknown) => this.finish(statusOf(e, METHOD, this.opts)),
    );
  }

  deliver(messages: ReceivedMessage[]): boolean {
    if (this.done || this.call.destroyed || this.call.writableEnded) return false;
    if (this.session === undefined) {
      // Delivered while the session opens: held (and the engine paused) until its settings are
      // known, since every response states the subscription's ordering.
      this.heldBack.push(...messages);
      return false;
    }
    let bytes = 0;
    for (const m of messages) bytes += messageBytes(m.message) + m.ackId.length + m.message.orderingKey.length + MESSAGE_OVERHEAD_BYTES;
    this.buffered += bytes;
    if (this.buffered >= STREAM_BUFFER_BYTES) this.full = true;
    this.call.write(
      {
        receivedMessages: messages.map(receivedMessageProto),
        subscriptionProperties: { messageOrderingEnabled: this.session?.messageOrderingEnabled === true },
      },
      () => this.taken(bytes),
    );
    return !this.full;
  }

  /** HTTP/2 took a response (grpc-js never calls back for a call already cancelled, which closed the session). */
  private taken(bytes: number): void {
    this.buffered -= bytes;
    if (!this.full || this.buffered > STREAM_BUFFER_BYTES / 2) return;
    this.full = false;
    this.session?.resume();
  }

  end(error: ApiError): void {
    this.finish(grpcError(error, this.opts.codec));
  }

  /**
   * Ends the stream once: with `status` (null = OK), or not at all when the stream is already gone
   * (undefined), and closes the session.
   */
  private finish(status: StatusObject | null | undefined): void {
    if (this.done) return;
    this.done = true;
    // A stream's length is the subscriber's choice: counted by how it ended, its duration not observed.
    this.opts.observer?.apiCall('grpc', methodOf(this.call), status === null ? 'OK' : status === undefined ? 'CANCELLED' : codeName(status.code), undefined);
    this.early = undefined;
    this.session?.close();
    this.session = undefined;
    const call = this.call;
    if (status === undefined || call.destroyed || call.writableEnded) return;
    // grpc-js sends an 'error' event's status as the call's final status.
    if (status === null) call.end();
    else call.emit('error', status);
  }
}
