import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatsBus, type BusStatus } from '../../../src/adapters/bus/nats-bus.js';
import { decodeRequest, encodeRequest } from '../../../src/adapters/bus/nats-bus-wire.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { BusEvent, BusReply } from '../../../src/services/ports.js';
import { busContract } from '../../contracts/bus.contract.js';
import { startNats, type TestNats } from '../../support/nats.js';
import { freePort } from '../../support/pubsub.js';

let nats: TestNats;
let prefixes = 0;
/** A prefix per test, so nothing one test left on the server reaches the next. */
const freshPrefix = (): string => `t${process.pid}x${prefixes++}`;

before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats.cleanup();
});

busContract('NatsBus (two clients of one nats-server)', async () => {
  const prefix = freshPrefix();
  const a = await NatsBus.connect({ servers: nats.url, prefix, name: 'a' });
  const b = await NatsBus.connect({ servers: nats.url, prefix, name: 'b' });
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
    },
  };
});

/** The statuses a bus reported, and a way to wait for the next one wanted. */
class StatusLog {
  readonly seen: BusStatus[] = [];
  private waiters: { want: BusStatus; resolve: () => void }[] = [];
  readonly listener = (s: BusStatus): void => {
    this.seen.push(s);
    const ready = this.waiters.filter((w) => w.want === s);
    this.waiters = this.waiters.filter((w) => w.want !== s);
    for (const w of ready) w.resolve();
  };
  /** Resolves when the bus next reports `want` (now, if `current` says it already has). */
  next(want: BusStatus, current?: () => boolean): Promise<void> {
    if (current?.()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ want, resolve }));
  }
}

const command = { type: 'deliver-command' as const, numId: '1', subfolder: 'x', data: new Uint8Array([0, 1, 255]) };
const delivered: BusReply = { type: 'command-outcome', outcome: 'delivered' };

function firstEvent(bus: NatsBus): Promise<BusEvent> {
  return new Promise((resolve) => {
    const stop = bus.subscribe((e) => {
      stop();
      resolve(e);
    });
  });
}

describe('NatsBus wire format', () => {
  it('a request frame round-trips any bytes, empty included, and refuses truncated frames', () => {
    for (const data of [new Uint8Array(), new Uint8Array([0, 10, 13, 255]), new Uint8Array(70_000).fill(7)]) {
      const r = { type: 'deliver-command' as const, numId: '12', subfolder: 'a/b ü', data };
      const back = decodeRequest(encodeRequest(r));
      assert.equal(back.type, 'deliver-command');
      assert.deepEqual({ ...back, data: back.type === 'deliver-command' ? [...back.data] : [] }, { ...r, data: [...data] });
    }
    const query = { type: 'gateway-errors' as const, numId: '42' };
    assert.deepEqual(decodeRequest(encodeRequest(query)), query);
    const frame = encodeRequest(command);
    assert.throws(() => decodeRequest(frame.subarray(0, 8)));
    assert.throws(() => decodeRequest(new Uint8Array([2, 0, 0, 0, 0])));
  });
});

describe('NatsBus connection faults', () => {
  it('no server at the address: connect fails with UNAVAILABLE within its timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    await assert.rejects(
      NatsBus.connect({ servers: `nats://127.0.0.1:${port}`, connectTimeoutMs: 1000 }),
      (e: unknown) => e instanceof ApiError && e.kind === 'UNAVAILABLE',
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('nats-server killed and restarted: the same clients deliver events and requests again, and report it (a gap to each subscriber, once its subscription is back)', async () => {
    const prefix = freshPrefix();
    const statusA = new StatusLog();
    const statusB = new StatusLog();
    const a = await NatsBus.connect({ servers: nats.url, prefix, onStatus: statusA.listener });
    const b = await NatsBus.connect({ servers: nats.url, prefix, onStatus: statusB.listener });
    let gapsB = 0;
    let gapsRemoved = 0;
    const gapOnB = new Promise<void>((resolve) =>
      b.subscribe(
        () => {},
        () => {
          gapsB++;
          resolve();
        },
      ),
    );
    b.subscribe(
      () => {},
      () => gapsRemoved++,
    )();
    try {
      b.respond('node-b', async () => delivered);
      assert.deepEqual(await a.request('node-b', command, 2000), delivered);

      await nats.stop('kill');
      await Promise.all([statusA.next('disconnected', () => !a.isConnected()), statusB.next('disconnected', () => !b.isConnected())]);
      assert.equal(a.isConnected(), false);
      const started = Date.now();
      await assert.rejects(a.request('node-b', command, 5000), (e: unknown) => e instanceof ApiError && e.kind === 'UNAVAILABLE');
      assert.ok(Date.now() - started < 1000, 'a request while disconnected fails at once, not after its timeout');
      // Buffered while down, and sent after the client's own subscriptions on reconnect.
      const own = firstEvent(a);
      await a.publish({ type: 'device-blocked', numId: 'while-down' });

      await nats.start();
      await Promise.all([statusA.next('connected', () => a.isConnected()), statusB.next('connected', () => b.isConnected())]);
      assert.deepEqual(await own, { type: 'device-blocked', numId: 'while-down' });
      // Both clients' subscriptions are back on the server once each has flushed.
      await a.flush();
      await b.flush();
      assert.deepEqual(await a.request('node-b', command, 2000), delivered);
      const onB = firstEvent(b);
      await a.publish({ type: 'device-deleted', numId: '2' });
      assert.deepEqual(await onB, { type: 'device-deleted', numId: '2' });
      assert.ok(statusA.seen.includes('disconnected') && statusA.seen.at(-1) === 'connected', `statuses: ${statusA.seen.join(',')}`);
      await gapOnB;
      assert.equal(gapsB, 1, 'one gap reported per reconnect');
      assert.equal(gapsRemoved, 0, 'an unsubscribed handler is not told of gaps');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('publish while disconnected buffers a bounded amount, then refuses with UNAVAILABLE', async () => {
    const status = new StatusLog();
    const a = await NatsBus.connect({ servers: nats.url, prefix: freshPrefix(), onStatus: status.listener, maxBufferedBytes: 2000 });
    try {
      await nats.stop('kill');
      await status.next('disconnected', () => !a.isConnected());
      let accepted = 0;
      let refused: unknown;
      for (let i = 0; i < 1000 && refused === undefined; i++) {
        try {
          await a.publish({ type: 'registry-changed', registryName: `projects/p/locations/l/registries/r-${i}` });
          accepted++;
        } catch (e) {
          refused = e;
        }
      }
      assert.ok(refused instanceof ApiError && refused.kind === 'UNAVAILABLE', `refused: ${String(refused)}`);
      assert.ok(accepted > 10 && accepted < 60, `accepted ${accepted} events of ~70 bytes into 2000 bytes`);
    } finally {
      await nats.start();
      await a.close();
    }
  });
});
