import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ApiError, isApiError } from '../domain/errors.js';
import type { Device } from '../domain/model.js';
import type { CommandSender } from './command-sender.js';
import { GATEWAY_ERRORS_KEPT, type GatewayErrorHistory, type GatewayErrorRecord } from './gateway-error-history.js';
import type { Bus, BusEvent, BusReply, BusRequest, Clock, CommandOutcome, Presence, Store, Timers } from './ports.js';
import type { RegistryCache } from './registry-cache.js';
import { SessionDirectory, type LiveSession, type SessionRegistry } from './session-directory.js';

export interface LiveSessionsOptions {
  /** This node's address on the bus; unique among the nodes sharing it. */
  nodeId: string;
  bus: Bus;
  store: Pick<Store, 'getDeviceByNumId' | 'isBound'>;
  registries: Pick<RegistryCache, 'refresh'>;
  clock: Clock;
  log: Logger;
  /** How long a command may take on another node, its QoS 1 wait included (docs/compat.md C-CMD-ACK). */
  remoteCommandTimeoutMs: number;
  /**
   * With timers, the node takes part in membership: it sends a heartbeat every `heartbeatMs`, and
   * forgets the sessions of a node not heard from within `nodeTimeoutMs`. Without, it knows other
   * nodes only by their session events (one node, or a bus without failures).
   */
  timers?: Timers;
  /** Default 2 s. */
  heartbeatMs?: number;
  /** Default 3 heartbeats. */
  nodeTimeoutMs?: number;
  /** A node was not heard from within nodeTimeoutMs; `sessions` of its were forgotten. */
  onNodeGone?: (nodeId: string, sessions: number) => void;
  /** This node's gateways' errors-topic messages (docs/compat.md C-CONSOLE-GATEWAY-ERRORS); absent: none kept. */
  gatewayErrors?: Pick<GatewayErrorHistory, 'recent'>;
  /** How long another node may take to say what it knows (gateway errors); default 2 s. */
  remoteQueryTimeoutMs?: number;
  /**
   * Publish `session-claimed`/`session-released` (default true). A node with no other node on its
   * bus (embedded mode) has nobody to tell: the two events per connection would be cloned and
   * delivered only to itself, which ignores its own.
   */
  announceSessions?: boolean;
}

export const DEFAULT_HEARTBEAT_MS = 2000;
const DEFAULT_REMOTE_QUERY_TIMEOUT_MS = 2000;
/** Store reads in flight while rechecking local sessions after a bus gap. */
const RECHECK_CONCURRENCY = 8;

/**
 * Where each device's live session is, and everything the rest of the server asks of it: the
 * reactions to registry changes (block, delete, unbind, credential removal, config updates),
 * command delivery (spec §3.7) and takeover (spec §5.2). Bridges register their sessions here;
 * sessions held by other nodes are known from their `session-claimed` events, and reached with
 * bus requests, so the same rules hold on one node and on many.
 */
export class LiveSessions implements SessionRegistry, CommandSender, Presence {
  private readonly local = new SessionDirectory();
  /** When each local session claimed its device: a takeover from another node must be newer. */
  private readonly claimedAt = new Map<string, number>();
  /** Devices whose session another node holds, and which node. */
  private readonly remote = new Map<string, string>();
  /** The same, by node: what to forget when a node is gone. */
  private readonly remoteByNode = new Map<string, Set<string>>();
  /** Other nodes heard from, when membership is on: when last, and the timer that expires them. */
  private readonly members = new Map<string, { lastHeard: number; cancelExpiry: () => void }>();
  private stops: (() => void)[] = [];
  private cancelHeartbeat: (() => void) | undefined;
  private readonly incarnation = randomUUID();
  private duplicateReported = false;
  /** When this node last heard its own heartbeat: a longer silence means its bus subscription had a gap. */
  private ownHeardAt: number | undefined;
  private readonly heartbeatMs: number;
  private readonly nodeTimeoutMs: number;
  /** Events after which a new session must read its device again (see unchangedSince). */
  private revocations = 0;

  constructor(private readonly opts: LiveSessionsOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.nodeTimeoutMs = opts.nodeTimeoutMs ?? 3 * this.heartbeatMs;
  }

  start(): void {
    const { bus, nodeId } = this.opts;
    this.stops.push(
      bus.subscribe(
        (e) => this.onEvent(e),
        () => this.busGap('the bus reconnected'),
      ),
    );
    this.stops.push(bus.respond(nodeId, (r) => this.onRequest(r)));
    if (this.opts.timers) this.heartbeat();
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.cancelHeartbeat?.();
    this.cancelHeartbeat = undefined;
    for (const m of this.members.values()) m.cancelExpiry();
    this.members.clear();
  }

  /** Other nodes this one has heard from within nodeTimeoutMs (membership on), in no order. */
  liveNodes(): string[] {
    return [...this.members.keys()];
  }

  /** Devices with a live session on this node or another this one has heard of. */
  get knownConnected(): number {
    return this.local.size + this.remote.size;
  }

  /** Devices with a live session on this node. */
  get size(): number {
    return this.local.size;
  }

  /**
   * Whether the device has a live session on any node this one knows of. A node that started
   * after the device connected elsewhere does not know it (sendCommandToDevice asks every node).
   */
  isConnected(numId: string): boolean {
    return this.local.get(numId) !== undefined || this.remote.has(numId);
  }

  /** Presence: the gateway a device is attached through; only sessions held here are known. */
  attachedThrough(numId: string): string | undefined {
    return this.local.get(numId)?.gatewayNumId(numId);
  }

  // ---- SessionRegistry: what a bridge calls ----

  claim(numId: string, session: LiveSession): void {
    const at = this.opts.clock.now();
    this.local.claim(numId, session);
    this.claimedAt.set(numId, at);
    this.forgetRemote(numId);
    if (this.opts.announceSessions !== false) this.announce({ type: 'session-claimed', numId, nodeId: this.opts.nodeId, at });
  }

  release(numId: string, session: LiveSession): void {
    if (!this.local.holds(numId, session)) return;
    this.local.release(numId, session);
    this.claimedAt.delete(numId);
    if (this.opts.announceSessions !== false) this.announce({ type: 'session-released', numId, nodeId: this.opts.nodeId });
  }

  holds(numId: string, session: LiveSession): boolean {
    return this.local.holds(numId, session);
  }

  revocationMark(): number {
    return this.revocations;
  }

  unchangedSince(mark: number): boolean {
    return this.revocations === mark;
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
    const known = this.remote.get(numId);
    if (known !== undefined) {
      const answer = await this.ask(known, numId, subfolder, data);
      if (answer !== 'not-connected' && answer !== 'gone') return answer;
      if (this.remote.get(numId) === known) this.forgetRemote(numId);
      // A node that took the whole command timeout is not asked around again: the caller's wait is spent.
      if (answer === 'gone') return 'not-connected';
    }
    return this.askEveryone(numId, subfolder, data, known);
  }

  /**
   * The device is neither here nor where this node last knew it (this node started after it
   * connected, or missed the claim): every live node is asked at once, and the one that holds it
   * answers. Nodes that do not hold it answer not-connected at once.
   */
  private async askEveryone(numId: string, subfolder: string, data: Uint8Array, except: string | undefined): Promise<CommandOutcome> {
    const nodes = this.liveNodes().filter((n) => n !== except);
    const answers = await Promise.allSettled(nodes.map((n) => this.ask(n, numId, subfolder, data)));
    let failure: unknown;
    let outcome: CommandOutcome = 'not-connected';
    answers.forEach((a, i) => {
      if (a.status === 'rejected') failure ??= a.reason;
      else if (a.value === 'delivered' || (a.value === 'not-subscribed' && outcome === 'not-connected')) {
        outcome = a.value;
        this.rememberRemote(numId, nodes[i]!);
      }
    });
    // A node that could not be asked (the bus is down) might hold the device: say so, not "offline".
    if (outcome === 'not-connected' && failure !== undefined) throw failure;
    return outcome;
  }

  /** 'gone': the node did not answer within the command timeout, or nothing answers at its address. */
  private async ask(node: string, numId: string, subfolder: string, data: Uint8Array): Promise<CommandOutcome | 'gone'> {
    try {
      const reply = await this.opts.bus.request(node, { type: 'deliver-command', numId, subfolder, data }, this.opts.remoteCommandTimeoutMs);
      if (reply.type !== 'command-outcome') throw new ApiError('INTERNAL', `Node "${node}" answered a command with "${reply.type}".`);
      return reply.outcome;
    } catch (e) {
      // The node is gone (or never answered): as far as anyone can tell, the device is not connected there.
      if (isApiError(e) && e.reason === 'BUS_NO_RESPONDER') return 'not-connected';
      if (isApiError(e) && e.reason === 'BUS_TIMEOUT') return 'gone';
      throw e;
    }
  }

  // ---- a gateway's errors-topic messages (docs/compat.md C-CONSOLE-GATEWAY-ERRORS) ----

  /**
   * The gateway's errors-topic messages, newest first, at most GATEWAY_ERRORS_KEPT: those kept
   * here, and those of the node holding its session, or of every node when none is known to (a
   * session that ended keeps its errors on the node that held it). A node that does not answer is
   * left out; only when none could be asked and nothing is known here is that an error.
   */
  async gatewayErrors(numId: string): Promise<GatewayErrorRecord[]> {
    const here = this.opts.gatewayErrors?.recent(numId, this.opts.clock.now()) ?? [];
    if (this.local.get(numId)) return here;
    const holder = this.remote.get(numId);
    const nodes = holder !== undefined ? [holder] : this.liveNodes();
    const timeoutMs = this.opts.remoteQueryTimeoutMs ?? DEFAULT_REMOTE_QUERY_TIMEOUT_MS;
    const answers = await Promise.allSettled(nodes.map((n) => this.opts.bus.request(n, { type: 'gateway-errors', numId }, timeoutMs)));
    let failure: unknown;
    const all = [...here];
    for (const a of answers) {
      if (a.status === 'fulfilled' && a.value.type === 'gateway-errors' && Array.isArray(a.value.errors)) all.push(...a.value.errors.filter(isErrorRecord));
      else if (a.status === 'rejected' && !(isApiError(a.reason) && (a.reason.reason === 'BUS_NO_RESPONDER' || a.reason.reason === 'BUS_TIMEOUT'))) {
        failure ??= a.reason;
      }
    }
    if (all.length === 0 && failure !== undefined) throw failure;
    return all.sort((a, b) => b.at - a.at).slice(0, GATEWAY_ERRORS_KEPT);
  }

  private async onRequest(r: BusRequest): Promise<BusReply> {
    if (r.type === 'gateway-errors') return { type: 'gateway-errors', errors: this.opts.gatewayErrors?.recent(r.numId, this.opts.clock.now()) ?? [] };
    const session = this.local.get(r.numId);
    if (!session) return { type: 'command-outcome', outcome: 'not-connected' };
    const delivered = await session.sendCommand(r.numId, r.subfolder, r.data);
    return { type: 'command-outcome', outcome: delivered ? 'delivered' : 'not-subscribed' };
  }

  // ---- reactions to what the API and other nodes did ----

  private onEvent(e: BusEvent): void {
    if (e.type === 'device-blocked' || e.type === 'device-deleted' || e.type === 'device-unbound' || e.type === 'device-credentials-changed') this.revocations++;
    switch (e.type) {
      case 'device-blocked':
        return this.local.get(e.numId)?.end(e.numId, 'device-blocked');
      case 'device-deleted':
        this.forgetRemote(e.numId);
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
        this.heard(e.nodeId);
        this.rememberRemote(e.numId, e.nodeId);
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
        if (e.nodeId === this.opts.nodeId) return;
        this.heard(e.nodeId);
        if (this.remote.get(e.numId) === e.nodeId) this.forgetRemote(e.numId);
        return;
      case 'node-heartbeat':
        if (e.nodeId !== this.opts.nodeId) this.heard(e.nodeId);
        else if (e.incarnation !== this.incarnation) this.duplicateNode();
        else this.heardSelf();
        return;
      case 'service-account-key-revoked':
        // API credentials, not device sessions: ServiceAccountCredentials follows this one.
        return;
    }
  }

  /**
   * This node's own heartbeat came back after more than nodeTimeoutMs: its bus was away (NATS
   * restarted, a partition). Core NATS keeps nothing for a subscriber that is not there, and a node
   * that reconnected first flushes what it buffered before this one has re-subscribed, so config
   * updates, blocks, deletions, unbinds and credential changes of that gap may never arrive: each local
   * session's device is read again from the store instead.
   */
  private heardSelf(): void {
    const now = this.opts.clock.now();
    const last = this.ownHeardAt;
    this.ownHeardAt = now;
    if (last === undefined || now - last <= this.nodeTimeoutMs) return;
    this.busGap(`own heartbeat unheard for ${now - last} ms`);
  }

  /** Events of the gap may be lost: each local session's device is read again from the store. */
  private busGap(why: string): void {
    this.revocations++;
    const numIds = [...this.claimedAt.keys()];
    this.opts.log.warn({ why, sessions: numIds.length }, 'bus events may have been missed: rechecking local sessions');
    void this.recheckAll(numIds);
  }

  /** A few reads at a time: tens of thousands of sessions must not flood the store at once. */
  private async recheckAll(numIds: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < numIds.length) await this.recheck(numIds[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(RECHECK_CONCURRENCY, numIds.length) }, worker));
  }

  private async recheck(numId: string): Promise<void> {
    const session = this.local.get(numId);
    if (!session) return;
    try {
      const device = await this.opts.store.getDeviceByNumId(numId);
      if (this.local.get(numId) !== session) return;
      if (!device) return session.end(numId, 'device-deleted');
      if (device.blocked) return session.end(numId, 'device-blocked');
      const used = session.credentialKey(numId);
      if (used !== undefined && !device.credentials.some((c) => c.key === used)) return session.end(numId, 'credentials-changed');
      const gatewayNumId = session.gatewayNumId(numId);
      if (gatewayNumId !== undefined && !(await this.opts.store.isBound(gatewayNumId, numId))) {
        if (this.local.get(numId) === session) session.end(numId, 'device-unbound');
        return;
      }
      session.configUpdated(numId);
    } catch (err) {
      this.opts.log.warn({ err }, 'could not recheck a session after a bus gap');
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

  // ---- where remote sessions are, and which nodes are alive ----

  private rememberRemote(numId: string, nodeId: string): void {
    const previous = this.remote.get(numId);
    if (previous === nodeId) return;
    if (previous !== undefined) this.remoteByNode.get(previous)?.delete(numId);
    this.remote.set(numId, nodeId);
    let held = this.remoteByNode.get(nodeId);
    if (!held) this.remoteByNode.set(nodeId, (held = new Set()));
    held.add(numId);
  }

  private forgetRemote(numId: string): void {
    const node = this.remote.get(numId);
    if (node === undefined) return;
    this.remote.delete(numId);
    this.remoteByNode.get(node)?.delete(numId);
  }

  private heartbeat(): void {
    this.announce({ type: 'node-heartbeat', nodeId: this.opts.nodeId, at: this.opts.clock.now(), incarnation: this.incarnation });
    this.cancelHeartbeat = this.opts.timers!.schedule(this.heartbeatMs, () => this.heartbeat());
  }

  /** Another node is alive. A node heard for the first time is answered at once, so it knows this one without waiting a beat. */
  private heard(nodeId: string): void {
    const timers = this.opts.timers;
    if (!timers) return;
    const now = this.opts.clock.now();
    const member = this.members.get(nodeId);
    if (member) {
      member.lastHeard = now;
      return;
    }
    const entry = { lastHeard: now, cancelExpiry: () => {} };
    this.members.set(nodeId, entry);
    const expire = (): void => {
      if (this.members.get(nodeId) !== entry) return;
      const due = entry.lastHeard + this.nodeTimeoutMs - this.opts.clock.now();
      if (due > 0) {
        entry.cancelExpiry = timers.schedule(due, expire);
        return;
      }
      this.nodeGone(nodeId);
    };
    entry.cancelExpiry = timers.schedule(this.nodeTimeoutMs, expire);
    this.announce({ type: 'node-heartbeat', nodeId: this.opts.nodeId, at: now, incarnation: this.incarnation });
  }

  /**
   * Another process runs under this node's ID: both answer its bus address, so commands may get
   * the wrong one's answer. Nothing here can fix a configuration; it is said loudly, once.
   */
  private duplicateNode(): void {
    if (this.duplicateReported) return;
    this.duplicateReported = true;
    this.opts.log.error({ nodeId: this.opts.nodeId }, 'another node runs with this node ID; give every node its own (commands may fail)');
  }

  private nodeGone(nodeId: string): void {
    this.members.delete(nodeId);
    const held = this.remoteByNode.get(nodeId);
    this.remoteByNode.delete(nodeId);
    let forgotten = 0;
    for (const numId of held ?? []) {
      if (this.remote.get(numId) !== nodeId) continue;
      this.remote.delete(numId);
      forgotten++;
    }
    this.opts.log.warn({ nodeId, sessions: forgotten, nodeTimeoutMs: this.nodeTimeoutMs }, 'a node stopped sending heartbeats; its sessions are forgotten');
    this.opts.onNodeGone?.(nodeId, forgotten);
  }

  private announce(event: BusEvent): void {
    this.opts.bus.publish(event).catch((err: unknown) => this.opts.log.warn({ err }, 'could not announce a session change'));
  }
}

/** Another node's records come off the wire: only well-formed ones are passed on. */
function isErrorRecord(r: unknown): r is GatewayErrorRecord {
  const v = r as Partial<GatewayErrorRecord> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.at === 'number' &&
    typeof v.errorType === 'string' &&
    typeof v.deviceId === 'string' &&
    typeof v.description === 'string' &&
    typeof v.delivered === 'boolean'
  );
}
