/**
 * Summaries of a V8 CPU profile (`node --cpu-prof`) over chosen time windows: where the busy time
 * went by stage of the work (each sample goes to the first stage whose rule matches its stack)
 * and by function (self time). Pure: the caller reads the file.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The parts of a .cpuprofile this reads. Times in µs of the monotonic clock (process.hrtime / 1000). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * What part of the work a frame is, when it says (node:internal/crypto and node:events frames do
 * not: they count for whoever called them). A sample belongs to the stage of its innermost frame
 * that says, so the TLS handshake run from our listener counts as TLS, not as the listener.
 */
const FRAME_STAGES: ReadonlyArray<readonly [string, RegExp]> = [
  ['JWT signature (jose / node:crypto)', /node_modules\/jose\/|device-token-verifier|crypto\/jwt-signature/],
  ['JWT claims', /domain\/jwt-claims/],
  ['device auth (lookups, checks)', /services\/device-auth|registry-cache/],
  ['store', /adapters\/store\/|better-sqlite3/],
  ['logging (pino)', /node_modules\/pino|observability\/log/],
  ['metrics', /prom-client|observability\/metrics/],
  ['activity / directory / bus', /activity|session-directory|live-sessions|adapters\/bus\//],
  ['TLS (node:tls, OpenSSL through its bindings)', /^node:(_tls|tls)/],
  ['net / streams / timers', /^node:(net|internal\/(streams|stream_base|timers|net|process\/task_queues)|timers|stream)/],
  ['MQTT listener / connection / session / codec', /adapters\/mqtt\/|mqtt-packet/],
];

function stageOfStack(stack: readonly CallFrame[]): string {
  const leaf = stack[0]?.functionName;
  if (leaf === '(idle)') return 'idle';
  if (leaf === '(garbage collector)') return 'GC';
  if (leaf === '(program)') return 'native, unattributed ((program))';
  for (const f of stack) for (const [name, re] of FRAME_STAGES) if (re.test(f.url)) return name;
  return 'other';
}

/** Caller frames shown under a hot function. */
const CALLER_DEPTH = 5;

const label = (f: CallFrame): string =>
  `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '')}${f.url === '' ? '' : `:${f.lineNumber + 1}`}`;

/**
 * Lines of text: busy time in the windows by stage and the top `rows` functions by self time;
 * with `perUnit` (e.g. the number of connects in the windows), each stage also per unit in µs.
 */
export function summariseProfile(profile: CpuProfile, windows: ReadonlyArray<readonly [number, number]>, opts: { rows?: number; perUnit?: number } = {}): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map<number, string>();
  const stackOf = (id: number): CallFrame[] => {
    const out: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (n !== undefined) out.push(n.callFrame);
    }
    return out;
  };
  const inWindow = (t: number): boolean => windows.some(([a, b]) => t >= a && t < b);
  const stages = new Map<string, number>();
  const self = new Map<string, number>();
  const callers = new Map<string, Map<string, number>>();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (!inWindow(t)) continue;
    const id = profile.samples[i]!;
    let stage = stageOf.get(id);
    if (stage === undefined) {
      const stack = stackOf(id);
      stage = stageOfStack(stack);
      stageOf.set(id, stage);
    }
    total += dt;
    stages.set(stage, (stages.get(stage) ?? 0) + dt);
    const frame = byId.get(id)?.callFrame;
    if (frame !== undefined && stage !== 'idle') {
      const key = label(frame);
      self.set(key, (self.get(key) ?? 0) + dt);
      const chain = stackOf(id)
        .slice(1, 1 + CALLER_DEPTH)
        .map((f) => f.functionName || '(anonymous)')
        .join(' < ');
      const c = (callers.get(key) ?? callers.set(key, new Map()).get(key))!;
      c.set(chain, (c.get(chain) ?? 0) + dt);
    }
  }
  const busy = total - (stages.get('idle') ?? 0);
  const pct = (us: number): string => `${((100 * us) / Math.max(1, busy)).toFixed(1).padStart(5)}%`;
  const per = (us: number): string => (opts.perUnit === undefined || opts.perUnit <= 0 ? '' : ` ${(us / opts.perUnit).toFixed(0).padStart(5)} µs/unit`);
  const lines = [`main thread: ${(total / 1e6).toFixed(2)} s in the windows, busy ${(busy / 1e6).toFixed(2)} s${per(busy)}`, '-- by stage (share of busy time)'];
  for (const [name, us] of [...stages].sort((a, b) => b[1] - a[1])) if (name !== 'idle') lines.push(`${pct(us)}${per(us)}  ${name}`);
  lines.push('-- by function (self time)');
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, opts.rows ?? 40)) {
    lines.push(`${pct(us)}${per(us)}  ${name}`);
    // The most common callers, for the functions that matter.
    if (us >= busy / 100) {
      const top = [...(callers.get(name) ?? [])].sort((a, b) => b[1] - a[1])[0];
      if (top !== undefined) lines.push(`${' '.repeat(22)}< ${top[0]} (${((100 * top[1]) / us).toFixed(0)}%)`);
    }
  }
  return lines;
}
