import type { Logger } from 'pino';
import { ApiError, isApiError } from '../domain/errors.js';
import type { Device } from '../domain/model.js';
import type { CommandSender } from './command-sender.js';
import type { Bus, BusEvent, BusReply, BusRequest, Clock, CommandOutcome, Store } from './ports.js';
import type { RegistryCache } from './registry-cache.js';
import { SessionDirectory, type LiveSession, type SessionRegistry } from './session-directory.js';

export interface LiveSessionsOptions {
  /** This node's address on the bus; unique among the nodes sharing it. */
  nodeId: string;
  bus: Bus;
  store: Pick<Store, 'getDeviceByNumId'>;
  registries: Pick<RegistryCache, 'refresh'>;
  clock: Clock;
  log: Logger;
  /** How long a command may take on another node, its QoS 1 wait included (docs/compat.md C-CMD-ACK). */
  remoteCommandTimeoutMs: number;
}

/**
 * Where each device's live session is, and everything the rest of the server asks of it: the
 * reactions to registry changes (block, delete, unbind, credential removal, config updates),
 * command delivery (spec §3.7) and takeover (spec §5.2). Bridges register their sessions here;
 * sessions held by other nodes are known from their `session-claimed` events, and reached with
 * bus requests, so the same rules hold on one node and on many.
 */
export class LiveSessions implements SessionRegistry, CommandSender {
  private readonly local = new SessionDirectory();
  /** When each local session claimed its device: a takeover from another node must be newer. */
  private readonly claimedAt = new Map<string, number>();
  /** Devices whose session another node holds, and which node. */
  private readonly remote = new Map<string, string>();
  private stops: (() => void)[] = [];

  constructor(private readonly opts: LiveSessionsOptions) {}

  start(): void {
    const { bus, nodeId } = this.opts;
    this.stops.push(bus.subscribe((e) => this.onEvent(e)));
    this.stops.push(bus.respond(nodeId, (r) => this.onRequest(r)));
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  /** Devices with a live session on this node. */
  get size(): number {
    return this.local.size;
  }

  /** Whether the device has a live session on any node this one knows of. */
  isConnected(numId: string): boolean {
    return this.local.get(numId) !== undefined || this.remote.has(numId);
  }

  // ---- SessionRegistry: what a bridge calls ----

  claim(numId: string, session: LiveSession): void {
    const at = this.opts.clock.now();
    this.local.claim(numId, session);
    this.claimedAt.set(numId, at);
    this.remote.delete(numId);
    this.announce({ type: 'session-claimed', numId, nodeId: this.opts.nodeId, at });
  }

  release(numId: string, session: LiveSession): void {
    if (!this.local.holds(numId, session)) return;
    this.local.release(numId, session);
    this.claimedAt.delete(numId);
    this.announce({ type: 'session-released', numId, nodeId: this.opts.nodeId });
  }

  holds(numId: string, session: LiveSession): boolean {
    return this.local.holds(numId, session);
  }

  // ---- CommandSender: sendCommandToDevice (spec §3.7) ----

  async send(device: Device, data: Uint8Array, subfolder: string): Promise<void> {
    const outcome = await this.deliverCommand(device.numId, subfolder, data);
    // docs/compat.md C-CMD-OFFLINE
    if (outcome === 'not-connected') {
      throw new ApiError('FAILED_PRECONDITION', `Device "${device.id}" is not connected.`, { reason: 'DEVICE_NOT_CONNECTED' });
    }
    if (outcome === 'not-subscribed') {
      throw new ApiError(
        'FAILED_PRECONDITION',
        `Device "${device.id}" is not subscribed to the commands topic${subfolder ? ` for subfolder "${subfolder}"` : ''}.`,
        { reason: 'DEVICE_NOT_SUBSCRIBED' },
      );
    }
  }

  private async deliverCommand(numId: string, subfolder: string, data: Uint8Array): Promise<CommandOutcome> {
    const session = this.local.get(numId);
    if (session) return (await session.sendCommand(numId, subfolder, data)) ? 'delivered' : 'not-subscribed';
    const node = this.remote.get(numId);
    if (node === undefined) return 'not-connected';
    try {
      const reply = await this.opts.bus.request(node, { type: 'deliver-command', numId, subfolder, data }, this.opts.remoteCommandTimeoutMs);
      return reply.outcome;
    } catch (e) {
      // The node is gone (or never answered): as far as anyone can tell, the device is not connected.
      if (isApiError(e) && (e.reason === 'BUS_NO_RESPONDER' || e.reason === 'BUS_TIMEOUT')) {
        if (this.remote.get(numId) === node) this.remote.delete(numId);
        return 'not-connected';
      }
      throw e;
    }
  }

  private async onRequest(r: BusRequest): Promise<BusReply> {
    const session = this.local.get(r.numId);
    if (!session) return { type: 'command-outcome', outcome: 'not-connected' };
    const delivered = await session.sendCommand(r.numId, r.subfolder, r.data);
    return { type: 'command-outcome', outcome: delivered ? 'delivered' : 'not-subscribed' };
  }

  // ---- reactions to what the API and other nodes did ----

  private onEvent(e: BusEvent): void {
    switch (e.type) {
      case 'device-blocked':
        return this.local.get(e.numId)?.end(e.numId, 'device-blocked');
      case 'device-deleted':
        this.remote.delete(e.numId);
        return this.local.get(e.numId)?.end(e.numId, 'device-deleted');
      case 'config-updated':
        return this.local.get(e.numId)?.configUpdated(e.numId);
      case 'device-unbound': {
        const session = this.local.get(e.numId);
        if (session?.gatewayNumId(e.numId) === e.gatewayNumId) session.end(e.numId, 'device-unbound');
        return;
      }
      case 'device-credentials-changed':
        return this.checkCredentials(e.numId);
      case 'registry-changed':
        this.opts.registries.refresh(e.registryName).catch((err: unknown) => this.opts.log.warn({ err }, 'could not reload a changed registry'));
        return;
      case 'session-claimed': {
        if (e.nodeId === this.opts.nodeId) return;
        this.remote.set(e.numId, e.nodeId);
        const session = this.local.get(e.numId);
        // Only a claim at least as new as ours takes over: a late event of an older claim must not
        // end the newer session here.
        if (session && (this.claimedAt.get(e.numId) ?? 0) <= e.at) {
          this.local.release(e.numId, session);
          this.claimedAt.delete(e.numId);
          session.end(e.numId, 'session-taken-over');
        }
        return;
      }
      case 'session-released':
        if (e.nodeId !== this.opts.nodeId && this.remote.get(e.numId) === e.nodeId) this.remote.delete(e.numId);
        return;
      case 'service-account-key-revoked':
        // API credentials, not device sessions: ServiceAccountCredentials follows this one.
        return;
    }
  }

  /** Only removing the credential a session authenticated with ends it (docs/compat.md C-MQTT-REVOKE). */
  private checkCredentials(numId: string): void {
    const session = this.local.get(numId);
    const used = session?.credentialKey(numId);
    if (!session || used === undefined) return;
    this.opts.store.getDeviceByNumId(numId).then(
      (d) => {
        if (!d || !d.credentials.some((c) => c.key === used)) session.end(numId, 'credentials-changed');
      },
      (err: unknown) => this.opts.log.warn({ err }, 'could not check changed credentials'),
    );
  }

  private announce(event: BusEvent): void {
    this.opts.bus.publish(event).catch((err: unknown) => this.opts.log.warn({ err }, 'could not announce a session change'));
  }
}
