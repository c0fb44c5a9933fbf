import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { deviceManagerDefinition } from '../../src/adapters/grpc/protos.js';
import { iotGrpcTlsClient, type DeviceManagerClient } from '../support/iot-client.js';
import { api, startServer, type StartedServer } from '../support/server.js';
import { deviceManagerScenario } from './device-manager-scenario.js';

/**
 * The Device Manager scenario through @google-cloud/iot in gRPC mode on `--api-tls-listen`: TLS
 * trusting the server's CA (the `listening` line names it), the admin token as the bearer.
 */
describe('Device Manager API through @google-cloud/iot over gRPC (TLS port, bearer token)', () => {
  let server: StartedServer;
  let client: DeviceManagerClient;

  before(async () => {
    server = await startServer({ args: ['--api-tls-listen', '127.0.0.1:0'] });
    client = iotGrpcTlsClient(server);
  });
  after(async () => {
    await client.close();
    await server.cleanup();
  });

  deviceManagerScenario(() => ({ client, clientWithToken: (token) => iotGrpcTlsClient(server, token) }), { requiresCredentials: true });
});

/** A gRPC frame: uncompressed flag, 4-byte big-endian length, the message. */
const grpcFrame = (message: Buffer): Buffer => Buffer.concat([Buffer.from([0]), Buffer.from(new Uint32Array([message.length]).buffer).reverse(), message]);

describe('one TLS port for gRPC and REST, chosen by ALPN and content type', () => {
  let server: StartedServer;
  let ca: Buffer;
  let port: number;
  const LOC = 'projects/proj-tls/locations/us-central1';

  before(async () => {
    server = await startServer({ args: ['--api-tls-listen', '127.0.0.1:0'] });
    ca = readFileSync(server.info.caFile);
    port = Number(new URL(String(server.info.apiTls)).port);
    const created = await api(server, 'POST', `/v1/${LOC}/registries`, { id: 'reg-tls' });
    assert.equal(created.status, 200);
  });
  after(async () => {
    await server.cleanup();
  });

  /**
   * One HTTP/1.1 request over TLS, offering `alpn` (Node's https offers none by default); resolves
   * to the status, the protocol the server chose and the body.
   */
  function https1(path: string, headers: Record<string, string> = {}, alpn?: string[]): Promise<{ status: number; alpn: string | false | null; body: string }> {
    return new Promise((resolve, reject) => {
      const agent = new HttpsAgent({ ca, ...(alpn ? { ALPNProtocols: alpn } : {}) });
      const req = httpsRequest({ host: 'localhost', port, path, headers, agent }, (res) => {
        const chosen = (res.socket as TLSSocket).alpnProtocol;
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          agent.destroy();
          resolve({ status: res.statusCode ?? 0, alpn: chosen, body });
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** One HTTP/2 request on `session`; resolves to the response headers, the body and the trailers. */
  function h2(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<{ headers: IncomingHttpHeaders; body: Buffer; trailers: IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      const stream = session.request(headers);
      let responseHeaders: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (responseHeaders = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('end', () => resolve({ headers: responseHeaders, body: Buffer.concat(chunks), trailers }));
      stream.on('error', reject);
      stream.end(body);
    });
  }

  it('REST over HTTP/1.1: the API behind the token, /healthz open, /metrics not served on this port', async () => {
    for (const alpn of [undefined, ['http/1.1']]) {
      const list = await https1(`/v1/${LOC}/registries`, { authorization: `Bearer ${server.token}` }, alpn);
      assert.equal(list.alpn, alpn ? 'http/1.1' : false);
      assert.equal(list.status, 200);
      assert.deepEqual((JSON.parse(list.body) as { deviceRegistries: { id: string }[] }).deviceRegistries.map((r) => r.id), ['reg-tls']);
    }
    assert.equal((await https1(`/v1/${LOC}/registries`)).status, 401);
    assert.equal((await https1('/healthz')).status, 200);
    assert.equal((await https1('/metrics')).status, 404);
    assert.equal((await fetch(`${server.api}/metrics`)).status, 200, 'the admin listener still serves metrics');
  });

  it('REST and gRPC side by side on one HTTP/2 connection, told apart by content type', async () => {
    const session = connect(`https://localhost:${port}`, { ca });
    try {
      const auth = { authorization: `Bearer ${server.token}` };
      const rest = await h2(session, { ':method': 'GET', ':path': `/v1/${LOC}/registries/reg-tls`, ...auth });
      assert.equal(rest.headers[':status'], 200);
      assert.equal((JSON.parse(rest.body.toString()) as { id: string }).id, 'reg-tls');
      assert.equal((session.socket as TLSSocket).alpnProtocol, 'h2');

      const getRegistry = deviceManagerDefinition().GetDeviceRegistry!;
      const rpc = await h2(
        session,
        { ':method': 'POST', ':path': getRegistry.path, 'content-type': 'application/grpc', te: 'trailers', ...auth },
        grpcFrame(getRegistry.requestSerialize({ name: `${LOC}/registries/reg-tls` })),
      );
      assert.equal(rpc.headers['content-type'], 'application/grpc+proto');
      assert.equal(rpc.trailers['grpc-status'], '0');
      assert.deepEqual(getRegistry.responseDeserialize(rpc.body.subarray(5)), { id: 'reg-tls', name: `${LOC}/registries/reg-tls` });

      // A REST error over HTTP/2 (the JSON parser asks for `connection: close`, which HTTP/2 has no use for).
      const bad = await h2(session, { ':method': 'POST', ':path': `/v1/${LOC}/registries`, 'content-type': 'application/json', ...auth }, '{not json');
      assert.equal(bad.headers[':status'], 400);
      assert.equal(bad.headers['x-bridgehead-error-reason'], 'INVALID_BODY');
      // A gRPC error over the same connection: the status and details arrive as trailers.
      const missing = await h2(
        session,
        { ':method': 'POST', ':path': getRegistry.path, 'content-type': 'application/grpc', te: 'trailers', ...auth },
        grpcFrame(getRegistry.requestSerialize({ name: `${LOC}/registries/nope` })),
      );
      assert.equal(missing.trailers['grpc-status'], '5');
      assert.equal(missing.trailers['x-bridgehead-error-reason'], 'REGISTRY_NOT_FOUND');
      assert.ok(missing.trailers['grpc-status-details-bin']);
      const noToken = await h2(
        session,
        { ':method': 'POST', ':path': getRegistry.path, 'content-type': 'application/grpc', te: 'trailers' },
        grpcFrame(getRegistry.requestSerialize({ name: `${LOC}/registries/reg-tls` })),
      );
      assert.equal(noToken.trailers['grpc-status'], '16', 'credentials are always required on the TLS port');
    } finally {
      session.close();
    }
  });

  it('the generated certificate names localhost and the configured host names; old TLS versions are refused', async () => {
    const cert = await new Promise<TLSSocket>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['h2'] }, () => resolve(socket));
      socket.on('error', reject);
    });
    assert.equal(cert.alpnProtocol, 'h2');
    assert.match(cert.getPeerX509Certificate()?.subjectAltName ?? '', /DNS:localhost/);
    cert.destroy();
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve(socket));
        socket.on('error', reject);
      }),
    );
  });
});
