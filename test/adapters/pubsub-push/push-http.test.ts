import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { HttpPushPoster } from '../../../src/adapters/pubsub-push/push-http.js';

/** HttpPushPoster against real loopback endpoints: what holds a socket, and for how long. */

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
});

async function endpoint(handle: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handle(res));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`;
}

const post = (poster: HttpPushPoster, url: string, timeoutMs: number) => poster.post({ url, body: '{}', headers: { 'content-type': 'application/json' }, timeoutMs });

describe('HttpPushPoster', () => {
  it('an endpoint that answers 200 but never ends its body gives its socket back at the deadline', async () => {
    const poster = new HttpPushPoster(1);
    try {
      const hung = await endpoint((res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
      });
      const healthy = await endpoint((res) => res.end('ok'));
      // The status decides at once: an acknowledgement.
      assert.deepEqual(await post(poster, hung, 300), { kind: 'status', status: 200 });
      // The one socket is the hung body's until its deadline; then the next push gets it.
      const started = Date.now();
      assert.deepEqual(await post(poster, healthy, 2_000), { kind: 'status', status: 200 });
      assert.ok(Date.now() - started < 1_500, `the healthy push waited ${Date.now() - started} ms`);
    } finally {
      poster.close();
    }
  });

  it('a response read to its end leaves the socket for the next push at once; no answer at all is a timeout', async () => {
    const poster = new HttpPushPoster(1);
    try {
      const ok = await endpoint((res) => res.end('x'.repeat(100_000)));
      const silent = await endpoint(() => undefined);
      for (let i = 0; i < 3; i++) assert.deepEqual(await post(poster, ok, 1_000), { kind: 'status', status: 200 });
      assert.deepEqual(await post(poster, silent, 200), { kind: 'timeout' });
      assert.deepEqual(await post(poster, ok, 1_000), { kind: 'status', status: 200 });
    } finally {
      poster.close();
    }
  });
});
