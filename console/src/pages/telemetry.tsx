import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { session } from '../api.js';
import { problemOf, type ApiProblem } from '../logic/api-errors.js';
import { bestView, formatPayload, fromBase64, type PayloadView } from '../logic/payload.js';
import { Field, navigate, Problem, Section } from '../ui.js';

interface Message {
  messageId: string;
  publishTime: string;
  attributes: Record<string, string>;
  data: string;
}

const MAX_SHOWN = 200;
const RECONNECT_MS = 2000;

/**
 * Reads the event log's Server-Sent Events stream (GET …/messages:stream) with fetch: EventSource
 * cannot send the Authorization header, and the token must not go into the URL.
 */
async function tail(topic: string, after: string | undefined, signal: AbortSignal, onMessage: (m: Message) => void): Promise<void> {
  const [, project, , t] = topic.split('/');
  const query = after === undefined ? '' : `?after=${encodeURIComponent(after)}`;
  const res = await fetch(`/v1/projects/${encodeURIComponent(project ?? '')}/topics/${encodeURIComponent(t ?? '')}/messages:stream${query}`, {
    headers: { authorization: `Bearer ${session()?.token ?? ''}`, accept: 'text/event-stream' },
    signal,
  });
  if (!res.ok || !res.body) throw problemOf(res.status, await res.text());
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data) onMessage(JSON.parse(data) as Message);
    }
  }
}

export function TelemetryPage(props: { topic: string }): JSX.Element {
  const [topic, setTopic] = useState(props.topic);
  const [view, setView] = useState<'auto' | PayloadView>('auto');
  const [messages, setMessages] = useState<Message[]>([]);
  const [state, setState] = useState<'idle' | 'open' | 'reconnecting' | 'closed'>('idle');
  const [problem, setProblem] = useState<ApiProblem | undefined>();
  const abort = useRef<AbortController | undefined>(undefined);
  const valid = /^projects\/[^/]+\/topics\/[^/]+$/.test(props.topic);

  useEffect(() => {
    if (!valid) return;
    const ctl = new AbortController();
    abort.current = ctl;
    setMessages([]);
    setProblem(undefined);
    // A stream that drops (server restart, network) is reopened after the last message seen, so
    // none is missed or shown twice; a refusal (bad topic, no permission) stops it, in words.
    const run = async (): Promise<void> => {
      let after: string | undefined;
      while (!ctl.signal.aborted) {
        setState('open');
        try {
          await tail(props.topic, after, ctl.signal, (m) => {
            after = m.messageId;
            setMessages((list) => [m, ...list].slice(0, MAX_SHOWN));
          });
        } catch (e) {
          if (ctl.signal.aborted) return;
          if (!(e instanceof Error)) {
            setProblem(e as ApiProblem);
            if ((e as ApiProblem).httpStatus < 500) return setState('closed');
          }
        }
        if (ctl.signal.aborted) return;
        setState('reconnecting');
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    };
    void run();
    return () => ctl.abort();
  }, [props.topic, valid]);

  return (
    <main id="main">
      <h1>Live telemetry</h1>
      <Section title="Tail a topic" id="tail-form">
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            navigate(`/telemetry?topic=${encodeURIComponent(topic.trim())}`);
          }}
        >
          <Field
            label="Pub/Sub topic"
            hint="projects/PROJECT/topics/TOPIC: the topic a registry sends telemetry to"
            error={topic.trim() && !/^projects\/[^/]+\/topics\/[^/]+$/.test(topic.trim()) ? 'A topic name has the form projects/PROJECT/topics/TOPIC.' : undefined}
          >
            {(id, by) => <input id={id} aria-describedby={by} class="wide" value={topic} onInput={(e) => setTopic(e.currentTarget.value)} />}
          </Field>
          <Field label="Show payload as">
            {(id) => (
              <select id={id} value={view} onChange={(e) => setView(e.currentTarget.value as typeof view)}>
                <option value="auto">Best guess</option>
                <option value="json">JSON</option>
                <option value="text">Text</option>
                <option value="hex">Hex</option>
              </select>
            )}
          </Field>
          <button type="submit">Tail</button>
          {(state === 'open' || state === 'reconnecting') && (
            <button type="button" onClick={() => (abort.current?.abort(), setState('closed'))}>
              Stop
            </button>
          )}
        </form>
        <p role="status" aria-live="polite">
          {state === 'open'
            ? `Listening on ${props.topic}: new messages appear at the top.`
            : state === 'reconnecting'
              ? 'The stream dropped; reconnecting…'
              : state === 'closed'
                ? 'Stopped.'
                : 'Choose a topic.'}
        </p>
        <Problem problem={problem} />
      </Section>
      <Section title={`Messages (${messages.length})`} id="tail-messages">
        <ol class="messages" aria-live="polite">
          {messages.map((m) => {
            const bytes = fromBase64(m.data);
            const shown = formatPayload(bytes, view === 'auto' ? bestView(bytes) : view);
            return (
              <li key={m.messageId}>
                <div class="meta">
                  <span class="mono">#{m.messageId}</span> <time dateTime={m.publishTime}>{m.publishTime}</time>{' '}
                  {Object.entries(m.attributes).map(([k, v]) => (
                    <span class="attr">
                      {k}={v}
                    </span>
                  ))}
                </div>
                {shown.note && <small>{shown.note}</small>}
                <pre class="payload">{shown.text}</pre>
              </li>
            );
          })}
        </ol>
      </Section>
    </main>
  );
}
