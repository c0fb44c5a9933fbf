

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

  /** Registers `session` for the device and returns the session it replaces, if any. */
  claim(numId: string, session: LiveSession): LiveSession | undefined {
    const previous = this.byDevice.get(numId);
    this.byDevice.set(numId, session);
    return previous === session ? undefined : previous;
  }

  /** Removes the entry only if it still belongs to `session` (a takeover may have replaced it). */
  release(numId: string, session: LiveSession): void {
    if (this.byDevice.get(numId) === session) this.byDevice.delete(numId);
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

