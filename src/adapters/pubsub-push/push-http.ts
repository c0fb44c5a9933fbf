import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** How one push request ended: the endpoint's status, or why there was none. */
export type PushOutcome = { kind: 'status'; status: number } | { kind: 'timeout' } | { kind: 'error'; message: string };

export interface PushPost {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** The whole exchange, connecting included; past it the request is abandoned. */
  timeoutMs: number;
}

export interface PushPoster {
  post(request: PushPost): Promise<PushOutcome>;
  close(): void;
}

/**
 * POSTs push requests over node:http(s) with one keep-alive agent per scheme whose sockets, to
 * all endpoints together, are bounded (`maxSockets`): requests past the bound wait in the agent's
 * queue, and that wait counts against their timeout. Response bodies are discarded unread, but
 * within the same timeout: the status decides at once, and a body still unfinished at the
 * deadline (an endpoint that never ends it, or trickles it) costs the socket, which would
 * otherwise stay taken from every other subscription's pushes for good.
 */
export class HttpPushPoster implements PushPoster {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(maxSockets: number) {
    const options = { keepAlive: true, maxSockets, maxTotalSockets: maxSockets, scheduling: 'fifo' as const };
    this.http = new HttpAgent(options);
    this.https = new HttpsAgent(options);
  }

  post(p: PushPost): Promise<PushOutcome> {
    let url: URL;
    try {
      url = new URL(p.url);
    } catch {
      return Promise.resolve({ kind: 'error', message: 'invalid push endpoint URL' });
    }
    return new Promise((resolve) => {
      const https = url.protocol === 'https:';
      const body = Buffer.from(p.body);
      const req = (https ? httpsRequest : httpRequest)(url, {
        method: 'POST',
        agent: https ? this.https : this.http,
        headers: { ...p.headers, 'content-length': String(body.length) },
      });
      let settled = false;
      const finish = (outcome: PushOutcome): void => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      // Runs until the exchange is over (response read to its end, or the request closed).
      const timer = setTimeout(() => {
        finish({ kind: 'timeout' });
        req.destroy();
      }, p.timeoutMs);
      const over = (): void => clearTimeout(timer);
      // Pub/Sub takes 102 Processing as an acknowledgement; the final answer is then not awaited.
      req.on('information', (info) => {
        if (info.statusCode === 102) {
          finish({ kind: 'status', status: 102 });
          req.destroy();
        }
      });
      req.on('response', (res) => {
        finish({ kind: 'status', status: res.statusCode ?? 0 });
        res.on('end', over);
        res.resume();
      });
      req.on('close', over);
      req.on('error', (err) => {
        over();
        finish({ kind: 'error', message: err.message });
      });
      req.end(body);
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
