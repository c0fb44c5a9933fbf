import { DiscardPolicy, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ApiError } from '../../domain/errors.js';
import type { JetStreamNames } from './jetstream-names.js';

/**
 * Provisioning of the per-project streams the telemetry log lives in: created on first use by
 * whichever node gets there first, remembered once known to exist, forgotten when a publish finds
 * one gone (an operator deleted it) so that the next attempt creates it again.
 */

export interface StreamLimits {
  /** Replication factor (needs a clustered JetStream above 1). Default 1. */
  replicas?: number;
  /** Retention by age. Default 7 days, like --event-retention-hours. */
  maxAgeMs?: number;
  /** Per-stream size bound; -1 for none (default). Oldest messages go first. */
  maxBytes?: number;
  /** How long JetStream remembers a Nats-Msg-Id for deduplication. Default 120 s. */
  duplicateWindowMs?: number;
  storage?: 'file' | 'memory';
}

const DAY_MS = 24 * 60 * 60 * 1000;
const NS_PER_MS = 1_000_000;
/** JetStream API error codes (nats-server errors.json). */
const STREAM_NAME_IN_USE = 10058;
const STREAM_NOT_FOUND = 10059;

export const logUnavailable = (what: string, cause?: unknown): ApiError =>
  new ApiError('UNAVAILABLE', `The telemetry log is unavailable: ${what}; retry.`, { cause, reason: 'LOG_UNAVAILABLE' });

export function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === STREAM_NOT_FOUND;
}

export class JetStreamStreams {
  private readonly known = new Set<string>();
  private readonly creating = new Map<string, Promise<void>>();
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    readonly names: JetStreamNames,
    private readonly limits: StreamLimits = {},
    /** Bound of each JetStream API call. */
    private readonly timeoutMs = 5_000,
  ) {}

  /** The manager, made lazily: making it asks the server, which may be down at construction. */
  manager(): Promise<JetStreamManager> {
    this.jsm ??= jetstreamManager(this.nc, { timeout: this.timeoutMs, checkAPI: false }).catch((e: unknown) => {
      this.jsm = undefined;
      throw e;
    });
    return this.jsm;
  }

  config(project: string): Partial<StreamConfig> & { name: string } {
    return {
      name: this.names.streamOfProject(project),
      subjects: [this.names.projectSubjects(project)],
      num_replicas: this.limits.replicas ?? 1,
      max_age: Math.round((this.limits.maxAgeMs ?? 7 * DAY_MS) * NS_PER_MS),
      max_bytes: this.limits.maxBytes ?? -1,
      duplicate_window: Math.round((this.limits.duplicateWindowMs ?? 120_000) * NS_PER_MS),
      storage: this.limits.storage === 'memory' ? StorageType.Memory : StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
    };
  }

  /** True when the project's stream is known to exist; the caller then publishes without waiting. */
  isKnown(project: string): boolean {
    return this.known.has(project);
  }

  /**
   * Creates the project's stream unless known. Idempotent across nodes: JetStream accepts an
   * identical create, and a stream of that name with another configuration (an operator tuned
   * its limits) is used as it is.
   */
  ensure(project: string): Promise<void> {
    if (this.known.has(project)) return Promise.resolve();
    let p = this.creating.get(project);
    if (!p) {
      p = this.create(project).finally(() => this.creating.delete(project));
      this.creating.set(project, p);
    }
    return p;
  }

  /** A publish found no stream: create it again on the next attempt. */
  forget(project: string): void {
    this.known.delete(project);
  }

  private async create(project: string): Promise<void> {
    try {
      const jsm = await this.manager();
      await jsm.streams.add(this.config(project));
    } catch (e) {
      if (!(e instanceof JetStreamApiError && e.code === STREAM_NAME_IN_USE)) {
        throw logUnavailable(`cannot create the stream of project ${project} (${e instanceof Error ? e.message : String(e)})`, e);
      }
    }
    this.known.add(project);
  }
}
