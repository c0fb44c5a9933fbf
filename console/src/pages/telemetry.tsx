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

/**
 * Reads the event log's Server-Sent Events stream (GET …/messages:stream) with fetch: EventSource
 * cannot send the Authorization header, and the token must not go into the URL.
 */
async function tail(topic: string, signal: AbortSignal, onMessage: (m: Message) => void): Promise<void> {
  const [, project, , t] = topic.split('/');
  const res = await fetch(`/v1/projects/${encodeURIComponent(project ?? '')}/topics/${encodeURIComponent(t ?? '')}/messages:stream`, {
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
  const [state, setState] = useState<'idle' | 'open' | 'closed'>('idle');
  const [problem, setProblem] = useState<ApiProblem | undefined>();
  const abort = useRef<AbortController | undefined>(undefined);
  const valid = /^projects\/[^/]+\/topics\/[^/]+$/.test(props.topic);

  useEffect(() => {
    if (!valid) return;
    const ctl = new AbortController();
    abort.current = ctl;
    setMessages([]);
    setProblem(undefined);
    setState('open');
    tail(props.topic, ctl.signal, (m) => setMessages((list) => [m, ...list].slice(0, MAX_SHOWN))).then(
      () => setState('closed'),
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        setState('closed');
        setProblem(e instanceof Error ? { status: 'UNAVAILABLE', message: `The stream ended: ${e.message}`, httpStatus: 0 } : (e as ApiProblem));
      },
    );
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
          {state === 'open' && (
            <button type="button" onClick={() => (abort.current?.abort(), setState('closed'))}>
              Stop
            </button>
          )}
        </form>
        <p role="status" aria-live="polite">
          {state === 'open' ? `Listening on ${props.topic}: new messages appear at the top.` : state === 'closed' ? 'Stopped.' : 'Choose a topic.'}
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
