import type { DialSpec } from './connection.js';
import type { ConfigTrigger } from './jobs.js';

/** A running MQTT server under test, as the benchmark sees it. */
export interface BenchTarget {
  readonly name: 'Bridgehead' | 'Mosquitto' | 'Node floor';
  /** Version line for the facts table. */
  readonly version: string;
  /** Process whose RSS and CPU time are sampled. */
  readonly pid: number;
  readonly tls: DialSpec;
  readonly plain: DialSpec;
  /** Registers devices 1..count (no-op for brokers without a registry). */
  provision(count: number): Promise<void>;
  /** How a config update reaches a device on this target. */
  configTrigger(): ConfigTrigger;
  /**
   * The admin REST API and the bench registry's path under it (Bridgehead only): for what
   * provision() does not cover, such as gateways and their bindings.
   */
  readonly admin?: { api: string; token: string; registryPath: string };
  /** True when the config row measures the real API (false: an MQTT analogue). */
  readonly configIsApi: boolean;
  /**
   * Asks the server for a full garbage collection before a memory sample and returns its heap
   * figures after it (Bridgehead with the bench's GC hook); null when there is no collector to ask.
   */
  collectGarbage(): Promise<HeapStats | null>;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its temporary files; idempotent. */
  stop(): Promise<void>;
  /** Anything the server wrote to stderr (for the report when something looks wrong). */
  stderr(): string;
}

/** A Node server's heap right after a full GC (bytes). */
export interface HeapStats {
  /** Committed young generation: empty after the GC, so only capacity grown by past allocation. */
  newSpace: number;
  /** Live JS objects. */
  heapUsed: number;
  /** Committed V8 heap, all spaces. */
  heapTotal: number;
  /** Memory of C++ objects bound to JS objects, as V8 is told of it. */
  external: number;
}
