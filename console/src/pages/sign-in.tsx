import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { call, setSession, type Session } from '../api.js';
import { exchangeKey, parseKeyFile } from '../sign-in-key.js';
import { Field, Problem, useForm } from '../ui.js';

/**
 * Sign-in with the admin token or a service-account key file. The credential is checked with one
 * real API call (listing the location's registries) before the console opens.
 */
export function SignIn(props: { onSignedIn: (s: Session) => void; reason?: string | undefined }): JSX.Element {
  const [mode, setMode] = useState<'token' | 'key'>('token');
  const [token, setToken] = useState('');
  const [keyText, setKeyText] = useState('');
  const [project, setProject] = useState('');
  const [location, setLocation] = useState('us-central1');
  const form = useForm(['token', 'key', 'project', 'location']);
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});

  const submit = (e: Event): void => {
    e.preventDefault();
    const errors: Record<string, string> = {};
    let key: ReturnType<typeof parseKeyFile> | undefined;
    if (mode === 'token' && token.trim() === '') errors.token = 'Enter the admin token.';
    if (mode === 'key') {
      try {
        key = parseKeyFile(keyText);
      } catch (err) {
        errors.key = (err as Error).message;
      }
    }
    const proj = project.trim() || key?.project_id || '';
    if (proj === '') errors.project = 'Enter the project ID.';
    if (location.trim() === '') errors.location = 'Enter the location (region).';
    setLocalErrors(errors);
    if (Object.keys(errors).length) return;
    void form.submit(async () => {
      const bearer = key ? (await exchangeKey(key)).accessToken : token.trim();
      await call('GET', `/v1/projects/${encodeURIComponent(proj)}/locations/${encodeURIComponent(location.trim())}/registries`, { token: bearer, query: { pageSize: 1 } });
      const s: Session = { token: bearer, project: proj, location: location.trim(), who: key ? key.client_email : 'admin token' };
      setSession(s);
      props.onSignedIn(s);
    });
  };

  return (
    <main id="main" class="sign-in">
      <h1>Bridgehead console</h1>
      <form onSubmit={submit} class="card" aria-label="Sign in">
        {props.reason && <p class="problem">{props.reason}</p>}
        <fieldset class="tabs">
          <legend>Sign in with</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'token'} onChange={() => setMode('token')} /> Admin token
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'key'} onChange={() => setMode('key')} /> Service-account key
          </label>
        </fieldset>
        {mode === 'token' ? (
          <Field label="Admin token" error={localErrors.token ?? form.errorFor('token')} hint="Kept in this tab only (sessionStorage), never in the address bar.">
            {(id, d) => <input id={id} aria-describedby={d} type="password" autoComplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} />}
          </Field>
        ) : (
          <Field label="Key file (JSON)" error={localErrors.key} hint="Signed here in the browser; the private key is not sent.">
            {(id, d) => (
              <div>
                <textarea id={id} aria-describedby={d} rows={6} spellcheck={false} value={keyText} onInput={(e) => setKeyText(e.currentTarget.value)} />
                <input
                  type="file"
                  accept="application/json,.json"
                  aria-label="Load the key file"
                  onChange={(e) => {
                    const file = e.currentTarget.files?.[0];
                    if (file) void file.text().then(setKeyText);
                  }}
                />
              </div>
            )}
          </Field>
        )}
        <div class="row">
          <Field label="Project" error={localErrors.project}>
            {(id, d) => <input id={id} aria-describedby={d} value={project} onInput={(e) => setProject(e.currentTarget.value)} />}
          </Field>
          <Field label="Location" error={localErrors.location}>
            {(id, d) => <input id={id} aria-describedby={d} value={location} onInput={(e) => setLocation(e.currentTarget.value)} />}
          </Field>
        </div>
        <Problem problem={form.problem} />
        <button type="submit" disabled={form.busy}>
          {form.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
