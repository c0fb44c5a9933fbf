/** Why the server ends a live session (or, for a device attached through a gateway, that attachment). */
export type EndReason = 'device-blocked' | 'device-deleted' | 'credentials-changed' | 'device-unbound' | 'session-taken-over';

/** What the rest of the server may ask of a live device session. */
export interface LiveSession {
  /** Ends the session (or, for a device attached through a gateway, that attachment). */
  end(numId: string, reason: EndReason): void;
  /** A newer config version was stored for the device. */
  configUpdated(numId: string): void;
  /** Resolves false when the device holds no matching commands subscription. */
  sendCommand(numId: string, subfolder: string, data: Uint8Array): Promise<boolean>;
  /** The credential the session authenticated with, to tell whether a credential change revokes it. */
  credentialKey(numId: string): string | undefined;
  /** The gateway holding the device, for attached devices. */
  gatewayNumId(numId: string): string | undefined;
}

/** What a device bridge needs to register the sessions it serves. */
export interface SessionRegistry {
  /**
   * Registers `session` as the device's holder; the previous holder, on this node or another,
   * is ended with 'session-taken-over' (spec §5.2: one connection per device).
   */
  claim(numId: string, session: LiveSession): void;
  /** Removes the entry only if it still belongs to `session` (a takeover may have replaced it). */
  release(numId: string, session: LiveSession): void;
  holds(numId: string, session: LiveSession): boolean;
  /**
   * A mark to take before a device is read for a new session, and to give `unchangedSince` once
   * the session holds the device.
   */
  revocationMark(): number;
  /**
   * True only when no event that could end a session (a device blocked, deleted, its credentials
   * changed or unbound, a gap in the events) has arrived since `mark`: a session whose device was
   * read after the mark then needs no second read to catch a change made meanwhile, since any
   * later change finds it holding the device (docs/compat.md C-MQTT-REVOKE).
   */
  unchangedSince(mark: number): boolean;
}

/**
 * Which live session serves which device (numId) on this node: one per device, whether connected
 * directly or attached through a gateway.
 */
export class SessionDirectory implements SessionRegistry {
  private readonly byDevice = new Map<string, LiveSession>();

  claim(numId: string, session: LiveSession): void {
    const previous = this.byDevice.get(numId);
    this.byDevice.set(numId, session);
    if (previous && previous !== session) previous.end(numId, 'session-taken-over');
  }

  release(numId: string, session: LiveSession): void {
    if (this.byDevice.get(numId) === session) this.byDevice.delete(numId);
  }

  holds(numId: string, session: LiveSession): boolean {
    return this.byDevice.get(numId) === session;
  }

  revocationMark(): number {
    return 0;
  }

  /** The directory alone hears no events: a session always reads its device again. */
  unchangedSince(_mark: number): boolean {
    return false;
  }

  get(numId: string): LiveSession | undefined {
    return this.byDevice.get(numId);
  }

  get size(): number {
    return this.byDevice.size;
  }
}
