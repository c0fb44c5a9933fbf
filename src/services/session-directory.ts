

/** What the rest of the server may ask of a live device session. */
export interface LiveSession {
  /** Ends the session (or, for a device attached through a gateway, that attachment). */
  end(numId: string, reason: 'device-blocked' | 'device-deleted' | 'credentials-changed' | 'device-unbound' | 'session-taken-over'): void;
  /** A newer config version was stored for the device. */
  configUpdated(numId: string): void;
  /** Resolves false when the device holds no matching commands subscription. */
  sendCommand(numId: string, subfolder: string, data: Uint8Array): Promise<boolean>;
  /** The credential the session authenticated with, to tell whether a credential change revokes it. */
  credentialKey(numId: string): string | undefined;
  /** The gateway holding the device, for attached devices. */
  gatewayNumId(numId: string): string | undefined;
}

/**
 * Which live session serves which device (numId): one per device (spec §5.2), whether connected
 * directly or attached through a gateway.
 */
export class SessionDirectory {
  private readonly byDevice = new Map<string, LiveSession>();

  /**
   * Registers `session` as the device's holder; the session it replaces is ended with
   * 'session-taken-over' (spec §5.2, docs/compat.md C-GW-TAKEOVER) once the entry is no longer its.
   */
  claim(numId: string, session: LiveSession): void {
    const previous = this.byDevice.get(numId);
    this.byDevice.set(numId, session);
    if (previous !== undefined && previous !== session) previous.end(numId, 'session-taken-over');
  }

  /** Removes the entry only if it still belongs to `session` (a takeover may have replaced it). */
  release(numId: string, session: LiveSession): void {
    if (this.byDevice.get(numId) === session) this.byDevice.delete(numId);
  }

  holds(numId: string, session: LiveSession): boolean {
    return this.byDevice.get(numId) === session;
  }

  get(numId: string): LiveSession | undefined {
    return this.byDevice.get(numId);
  }

  get size(): number {
    return this.byDevice.size;
  }

  devices(): IterableIterator<string> {
    return this.byDevice.keys();
  }
}

