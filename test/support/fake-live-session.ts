import type { EndReason, LiveSession } from '../../src/services/session-directory.js';

/** A session as a bridge would register it, recording what LiveSessions asks of it. */
export class FakeSession implements LiveSession {
  readonly ended: [string, EndReason][] = [];
  readonly commands: [string, string, number[]][] = [];
  private endWaiters: (() => void)[] = [];
  constructor(private readonly opts: { subscribed?: boolean; gateway?: string } = {}) {}
  end(numId: string, reason: EndReason): void {
    this.ended.push([numId, reason]);
    for (const w of this.endWaiters.splice(0)) w();
  }
  configUpdated(): void {}
  async sendCommand(numId: string, subfolder: string, data: Uint8Array): Promise<boolean> {
    this.commands.push([numId, subfolder, [...data]]);
    return this.opts.subscribed ?? true;
  }
  credentialKey(): string | undefined {
    return undefined;
  }
  gatewayNumId(): string | undefined {
    return this.opts.gateway;
  }
  /** Resolves once the session has been ended (at once if it already was). */
  whenEnded(): Promise<void> {
    if (this.ended.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }
}
