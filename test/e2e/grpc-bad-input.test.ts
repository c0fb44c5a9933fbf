import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { deviceManagerDefinition } from '../../src/adapters/grpc/protos.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * Bad input on the gRPC listeners (plaintext without --grpc-anonymous, and the TLS port): missing
 * credentials, unknown methods, malformed and oversized messages, expired deadlines, a thousand
 * concurrent calls and HTTP/2 floods. Each gets its gRPC status or a closed connection, nothing is
 * half-written, memory stays bounded, and the server keeps serving.
 */

const DEFS = deviceManagerDefinition();
const LOC = 'projects/proj-bad/locations/us-central1';
const REG = `${LOC}/registries/reg-bad`;

type Raw = Client & Record<string, (req: object, md: Metadata, opts: { deadline?: number }, cb: (e: ServiceError | null, res?: Record<string, unknown>) => void) => unknown>;

/** A frame of the gRPC wire: uncompressed flag, big-endian length, message. */
function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** An HTTP/2 frame (RFC 9113 §4.1), for what no client library will send. */
function h2Frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const SETTINGS = 0x4;
const PING = 0x6;
const HEADERS = 0x1;
const RST_STREAM = 0x3;

/** HPACK (RFC 7541) header block: :method POST, :scheme http, :path (literal), content-type application/grpc (literal). */
function grpcHeaderBlock(path: string): Buffer {
  const literal = (nameIndex: number, value: string): Buffer => Buffer.concat([Buffer.from([nameIndex < 15 ? nameIndex : 0x0f, ...(nameIndex < 15 ? [] : [nameIndex - 15])]), Buffer.from([value.length]), Buffer.from(value)]);
  return Buffer.concat([Buffer.from([0x83, 0x86]), literal(4, path), literal(31, 'application/grpc')]);
}

function vmRssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('gRPC bad input', () => {
  let server: StartedServer;
  let grpcTarget: string;
  let tlsPort: number;
  let client: Raw;
  const auth = (token?: string): Metadata => {
    const m = new Metadata();
    m.set('authorization', `Bearer ${token ?? server.token}`);
    return m;
  };
  const call = (method: string, req: object, md: Metadata = auth(), opts: { deadline?: number } = {}): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => client[method]!(req, md, opts, (e, res) => (e ? reject(e) : resolve(res ?? {}))));
  const rejectsWith = async (p: Promise<unknown>, code: status, reason?: string): Promise<ServiceError> => {
    try {
      await p;
    } catch (e) {
      const err = e as ServiceError;
      assert.equal(err.code, code, err.message);
      if (reason !== undefined) assert.deepEqual(err.metadata.get('x-bridgehead-error-reason'), [reason]);
      return err;
    }
    assert.fail(`expected status ${code}, but the call succeeded`);
  };

  before(async () => {
    server = await startServer({ args: ['--grpc-listen', '127.0.0.1:0', '--api-tls-listen', '127.0.0.1:0'] });
    grpcTarget = new URL(String(server.info.grpc)).host;
    tlsPort = Number(new URL(String(server.info.apiTls)).port);
    const Ctor = makeGenericClientConstructor(DEFS, 'DeviceManager');
    client = new Ctor(grpcTarget, credentials.createInsecure()) as Raw;
    assert.equal((await api(server, 'POST', `/v1/${LOC}/registries`, { id: 'reg-bad' })).status, 200);
  });
  after(async () => {
    client.close();
    await server.cleanup();
  });

  /** A fresh HTTP/2 connection to the plaintext gRPC listener. */
  const session = (): ClientHttp2Session => h2connect(`http://${grpcTarget}`);

  function h2(s: ClientHttp2Session, headers: OutgoingHttpHeaders, body: Buffer): Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const stream = s.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let responseHeaders: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      stream.on('response', (h) => (responseHeaders = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', () => undefined);
      stream.on('end', () => resolve({ headers: responseHeaders, trailers }));
      stream.on('error', reject);
      stream.end(body);
    });
  }
  /** The gRPC status of a raw response: from the trailers, or the headers of a trailers-only one. */
  const statusOf = (r: { headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders }): string | undefined =>
    (r.trailers['grpc-status'] ?? r.headers['grpc-status']) as string | undefined;
  const reasonOf = (r: { headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders }): unknown => r.trailers['x-bridgehead-error-reason'] ?? r.headers['x-bridgehead-error-reason'];

  it('without --grpc-anonymous the plaintext listener wants a bearer token, as REST does', async () => {
    await rejectsWith(call('GetDeviceRegistry', { name: REG }, new Metadata()), status.UNAUTHENTICATED, 'CREDENTIALS_MISSING');
    await rejectsWith(call('GetDeviceRegistry', { name: REG }, auth('wrong-token-wrong-token-wrong')), status.UNAUTHENTICATED, 'CREDENTIALS_INVALID');
    assert.equal((await call('GetDeviceRegistry', { name: REG })).id, 'reg-bad');
  });

  it('unknown methods and services: UNIMPLEMENTED', async () => {
    for (const path of ['/google.cloud.iot.v1.DeviceManager/NoSuchMethod', '/google.cloud.iot.v1.DeviceGroups/ListGroups', '/grpc.health.v1.Health/Check']) {
      const err = await new Promise<ServiceError>((resolve) =>
        client.makeUnaryRequest(path, (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), auth(), (e) => resolve(e!)),
      );
      assert.equal(err.code, status.UNIMPLEMENTED, path);
    }
  });

  it('malformed protobuf: INVALID_ARGUMENT (INVALID_BODY), and the connection goes on serving', async () => {
    const s = session();
    try {
      const path = DEFS.CreateDeviceRegistry!.path;
      const headers = { ':path': path, authorization: `Bearer ${server.token}` };
      // Field 2 claims 16 bytes and brings 3; a bare invalid wire type; a truncated varint.
      for (const junk of [[0x12, 0x10, 1, 2, 3], [0x0f], [0x08, 0xff]]) {
        const r = await h2(s, headers, grpcFrame(Buffer.from(junk)));
        assert.equal(statusOf(r), '3', JSON.stringify(junk));
        assert.equal(reasonOf(r), 'INVALID_BODY');
      }
      // A frame cut short (declares 100 bytes, ends after 3): an error, not a hang.
      const cut = await h2(s, headers, Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.from([1, 2, 3])]));
      assert.notEqual(statusOf(cut), '0');
      // Without credentials the message is not even looked at.
      assert.equal(statusOf(await h2(s, { ':path': path }, grpcFrame(Buffer.from([0x0f])))), '16');
      const ok = await h2(s, { ':path': DEFS.GetDeviceRegistry!.path, authorization: `Bearer ${server.token}` }, grpcFrame(DEFS.GetDeviceRegistry!.requestSerialize({ name: REG })));
      assert.equal(statusOf(ok), '0');
    } finally {
      s.close();
    }
  });

  it('oversized messages: RESOURCE_EXHAUSTED before any work, nothing written', async () => {
    await call('CreateDevice', { parent: REG, device: { id: 'dev-big' } });
    const name = `${REG}/devices/dev-big`;
    // Past apiBodyLimitBytes (2 MiB) on both listeners.
    await rejectsWith(call('ModifyCloudToDeviceConfig', { name, binaryData: Buffer.alloc(3 * 1024 * 1024, 1) }), status.RESOURCE_EXHAUSTED);
    const versions = await call('ListDeviceConfigVersions', { name });
    assert.deepEqual((versions.deviceConfigs as { version: string }[]).map((c) => c.version), ['1']);
  });

  it('a call whose deadline has passed writes nothing', async () => {
    const s = session();
    try {
      // grpc-timeout 0: the deadline is the moment the call arrives, so it has passed by the time any
      // write could start. (A client library would not even send a call already past its deadline.)
      const r = await h2(
        s,
        { ':path': DEFS.CreateDeviceRegistry!.path, authorization: `Bearer ${server.token}`, 'grpc-timeout': '0n' },
        grpcFrame(DEFS.CreateDeviceRegistry!.requestSerialize({ parent: LOC, deviceRegistry: { id: 'reg-too-late' } })),
      );
      assert.equal(statusOf(r), String(status.DEADLINE_EXCEEDED));
    } finally {
      s.close();
    }
    assert.equal((await api(server, 'GET', `/v1/${LOC}/registries/reg-too-late`)).status, 404);
    // Through the client library: a deadline in the past fails the call, and nothing is created.
    await rejectsWith(call('CreateDeviceRegistry', { parent: LOC, deviceRegistry: { id: 'reg-late-2' } }, auth(), { deadline: Date.now() - 1 }), status.DEADLINE_EXCEEDED);
    assert.equal((await api(server, 'GET', `/v1/${LOC}/registries/reg-late-2`)).status, 404);
  });

  it('a thousand concurrent calls on one connection all complete', async () => {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        i % 10 === 0 ? call('CreateDevice', { parent: REG, device: { id: `dev-c-${String(i).padStart(4, '0')}` } }) : call('GetDeviceRegistry', { name: REG }),
      ),
    );
    assert.equal(results.filter((r) => r.id === 'reg-bad').length, 900);
    const listed = await call('ListDevices', { parent: REG, pageSize: 500 });
    assert.equal((listed.devices as { id: string }[]).filter((d) => d.id.startsWith('dev-c-')).length, 100);
  });

  describe('HTTP/2 floods: the connection is closed, memory stays bounded, the server keeps serving', () => {
    /** A raw HTTP/2 connection (preface and SETTINGS sent) to the plaintext listener or the TLS port. */
    async function rawConnection(secure: boolean): Promise<Socket> {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = secure
          ? tlsConnect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost', ca: readFileSync(server.info.caFile), ALPNProtocols: ['h2'] }, () => resolve(s))
          : netConnect(Number(grpcTarget.split(':')[1]), '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
      socket.on('error', () => undefined);
      socket.write(Buffer.concat([PREFACE, h2Frame(SETTINGS, 0, 0)]));
      return socket;
    }

    /**
     * The control: a few of the flood's frames are fine, the connection stays up (a PING sent after
     * them is answered). Without it, a flood test would also pass on frames the server finds malformed.
     */
    async function stillServes(socket: Socket, frames: Buffer): Promise<void> {
      const marker = Buffer.from('control!');
      const answered = new Promise<void>((resolve, reject) => {
        let seen = Buffer.alloc(0);
        const onData = (d: Buffer): void => {
          seen = Buffer.concat([seen, d]);
          if (seen.includes(Buffer.concat([Buffer.from([PING, 0x1, 0, 0, 0, 0]), marker]))) {
            socket.off('data', onData);
            resolve();
          }
        };
        socket.on('data', onData);
        socket.once('close', () => reject(new Error('the server closed the connection after a handful of frames')));
      });
      socket.write(Buffer.concat([frames, h2Frame(PING, 0, 0, marker)]));
      await answered;
      // From here on nothing is read: acknowledgements the server owes pile up on its side.
      socket.pause();
    }

    /**
     * Writes `frame(i)` for i = `from`, … (respecting backpressure) until the server closes the
     * connection; fails if it is still open after `max` frames.
     */
    async function floodUntilClosed(socket: Socket, frame: (i: number) => Buffer, from: number, max: number): Promise<number> {
      let closed = false;
      socket.once('close', () => (closed = true));
      let i = from;
      while (!closed && i < max) {
        const batch = Buffer.concat(Array.from({ length: 1000 }, () => frame(i++)));
        if (!socket.write(batch)) await new Promise<void>((resolve) => socket.once('drain', resolve).once('close', resolve));
      }
      if (!closed) await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      return i;
    }

    const floods: [string, (i: number) => Buffer][] = [
      ['SETTINGS', () => h2Frame(SETTINGS, 0, 0)],
      ['PING', () => h2Frame(PING, 0, 0, Buffer.alloc(8))],
      // CVE-2023-44487: open a gRPC stream and reset it at once, over and over.
      ['rapid reset', (i) => Buffer.concat([h2Frame(HEADERS, 0x4, 2 * i + 1, grpcHeaderBlock(DEFS.GetDevice!.path)), h2Frame(RST_STREAM, 0, 2 * i + 1, Buffer.from([0, 0, 0, 8]))])],
    ];
    for (const secure of [false, true]) {
      for (const [name, frame] of floods) {
        it(`${name} flood on the ${secure ? 'TLS port' : 'plaintext listener'}`, { timeout: 60_000 }, async (t) => {
          const rssBefore = vmRssKb(server.process.pid!);
          const socket = await rawConnection(secure);
          await stillServes(socket, Buffer.concat(Array.from({ length: 10 }, (_, i) => frame(i))));
          const sent = await floodUntilClosed(socket, frame, 10, 2_000_000);
          assert.ok(sent < 2_000_000, `still open after ${sent} frames`);
          const grownMb = (vmRssKb(server.process.pid!) - rssBefore) / 1024;
          assert.ok(grownMb < 128, `the server grew by ${grownMb.toFixed(0)} MiB`);
          t.diagnostic(`closed after ${sent} frames; server RSS ${grownMb >= 0 ? '+' : ''}${grownMb.toFixed(1)} MiB`);
          assert.equal((await call('GetDeviceRegistry', { name: REG })).id, 'reg-bad');
        });
      }
    }
  });
});
