/**
 * Telemetry of one turn of the event loop (the packets of its socket reads), packed column-wise
 * into ONE ArrayBuffer, with the topics and attribute sets that repeat from message to message
 * kept once each in small tables: a sink that hands batches to another thread transfers the
 * buffer and clones a handful of strings, instead of cloning an object per message.
 *
 * Layout of `buffer` for n messages: publishTimes f64[n] | payload ends u32[n] | topic index
 * u32[n] | attributes index u32[n] | the payloads back to back.
 */
export interface PackedTelemetry {
  readonly count: number;
  readonly topics: readonly string[];
  /** Distinct attribute sets (by identity: the bridges reuse one object per device and subfolder). */
  readonly attributes: readonly Readonly<Record<string, string>>[];
  readonly buffer: ArrayBuffer;
}

export interface TelemetryColumns {
  publishTimes: Float64Array;
  /** Payload i is bytes[ends[i-1] (0 for i = 0) .. ends[i]). */
  ends: Uint32Array;
  topicIndex: Uint32Array;
  attributesIndex: Uint32Array;
  bytes: Uint8Array;
}

/** Views of a packed batch's columns (nothing copied). */
export function columnsOf(p: { readonly count: number; readonly buffer: ArrayBuffer }): TelemetryColumns {
  const n = p.count;
  return {
    publishTimes: new Float64Array(p.buffer, 0, n),
    ends: new Uint32Array(p.buffer, 8 * n, n),
    topicIndex: new Uint32Array(p.buffer, 12 * n, n),
    attributesIndex: new Uint32Array(p.buffer, 16 * n, n),
    bytes: new Uint8Array(p.buffer, 20 * n),
  };
}

/** A table scanned up to this size; past it, looked up through a Map. */
const SCAN_LIMIT = 16;

/**
 * Where in a table `value` is; added at the end when absent. A run of one device's messages finds
 * it at `last`; the tables are mostly small (a turn's Pub/Sub topics), and below SCAN_LIMIT a scan
 * beats hashing.
 */
export function indexIn<T>(table: T[], index: Map<T, number> | undefined, value: T, last: number): number {
  if (last < table.length && table[last] === value) return last;
  if (index !== undefined) {
    const i = index.get(value);
    if (i !== undefined) return i;
    index.set(value, table.length);
  } else {
    for (let i = 0; i < table.length; i++) if (table[i] === value) return i;
  }
  table.push(value);
  return table.length - 1;
}

function indexOf<T>(table: readonly T[]): Map<T, number> | undefined {
  return table.length < SCAN_LIMIT ? undefined : new Map(table.map((v, i) => [v, i]));
}

/**
 * Collects messages, then packs them (`finish`). The payloads are only referenced until then:
 * the one copy of each is the one into the packed buffer.
 */
export class TelemetryPacker {
  private topics: string[] = [];
  private attributes: Readonly<Record<string, string>>[] = [];
  private topicIndex: number[] = [];
  private attributesIndex: number[] = [];
  private publishTimes: number[] = [];
  private data: Uint8Array[] = [];
  private bytes = 0;
  private lastTopic = 0;
  private lastAttributes = 0;
  private topicMap: Map<string, number> | undefined;
  private attributesMap: Map<Readonly<Record<string, string>>, number> | undefined;

  get count(): number {
    return this.data.length;
  }

  add(topic: string, attributes: Readonly<Record<string, string>>, data: Uint8Array, publishTime: number): void {
    if (this.topics.length === SCAN_LIMIT && this.topicMap === undefined) this.topicMap = indexOf(this.topics);
    if (this.attributes.length === SCAN_LIMIT && this.attributesMap === undefined) this.attributesMap = indexOf(this.attributes);
    this.lastTopic = indexIn(this.topics, this.topicMap, topic, this.lastTopic);
    this.lastAttributes = indexIn(this.attributes, this.attributesMap, attributes, this.lastAttributes);
    this.topicIndex.push(this.lastTopic);
    this.attributesIndex.push(this.lastAttributes);
    this.publishTimes.push(publishTime);
    this.data.push(data);
    this.bytes += data.byteLength;
  }

  /** The batch so far, packed; the packer starts empty again. */
  finish(): PackedTelemetry {
    const n = this.data.length;
    const buffer = new ArrayBuffer(20 * n + this.bytes);
    const times = new Float64Array(buffer, 0, n);
    const ends = new Uint32Array(buffer, 8 * n, n);
    const topicIndex = new Uint32Array(buffer, 12 * n, n);
    const attributesIndex = new Uint32Array(buffer, 16 * n, n);
    const bytes = new Uint8Array(buffer, 20 * n);
    let at = 0;
    for (let i = 0; i < n; i++) {
      const d = this.data[i]!;
      bytes.set(d, at);
      at += d.byteLength;
      ends[i] = at;
      times[i] = this.publishTimes[i]!;
      topicIndex[i] = this.topicIndex[i]!;
      attributesIndex[i] = this.attributesIndex[i]!;
    }
    const packed: PackedTelemetry = { count: n, topics: this.topics, attributes: this.attributes, buffer };
    this.topics = [];
    this.attributes = [];
    this.topicMap = undefined;
    this.attributesMap = undefined;
    // The column arrays are emptied in place: they keep their capacity for the next batch.
    this.topicIndex.length = 0;
    this.attributesIndex.length = 0;
    this.publishTimes.length = 0;
    this.data.length = 0;
    this.bytes = 0;
    this.lastTopic = 0;
    this.lastAttributes = 0;
    return packed;
  }
}
