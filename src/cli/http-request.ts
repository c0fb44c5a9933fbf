import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';

/**
 * One buffered HTTP exchange for the admin CLI, over node:http (node:https for https:// URLs).
 * Not global fetch: its first request compiles undici's WebAssembly HTTP parser, and the process
 * then waits for that background compilation before it can exit, which roughly doubled the
 * run time of every admin command.
 */

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case, as node:http gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body decoded as UTF-8. */
  text: string;
}

/** How the API client sends a request; tests pass a fake. */
export type SendRequest = (url: string, req: HttpRequest) => Promise<HttpResponse>;

/**
 * Sends `req` to `url` and reads the whole response. Rejects on anything that prevents an answer
 * (bad URL, refused connection, reset); any HTTP status resolves. Redirects are not followed.
 */
export async function sendRequest(url: string, req: HttpRequest): Promise<HttpResponse> {
  const target = new URL(url);
  const headers: Record<string, string> = { ...req.headers };
  if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
  const options: RequestOptions = { method: req.method, headers };
  let request: typeof httpRequest;
  if (target.protocol === 'http:') request = httpRequest;
  else if (target.protocol === 'https:') request = (await import('node:https')).request; // loads TLS: only when asked for
  else throw new Error(`unsupported URL scheme "${target.protocol}" (use http:// or https://)`);

  return new Promise((resolve, reject) => {
    const clientRequest = request(target, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    clientRequest.on('error', reject);
    clientRequest.end(req.body);
  });
}
