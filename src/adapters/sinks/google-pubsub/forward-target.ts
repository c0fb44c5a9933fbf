/** A message as it is republished: the local message's data and attributes, and the ordering key chosen for it. */
export interface ForwardedMessage {
  data: Uint8Array;
  attributes: Record<string, string>;
  /** '' = unordered. */
  orderingKey: string;
}

/** Where a forwarded topic's messages go: a Google Pub/Sub topic (or a stand-in speaking its API). */
export interface ForwardTarget {
  /** Resolves once the target acknowledged the message (with its message ID there). */
  publish(message: ForwardedMessage): Promise<string>;
  /** After a failed publish of `orderingKey`: lets later messages of that key be published again. */
  resume(orderingKey: string): void;
  close(): Promise<void>;
}
