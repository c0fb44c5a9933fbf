import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GrpcStreamProxy } from '../../../src/adapters/api-tls/grpc-stream-proxy.js';

/*
 * The proxy between a real grpc-js server (its connections injected, as the API TLS listener does)
 * and an HTTP/2 server, driven by a raw node:http2 client, so that every frame the client sends
 * and receives is the test's to choose: a bidi call whose server ends it after the first message.
 */

const frame = (text: string): Buffer => {
  const body = Buffer.from(text);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
};
const id = (b: Buffer): Buffer => b;

let grpcServer: grpc.Server;
let outer: Http2Server;
let client: ClientHttp2Session;
/** Outer streams the proxy got, and those whose response has closed (the proxy let go of them). */
let requests = 0;
let responsesClosed = 0;

before(async () => {
  grpcServer = new grpc.Server();
  grpcServer.addService(
    { Bidi: { path: '/t.S/Bidi', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
    {
      // Answers the first message, then ends the call while the client's side is still open.
      Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.once('data', () => {
          call.write(Buffer.from('reply'));
          call.emit('error', { code: grpc.status.NOT_FOUND, details: 'gone' });
        });
        call.on('error', () => undefined);
      },
    },
  );
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const proxy = new GrpcStreamProxy((pipe) => injector.injectConnection(pipe));
  outer = http2.createServer();
  outer.on('request', (req, res) => {
    requests++;
    res.on('close', () => responsesClosed++);
    proxy.forward(req, res);
  });
  outer.listen(0, '127.0.0.1');
  await once(outer, 'listening');
  client = http2.connect(`http://127.0.0.1:${(outer.address() as AddressInfo).port}`);
});

after(() => {
  client.destroy();
  outer.close();
  grpcServer.forceShutdown();
});

function bidi(): { stream: ClientHttp2Stream; data: Buffer[]; trailers: Promise<http2.IncomingHttpHeaders> } {
  const stream = client.request({ ':method': 'POST', ':path': '/t.S/Bidi', 'content-type': 'application/grpc', te: 'trailers' });
  const data: Buffer[] = [];
  stream.on('data', (d: Buffer) => data.push(d));
  stream.on('error', () => undefined);
  const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('trailers', resolve));
  return { stream, data, trailers };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(done(), `${what}: not within 2 s`);
}

describe('GrpcStreamProxy', () => {
  it('a call the server ends while the client keeps its side open: the messages, then the status, at once', async () => {
    const { stream, data, trailers } = bidi();
    stream.write(frame('first'));
    const t = await within(trailers, 2_000, 'trailers');
    assert.equal(t['grpc-status'], String(grpc.status.NOT_FOUND));
    assert.equal(t['grpc-message'], 'gone');
    assert.deepEqual(Buffer.concat(data), frame('reply'), 'the reply came before the status');
    stream.close();
  });

  it('what the client still sends after the status (acks in flight) is dropped, and its stream is let go of', async () => {
    await until(() => responsesClosed === requests, 'the earlier calls let go of');
    const before = responsesClosed;
    const calls = Array.from({ length: 5 }, () => bidi());
    for (const c of calls) c.stream.write(frame('first'));
    await within(Promise.all(calls.map((c) => c.trailers)), 2_000, 'trailers');
    for (const c of calls) {
      // Unread, these would hold the outer stream open until the connection closes.
      c.stream.write(frame('ack-1'));
      c.stream.write(Buffer.concat([frame('x'.repeat(100_000))]));
      c.stream.end();
    }
    await within(Promise.all(calls.map((c) => once(c.stream, 'close'))), 2_000, 'client streams closed');
    await until(() => responsesClosed - before === calls.length, 'every outer stream closed on the server');
  });
});
