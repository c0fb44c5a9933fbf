import { SseParser, type SseEvent } from '../../../src/cli/commands/events.js';

/**
 * A test client for a text/event-stream response: `next()` waits for the next event (or comment)
 * without polling; undefined once the stream has ended.
 */

export type SseItem = SseEvent | { comment: string };

export class SseClient {
  private readonly items: SseItem[] = [];
  private readonly waiters: ((item: SseItem | undefined) => void)[] = [];
  private ended = false;
  /** Resolves when the response body has ended (server closed, or aborted). */
  readonly closed: Promise<void>;

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.closed = this.pump();
  }

  static async open(url: string, headers: Record<string, string>): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, { headers, signal: controller.signal });
    return new SseClient(response, controller);
  }

  async next(): Promise<SseItem | undefined> {
    const item = this.items.shift();
    if (item !== undefined || this.ended) return item;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next real event, skipping comments. */
  async nextEvent(): Promise<SseEvent | undefined> {
    for (;;) {
      const item = await this.next();
      if (item === undefined || !('comment' in item)) return item;
    }
  }

  abort(): void {
    this.controller.abort();
  }

  private push(item: SseItem): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  private async pump(): Promise<void> {
    const parser = new SseParser((comment) => this.push({ comment }));
    const decoder = new TextDecoder();
    try {
      const reader = this.response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const ev of parser.push(decoder.decode(value, { stream: true }))) this.push(ev);
      }
    } catch {
      // aborted: the end of the stream for our purposes
    } finally {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    }
  }
}
