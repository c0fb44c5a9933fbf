import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { registerProcessMetrics } from '../../src/observability/process-metrics.js';

const value = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

describe('process metrics (docs/compat.md C-METRICS-PROCESS)', () => {
  test('the per-handle counts are not served; the heap, CPU and event-loop figures are', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry, 'bh_');
    const text = await registry.metrics();
    assert.doesNotMatch(text, /^bh_nodejs_active_(handles|resources)/m);
    for (const name of ['bh_nodejs_heap_size_used_bytes', 'bh_process_cpu_seconds_total', 'bh_process_resident_memory_bytes', 'bh_nodejs_eventloop_lag_seconds']) {
      assert.ok(value(text, name) >= 0, `${name} served`);
    }
  });

  test('open file descriptors are still counted, and follow sockets opening and closing', { skip: process.platform !== 'linux' && 'counted from /proc/self/fd' }, async () => {
    const registry = new Registry();
    registerProcessMetrics(registry, 'bh_');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const before = value(await registry.metrics(), 'bh_process_open_fds');
    const sockets: Socket[] = [];
    let accepted = 0;
    server.on('connection', () => accepted++);
    for (let i = 0; i < 50; i++) sockets.push(connect(port, '127.0.0.1'));
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.once('connect', resolve))));
    while (accepted < 50) await new Promise((resolve) => setImmediate(resolve));
    // 50 client ends and 50 server ends, give or take what the rest of the process opened meanwhile.
    const during = value(await registry.metrics(), 'bh_process_open_fds');
    assert.ok(during - before >= 95 && during - before <= 110, `open fds went from ${before} to ${during}`);
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const after = value(await registry.metrics(), 'bh_process_open_fds');
    assert.ok(after - before <= 5, `open fds back from ${during} to ${after} (before: ${before})`);
  });
});
