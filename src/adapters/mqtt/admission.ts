import type { Socket } from 'node:net';

/** Admission work in one turn of the event loop stops after this long (at least one socket is dealt with). */
const TURN_BUDGET_MS = 1;

/** A socket let in consumes a token; tokens come back at `perSecond`, at most `burst` saved up. */
interface RateCap {
  perSecond: number;
  burst: number;
}

interface Waiting {
  socket: Socket;
  admit: (socket: Socket) => void;
  at: number;
}

/**
 * New sockets wait here, not yet read from, and are let in a few per turn of the event loop
 * (docs/compat.md C-MQTT-ADMISSION). Accepting a socket costs little; what follows does (a TLS
 * socket and its handshake, a session, authentication), and a flood of new sockets handled all
 * at once would stall every connection already served for as long as that takes. Let in a few
 * at a time, the work of new sockets alternates with the traffic of the others. A socket that
 * waited longer than `maxWaitMs` is closed instead: under a flood the bridge sheds new
 * connections, and their clients retry.
 *
 * Per turn is not enough on its own: turns come quickly when little else runs, and a burst of
 * TLS handshakes then takes the whole CPU. `perSecond` (EMQX's `max_conn_rate`) caps how many are
 * let in per second; 0 lifts the cap.
 */
export class AdmissionQueue {
  private queue: (Waiting | undefined)[] = [];
  private head = 0;
  private scheduled = false;
  private readonly cap: RateCap | undefined;
  private tokens = 0;
  private refilledAt: number;

  constructor(
    private readonly perTurn: number,
    private readonly maxWaitMs: number,
    perSecond: number,
    /** Told of each socket closed for waiting too long. */
    private readonly onShed: () => void,
    /** Told when letting a socket in threw (our bug): that socket is closed, the others go on. */
    private readonly onFailed: (err: unknown) => void,
    /** Milliseconds from a monotonic origin; injected so that tests need not wait. */
    private readonly now: () => number = () => performance.now(),
  ) {
    // A hundredth of a second's worth may be let in at once: enough that a lone socket never
    // waits, and few enough that the handshakes of one burst (about 0.7 ms of CPU each, all run in
    // the poll phase where their ClientHellos arrive together) never stall the loop for long.
    this.cap = perSecond > 0 ? { perSecond, burst: Math.max(1, Math.ceil(perSecond / 100)) } : undefined;
    this.tokens = this.cap?.burst ?? 0;
    this.refilledAt = this.now();
  }

  /** `socket` must be paused (`pauseOnConnect`); `admit` is called with it once its turn comes. */
  enqueue(socket: Socket, admit: (socket: Socket) => void): void {
    this.queue.push({ socket, admit, at: this.now() });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /** Whether one more socket may be let in now under the rate cap (and takes its token). */
  private takeToken(now: number): boolean {
    const cap = this.cap;
    if (!cap) return true;
    if (this.tokens < 1) {
      this.tokens = Math.min(cap.burst, this.tokens + ((now - this.refilledAt) * cap.perSecond) / 1000);
      this.refilledAt = now;
      if (this.tokens < 1) return false;
    }
    this.tokens--;
    return true;
  }

  get waiting(): number {
    return this.queue.length - this.head;
  }

  private readonly drain = (): void => {
    const now = this.now();
    let admitted = 0;
    // Shedding is cheap but not free: a long backlog of expired sockets is worked off over turns too.
    let work = 0;
    let capped = false;
    // Counts alone let one turn run long where a socket costs more than usual (a TLS socket made,
    // a backlog shed): past the budget, the rest waits for the next turn.
    const deadline = now + TURN_BUDGET_MS;
    while (this.head < this.queue.length && admitted < this.perTurn && work < this.perTurn * 16 && (work === 0 || this.now() < deadline)) {
      const entry = this.queue[this.head]!;
      work++;
      if (entry.socket.destroyed || now - entry.at > this.maxWaitMs) {
        // Let go of it now: the array may be kept a while.
        this.queue[this.head++] = undefined;
        if (!entry.socket.destroyed) {
          entry.socket.destroy();
          this.onShed();
        }
        continue;
      }
      if (!this.takeToken(now)) {
        capped = true;
        break;
      }
      this.queue[this.head++] = undefined;
      admitted++;
      try {
        entry.admit(entry.socket);
      } catch (err) {
        entry.socket.destroy();
        this.onFailed(err);
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.scheduled = this.head < this.queue.length;
    if (!this.scheduled) return;
    // Out of tokens: come back when the next one is due rather than spinning through turns.
    if (capped) setTimeout(this.drain, Math.max(1, Math.ceil(1000 / this.cap!.perSecond)));
    else setImmediate(this.drain);
  };

  /** Closes every socket still waiting (server shutdown). */
  clear(): void {
    for (let i = this.head; i < this.queue.length; i++) this.queue[i]?.socket.destroy();
    this.queue = [];
    this.head = 0;
  }
}
