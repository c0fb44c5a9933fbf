import {
  connect,
  constants,
  type ClientHttp2Session,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { Duplex } from 'node:stream';

/**
 * gRPC streams of an HTTP/2 connection that also carries REST, handed to the gRPC server. grpc-js
 * takes whole connections, while the port serves both protocols on one connection, told apart per
 * stream by content type; so each such connection gets a twin HTTP/2 connection to grpc-js over an
 * in-process pipe, and every gRPC stream is relayed onto it frame for frame: headers (deadline,
 * credentials, metadata), messages, trailers and cancellation. No gRPC is parsed here.
 */

/** A connected pair of in-memory streams: what one side writes, the other reads. */
export function streamPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const side = (other: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        other().push(chunk);
        done();
      },
      final(done) {
        other().push(null);
        done();
      },
      destroy(err, done) {
        other().destroy();
        done(err);
      },
    });
  sides.push(side(() => sides[1]!), side(() => sides[0]!));
  return [sides[0]!, sides[1]!];
}

/** Request headers gRPC needs; connection-level and pseudo headers are the twin's own. */
function forwardedHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': headers[':method'], ':path': headers[':path'] };
  if (headers[':authority'] !== undefined) out[':authority'] = headers[':authority'];
  for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') && v !== undefined) out[k] = v;
  return out;
}

export class GrpcStreamProxy {
  private readonly twins = new WeakMap<Http2Session, ClientHttp2Session>();

  /** `connectTwin` hands the server end of a fresh pipe to the gRPC server. */
  constructor(private readonly connectTwin: (serverEnd: Duplex) => void) {}

  forward(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const session = req.stream.session;
    if (session === undefined) return; // the connection is already gone
    const upstream = this.twin(session).request(forwardedHeaders(req.headers));
    req.pipe(upstream);
    let trailers: OutgoingHttpHeaders = {};
    upstream.on('response', (headers, flags) => {
      const head: OutgoingHttpHeaders = {};
      // A trailers-only response (an error before any message) carries the status in its headers;
      // it is relayed as headers plus trailers, which every gRPC client reads alike.
      const trailersOnly = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      for (const [k, v] of Object.entries(headers)) {
        if (k.startsWith(':') || v === undefined) continue;
        if (trailersOnly && k !== 'content-type') trailers[k] = v;
        else head[k] = v;
      }
      res.writeHead(200, head);
      upstream.pipe(res, { end: false });
    });
    upstream.on('trailers', (t) => {
      trailers = { ...trailers, ...t };
    });
    upstream.on('error', () => undefined); // reported through 'close' below
    const relayStatus = (): void => {
      if (res.writableEnded || res.stream.destroyed) return;
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/grpc' });
      // No status from grpc-js means its connection broke under the call: UNAVAILABLE (14), retry.
      res.addTrailers(Object.keys(trailers).length ? trailers : { 'grpc-status': '14', 'grpc-message': 'Connection to the gRPC server lost.' });
      res.end();
    };
    // grpc-js ended its side with the status: the call is over, even while the client still has
    // its own side open (a StreamingPull the server ends). The HTTP/2 stream closes only once both
    // sides have, so waiting for 'close' would hold the status back until the client gave up.
    upstream.on('end', () => {
      // What the client still sends (acks in flight) is read and dropped: left unread, it would
      // keep its stream, and with it the connection's shutdown, waiting for ever.
      req.unpipe(upstream);
      req.resume();
      relayStatus();
      if (!upstream.closed) upstream.close(constants.NGHTTP2_NO_ERROR);
    });
    upstream.on('close', relayStatus);
    // The client cancelled (or its deadline passed): so is the call.
    res.on('close', () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });
  }

  private twin(session: Http2Session): ClientHttp2Session {
    let twin = this.twins.get(session);
    if (twin === undefined || twin.destroyed || twin.closed) {
      const [clientEnd, serverEnd] = streamPair();
      this.connectTwin(serverEnd);
      const created = connect('http://bridgehead.internal', { createConnection: () => clientEnd });
      created.on('error', () => undefined); // its streams report the failure
      session.once('close', () => created.destroy());
      this.twins.set(session, created);
      twin = created;
    }
    return twin;
  }
}
