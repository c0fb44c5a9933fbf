import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ApiError } from '../../src/domain/errors.js';
import type { Bus, BusEvent, BusReply } from '../../src/services/ports.js';

/**
 * Two nodes' views of one bus: for the in-process bus both are the same object; a networked bus
 * gives two clients of one server. Everything here must hold across the two.
 */
export interface BusUnderTest {
  a: Bus;
  b: Bus;
  close(): Promise<void>;
}

const command = (numId: string) => ({ type: 'deliver-command' as const, numId, subfolder: 'x', data: new Uint8Array([0, 1, 255]) });
const delivered: BusReply = { type: 'command-outcome', outcome: 'delivered' };

/** Resolves with the first `n` events a subscriber sees. */
function collect(bus: Bus, n: number): Promise<BusEvent[]> {
  return new Promise((resolve) => {
    const seen: BusEvent[] = [];
    const stop = bus.subscribe((e) => {
      seen.push(e);
      if (seen.length === n) {
        stop();
        resolve(seen);
      }
    });
  });
}

async function rejectsWithReason(p: Promise<unknown>, kind: string, reason: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof ApiError && e.kind === kind && e.reason === reason);
}

export function busContract(name: string, make: () => Promise<BusUnderTest>): void {
  describe(`Bus contract: ${name}`, () => {
    let open: BusUnderTest[] = [];
    afterEach(async () => {
      for (const b of open) await b.close();
      open = [];
    });
    const fresh = async (): Promise<BusUnderTest> => {
      const b = await make();
      open.push(b);
      return b;
    };

    it('an event reaches subscribers on both nodes, in publish order, never inline', async () => {
      const { a, b } = await fresh();
      const onA = collect(a, 3);
      const onB = collect(b, 3);
      let inline = false;
      const stop = a.subscribe(() => {
        inline = inline || !published;
      });
      let published = false;
      const p = a.publish({ type: 'device-blocked', numId: '1' });
      published = true;
      await p;
      await a.publish({ type: 'config-updated', numId: '1', version: 2 });
      await a.publish({ type: 'registry-changed', registryName: 'projects/p/locations/l/registries/r' });
      const expected = [
        { type: 'device-blocked', numId: '1' },
        { type: 'config-updated', numId: '1', version: 2 },
        { type: 'registry-changed', registryName: 'projects/p/locations/l/registries/r' },
      ];
      assert.deepEqual(await onA, expected);
      assert.deepEqual(await onB, expected);
      assert.equal(inline, false, 'a handler ran inside publish');
      stop();
    });

    it('unsubscribed handlers get nothing; a throwing handler does not stop the others', async () => {
      const { a, b } = await fresh();
      let removed = 0;
      const stop = b.subscribe(() => removed++);
      stop();
      b.subscribe(() => {
        throw new Error('handler bug');
      });
      const later = collect(b, 1);
      await a.publish({ type: 'device-deleted', numId: '7' });
      assert.deepEqual(await later, [{ type: 'device-deleted', numId: '7' }]);
      assert.equal(removed, 0);
    });

    it('subscribers get their own copy of an event', async () => {
      const { a, b } = await fresh();
      const first = new Promise<BusEvent>((resolve) => {
        b.subscribe((e) => {
          if (e.type === 'device-unbound') (e as { numId: string }).numId = 'changed';
          resolve(e);
        });
      });
      const second = collect(b, 1);
      const event: BusEvent = { type: 'device-unbound', numId: '5', gatewayNumId: '6' };
      await a.publish(event);
      await first;
      assert.deepEqual(await second, [{ type: 'device-unbound', numId: '5', gatewayNumId: '6' }]);
      assert.equal(event.numId, '5');
    });

    it('a request reaches the responder of its address on the other node and its reply comes back', async () => {
      const { a, b } = await fresh();
      const seen: unknown[] = [];
      b.respond('node-b', async (r) => {
        seen.push(r);
        return delivered;
      });
      assert.deepEqual(await a.request('node-b', command('9'), 1000), delivered);
      assert.deepEqual(seen, [command('9')]);
      assert.ok((seen[0] as { data: unknown }).data instanceof Uint8Array, 'bytes must arrive as bytes');
    });

    it('no responder: UNAVAILABLE (BUS_NO_RESPONDER); after stop: the same', async () => {
      const { a, b } = await fresh();
      await rejectsWithReason(a.request('nobody', command('1'), 1000), 'UNAVAILABLE', 'BUS_NO_RESPONDER');
      const stop = b.respond('node-b', async () => delivered);
      assert.deepEqual(await a.request('node-b', command('1'), 1000), delivered);
      stop();
      await rejectsWithReason(a.request('node-b', command('1'), 1000), 'UNAVAILABLE', 'BUS_NO_RESPONDER');
    });

    it('a responder slower than the timeout: DEADLINE_EXCEEDED (BUS_TIMEOUT), in about the timeout', async () => {
      const { a, b } = await fresh();
      let release: () => void = () => undefined;
      b.respond('slow', () => new Promise<BusReply>((resolve) => (release = () => resolve(delivered))));
      const started = Date.now();
      await rejectsWithReason(a.request('slow', command('1'), 100), 'DEADLINE_EXCEEDED', 'BUS_TIMEOUT');
      const took = Date.now() - started;
      assert.ok(took >= 90 && took < 2000, `timed out after ${took} ms`);
      release();
    });

    it("a responder's ApiError arrives with its kind and reason", async () => {
      const { a, b } = await fresh();
      b.respond('picky', async () => {
        throw new ApiError('FAILED_PRECONDITION', 'Device "d" is not connected.', { reason: 'DEVICE_NOT_CONNECTED' });
      });
      await rejectsWithReason(a.request('picky', command('1'), 1000), 'FAILED_PRECONDITION', 'DEVICE_NOT_CONNECTED');
    });

    it('one responder per address', async () => {
      const { a, b } = await fresh();
      b.respond('once', async () => delivered);
      assert.throws(() => a.respond('once', async () => delivered));
    });
  });
}
