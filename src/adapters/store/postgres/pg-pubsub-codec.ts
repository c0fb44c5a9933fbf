import pg from 'pg';
import type { PsSnapshot } from '../../../domain/pubsub/pubsub-model.js';

/*
 * Rows of the PostgreSQL Pub/Sub store. The tables hold what the SQLite file holds (JSON text for
 * labels, the subscription document and bindings), so topics, subscriptions and policies decode
 * with the embedded store's codec and read back deep-equal to it; only snapshots differ, keeping
 * their acked seqs as a BIGINT[] rather than JSON text.
 */
export { decodeSubscription, decodeTopic, encodeSubscriptionDoc, normalizedAcks } from '../sqlite/pubsub-codec.js';
export type { SubscriptionRow, TopicRow } from '../sqlite/pubsub-codec.js';
export { decodeIam, type IamRow } from '../sqlite/codec.js';

const INT8 = 20;
const INT8_ARRAY = 1016;
const parseInt8Array = (pg.types.getTypeParser as (oid: number) => unknown)(INT8_ARRAY) as (text: string) => string[];

/**
 * Per-query type parsers (the pool may be shared with the registry store, which wants int8 as
 * strings): seqs and epoch-ms times are BIGINT columns the domain holds as numbers, all far below
 * 2^53, so they come back as numbers instead of the driver's default strings.
 */
export const PS_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8) return (text: string) => Number(text);
    if (oid === INT8_ARRAY) return (text: string) => parseInt8Array(text).map(Number);
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PgSnapshotRow {
  name: string;
  topic: string;
  expire_time: number;
  labels: string;
  ack_floor: number;
  acked: number[];
}

export const decodeSnapshot = (r: PgSnapshotRow): PsSnapshot => ({
  name: r.name,
  topic: r.topic,
  expireTime: r.expire_time,
  labels: JSON.parse(r.labels) as Record<string, string>,
  ackState: { floor: r.ack_floor, acked: r.acked },
});
