import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure, connectionsOf } from './api.js';
import { fieldFor, type ApiProblem } from './logic/api-errors.js';
import type { Connection } from './types.js';

// ---- routing: paths under /console mirror resource names ----

const listeners = new Set<() => void>();
export const BASE = '/console';

/**
 * The console path of a resource name (`projects/p/…/devices/d`): each segment URL-encoded, since
 * IDs may hold `%`; the router decodes each segment once (routeSegments). Every link and
 * navigation to a resource goes through here.
 */
export const pageOf = (name: string): string => `/${name.split('/').map(encodeURIComponent).join('/')}`;

/** The segments of a console path, each decoded once; undefined if one is not valid URL encoding (a hand-edited or cut-off link). */
export function routeSegments(path: string): string[] | undefined {
  try {
    return path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

export function navigate(path: string): void {
  history.pushState(null, '', `${BASE}${path}`);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
}

/** The path after /console, and its query. */
export function useRoute(): { path: string; query: URLSearchParams } {
  const read = (): { path: string; query: URLSearchParams } => ({
    path: location.pathname.slice(BASE.length).replace(/\/+$/, '') || '/',
    query: new URLSearchParams(location.search),
  });
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = (): void => setRoute(read());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

export function Link(props: { href: string; children: ComponentChildren; class?: string }): JSX.Element {
  return (
    <a
      href={`${BASE}${props.href}`}
      class={props.class}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

// ---- data ----

/** Loads on mount and when `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; problem: ApiProblem | undefined; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | undefined; problem: ApiProblem | undefined; loading: boolean }>({ data: undefined, problem: undefined, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, problem: undefined, loading: false }),
      (e: unknown) => live && setState({ data: undefined, problem: problemOfError(e), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: useCallback(() => setTick((t) => t + 1), []) };
}

export function problemOfError(e: unknown): ApiProblem {
  if (e instanceof ApiFailure) return e.problem;
  return { status: 'ERROR', message: e instanceof Error ? e.message : String(e), httpStatus: 0 };
}

/** Re-runs `f` every `ms` while mounted (live status, tails). */
export function useInterval(f: () => void, ms: number): void {
  const saved = useRef(f);
  saved.current = f;
  useEffect(() => {
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}

/** The clock for "… ago", ticking every few seconds. */
export function useNow(ms = 5000): number {
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), ms);
  return now;
}

// ---- forms: each input knows its API field name, so an error lands next to it ----

export interface FormState {
  problem: ApiProblem | undefined;
  busy: boolean;
  done: string | undefined;
  /** Runs an API write; its refusal is shown next to the field it names, or above the form. */
  submit: (f: () => Promise<string | void>) => Promise<void>;
  errorFor: (field: string) => string | undefined;
  /** The problem if no input of the form takes it. */
  general: ApiProblem | undefined;
}

export function useForm(fields: readonly string[]): FormState {
  const [problem, setProblem] = useState<ApiProblem | undefined>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | undefined>();
  const owner = fieldFor(problem, fields);
  return {
    problem,
    busy,
    done,
    async submit(f) {
      setBusy(true);
      setProblem(undefined);
      setDone(undefined);
      try {
        setDone((await f()) ?? undefined);
      } catch (e) {
        setProblem(problemOfError(e));
      } finally {
        setBusy(false);
      }
    },
    errorFor: (field) => (owner === field ? problem?.message : undefined),
    general: owner === undefined ? problem : undefined,
  };
}

let ids = 0;
const useId = (): string => useRef(`f${++ids}`).current;

export function Field(props: {
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (id: string, describedBy: string | undefined) => ComponentChildren;
}): JSX.Element {
  const id = useId();
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [props.error ? errId : '', props.hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${props.error ? ' has-error' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy)}
      {props.hint && (
        <small id={hintId} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <p id={errId} class="field-error" role="alert">
          {props.error}
        </p>
      )}
    </div>
  );
}

export function Problem(props: { problem: ApiProblem | undefined }): JSX.Element | null {
  if (!props.problem) return null;
  return (
    <p class="problem" role="alert">
      <strong>{props.problem.status}</strong>: {props.problem.message}
    </p>
  );
}

export function Done(props: { text: string | undefined }): JSX.Element | null {
  return props.text ? (
    <p class="done" role="status">
      {props.text}
    </p>
  ) : null;
}

/**
 * The buttons under an edit form: `extra` first, then submit, then "Discard changes" while there
 * is an edit to discard.
 */
export function EditActions(props: { submit: string; busy: boolean; onDiscard: (() => void) | undefined; extra?: ComponentChildren }): JSX.Element {
  return (
    <div class="row">
      {props.extra}
      <button type="submit" disabled={props.busy}>
        {props.submit}
      </button>
      {props.onDiscard && (
        <button type="button" onClick={props.onDiscard}>
          Discard changes
        </button>
      )}
    </div>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren; id?: string }): JSX.Element {
  return (
    <section class="card" id={props.id} aria-labelledby={props.id ? `${props.id}-title` : undefined}>
      <header class="card-head">
        <h2 id={props.id ? `${props.id}-title` : undefined}>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

export function Time(props: { iso: string | undefined; now: number; ago: (iso: string | undefined, now: number) => string }): JSX.Element {
  return <time dateTime={props.iso} title={props.iso ?? 'never'}>{props.ago(props.iso, props.now)}</time>;
}

/**
 * The connection states of `devices` of `registry` (`devices:connections`), asked again whenever
 * `devices` or `refresh` change. `connections` is undefined until known, and when the last request
 * was refused: its `problem` is then shown, rather than every device "offline".
 */
export function useConnections(
  registry: string,
  devices: readonly { id: string }[] | undefined,
  refresh?: unknown,
): { connections: Map<string, Connection> | undefined; problem: ApiProblem | undefined } {
  const [connections, setConnections] = useState<Map<string, Connection> | undefined>(undefined);
  const [problem, setProblem] = useState<ApiProblem | undefined>(undefined);
  useEffect(() => {
    const ids = (devices ?? []).map((d) => d.id);
    if (ids.length === 0) return setConnections(new Map());
    let live = true;
    connectionsOf(registry, ids).then(
      (map) => {
        if (!live) return;
        setConnections(map);
        setProblem(undefined);
      },
      (e: unknown) => {
        if (!live) return;
        setConnections(undefined);
        setProblem(problemOfError(e));
      },
    );
    return () => {
      live = false;
    };
  }, [devices, registry, refresh]);
  return { connections, problem };
}
