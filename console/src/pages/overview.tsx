import type { JSX } from 'preact';
import { call } from '../api.js';
import { Link, Problem, Section, useInterval, useLoad } from '../ui.js';

interface Sample {
  time: string;
  connectedDevices: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  errors: number;
}

/** A small line chart of one series over the hour; no library, one SVG polyline. */
function Spark(props: { label: string; values: number[]; unit: string; testid: string }): JSX.Element {
  const w = 320;
  const h = 64;
  const peak = props.values.length ? Math.max(...props.values) : 0;
  const max = Math.max(1, peak);
  const n = props.values.length;
  const y = (v: number): number => h - (v / max) * (h - 4) - 2;
  // One sample so far: a level line, so the chart is not blank.
  const points = n === 1 ? `0,${y(props.values[0]!)} ${w},${y(props.values[0]!)}` : props.values.map((v, i) => `${(i / (n - 1)) * w},${y(v)}`).join(' ');
  const last = props.values[n - 1];
  return (
    <figure class="spark">
      <figcaption>
        <span>{props.label}</span>
        <strong data-testid={props.testid}>{last === undefined ? '—' : `${last}${props.unit}`}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} width="100%" height={h} role="img" aria-label={`${props.label} over the last hour, peak ${peak}${props.unit}`}>
        <line x1="0" y1={h - 1} x2={w} y2={h - 1} class="axis" />
        {n > 0 && <polyline points={points} class="series" />}
      </svg>
      <small>
        peak {peak}
        {props.unit}
      </small>
    </figure>
  );
}

export function OverviewPage(): JSX.Element {
  const history = useLoad(() => call<{ intervalSeconds: number; samples: Sample[] }>('GET', '/metrics/history'), []);
  useInterval(history.reload, 10_000);
  const s = history.data?.samples ?? [];
  return (
    <main id="main">
      <h1>Overview</h1>
      <Problem problem={history.problem} />
      <Section title="The last hour" id="overview-charts">
        <p class="hint">
          Sampled by the server every {history.data?.intervalSeconds ?? 10} s ({s.length} samples so far). See also <Link href="/registries">registries</Link> and{' '}
          <Link href="/telemetry">live telemetry</Link>.
        </p>
        <div class="sparks">
          <Spark label="Connected devices" values={s.map((x) => x.connectedDevices)} unit="" testid="connected" />
          <Spark label="Messages in" values={s.map((x) => x.messagesInPerSecond)} unit="/s" testid="msgs-in" />
          <Spark label="Messages out" values={s.map((x) => x.messagesOutPerSecond)} unit="/s" testid="msgs-out" />
          <Spark label="Errors" values={s.map((x) => x.errors)} unit="" testid="errors" />
        </div>
      </Section>
    </main>
  );
}
