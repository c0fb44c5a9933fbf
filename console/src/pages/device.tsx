import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { call, callWithEtag, v1 } from '../api.js';
import { ago, statusInWords } from '../logic/api-errors.js';
import { diffLines } from '../logic/diff.js';
import { asHex, asText, formatPayload, fromBase64, toBase64, utf8 } from '../logic/payload.js';
import { isGateway, type Connection, type Credential, type Device, type DeviceConfig, type DeviceState } from '../types.js';
import { Done, EditActions, Field, Link, pageOf, Problem, Section, Time, useForm, useInterval, useLoad, useNow } from '../ui.js';
import { GatewaySection } from './gateway.js';

const registryOf = (deviceName: string): string => deviceName.split('/').slice(0, 6).join('/');
const textOf = (b64: string | undefined): string => {
  const bytes = fromBase64(b64);
  return asText(bytes) ?? `(binary, ${bytes.length} bytes)`;
};

export function DevicePage(props: { deviceName: string }): JSX.Element {
  const name = props.deviceName;
  const registry = registryOf(name);
  const deviceId = name.split('/').pop() ?? '';
  const loaded = useLoad(() => callWithEtag<Device>('GET', v1(name)), [name]);
  const device = { ...loaded, data: loaded.data?.data };
  // Writes of what was read (credentials, metadata, blocked) are conditional on it: a change made
  // meanwhile by someone else is refused (ABORTED), not overwritten.
  const etag = loaded.data?.etag;
  const configs = useLoad(() => call<{ deviceConfigs?: DeviceConfig[] }>('GET', `${v1(name)}/configVersions`).then((r) => r.deviceConfigs ?? []), [name]);
  const states = useLoad(() => call<{ deviceStates?: DeviceState[] }>('GET', `${v1(name)}/states`).then((r) => r.deviceStates ?? []), [name]);
  const connection = useLoad(() => call<Connection>('GET', `${v1(name)}:connection`), [name]);
  // Live: connection status, last* times and config acks follow the device.
  useInterval(() => {
    connection.reload();
    device.reload();
    configs.reload();
    states.reload();
  }, 2000);
  const now = useNow(2000);
  const d = device.data;

  return (
    <main id="main">
      <nav aria-label="Breadcrumb" class="crumbs">
        <Link href="/registries">Registries</Link> / <Link href={pageOf(registry)}>{registry.split('/').pop()}</Link> / <span>{deviceId}</span>
      </nav>
      <h1>
        {isGateway(d) ? 'Gateway' : 'Device'} {deviceId}{' '}
        <span class={`badge ${connection.data?.connected ? 'on' : 'off'}`} role="status" aria-live="polite" data-testid="connection">
          {connection.data?.connected ? (connection.data.gatewayId ? `online via ${connection.data.gatewayId}` : 'online') : 'offline'}
        </span>
        {d?.blocked && <span class="badge blocked">blocked</span>}
      </h1>
      {!d && <Problem problem={device.problem} />}
      {d && (
        <div class="columns">
          <div>
            <Overview device={d} etag={etag} now={now} onChanged={device.reload} />
            <Credentials device={d} etag={etag} now={now} onChanged={device.reload} />
            <Command device={d} />
          </div>
          <div>
            {isGateway(d) ? <GatewaySection gateway={d} now={now} /> : <GatewaysOf device={d} />}
            <Configs device={d} configs={configs.data ?? []} now={now} onChanged={() => (configs.reload(), device.reload())} />
            <States states={states.data ?? []} now={now} />
          </div>
        </div>
      )}
    </main>
  );
}

/** One metadata entry as edited; values may hold newlines and surrounding spaces, kept as they are. */
interface MetadataRow {
  key: string;
  value: string;
}

function Overview(props: { device: Device; etag: string | undefined; now: number; onChanged: () => void }): JSX.Element {
  const d = props.device;
  const form = useForm(['device.metadata', 'device.blocked', 'device.log_level']);
  // While not being edited the form follows the device as it reloads; once edited, it holds the
  // rows and the ETag of the version they started from, so a save over someone else's change
  // meanwhile is refused (ABORTED) rather than overwriting it.
  const [edit, setEdit] = useState<{ rows: MetadataRow[]; etag: string | undefined } | undefined>();
  const shown = Object.entries(d.metadata ?? {}).map(([key, value]) => ({ key, value }));
  const rows = edit?.rows ?? shown;
  const change = (f: (rows: MetadataRow[]) => MetadataRow[]): void => setEdit({ rows: f(rows), etag: edit ? edit.etag : props.etag });
  const setRow = (i: number, row: Partial<MetadataRow>): void => change((rs) => rs.map((r, j) => (j === i ? { ...r, ...row } : r)));
  const stale = edit !== undefined && edit.etag !== props.etag;
  const times: [string, string | undefined][] = [
    ['Last heartbeat', d.lastHeartbeatTime],
    ['Last event', d.lastEventTime],
    ['Last state', d.lastStateTime],
    ['Last config sent', d.lastConfigSendTime],
    ['Last config ack', d.lastConfigAckTime],
    ['Last error', d.lastErrorTime],
  ];
  const patch = (body: Record<string, unknown>, mask: string, done: string, ifMatch = props.etag, saved?: () => void): void =>
    void form.submit(async () => {
      try {
        await call('PATCH', v1(d.name), { body, query: { updateMask: mask }, ifMatch });
        saved?.();
      } finally {
        props.onChanged();
      }
      return done;
    });
  const saveMetadata = (): void => {
    // A row left wholly empty (added, never filled) is no entry; anything else goes as typed, for the API to judge.
    const entries = rows.filter((r) => r.key !== '' || r.value !== '').map((r) => [r.key, r.value] as const);
    const twice = entries.find(([k], i) => entries.findIndex(([other]) => other === k) !== i);
    if (twice) {
      void form.submit(() => Promise.reject(new Error(`The key "${twice[0]}" is there twice: a key holds one value.`)));
      return;
    }
    patch({ metadata: Object.fromEntries(entries) }, 'metadata', 'Metadata saved.', edit ? edit.etag : props.etag, () => setEdit(undefined));
  };
  const metadataError = form.errorFor('device.metadata');
  return (
    <Section title="Status and metadata" id="device-overview">
      <dl class="facts">
        <dt>numId</dt>
        <dd class="mono">{d.numId}</dd>
        {times.map(([label, iso]) => (
          <>
            <dt>{label}</dt>
            <dd>
              <Time iso={iso} now={props.now} ago={ago} />
            </dd>
          </>
        ))}
        <dt>Last error status</dt>
        <dd data-testid="last-error">{statusInWords(d.lastErrorStatus)}</dd>
        <dt>Log level</dt>
        <dd>{d.logLevel ?? 'registry default'}</dd>
      </dl>
      <div class="actions">
        <button type="button" class={d.blocked ? '' : 'danger'} onClick={() => patch({ blocked: !d.blocked }, 'blocked', d.blocked ? 'Unblocked.' : 'Blocked: its connection is closed.')}>
          {d.blocked ? 'Unblock device' : 'Block device'}
        </button>
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          saveMetadata();
        }}
      >
        <fieldset class={`metadata${metadataError ? ' has-error' : ''}`}>
          <legend>Metadata</legend>
          {rows.length === 0 && <p class="hint">No metadata.</p>}
          {rows.map((r, i) => (
            <div class="metadata-row" key={i}>
              <input aria-label={`Metadata key ${i + 1}`} class="mono" spellcheck={false} value={r.key} onInput={(e) => setRow(i, { key: e.currentTarget.value })} />
              <textarea
                aria-label={`Metadata value ${i + 1}`}
                rows={Math.min(6, r.value.split('\n').length)}
                spellcheck={false}
                value={r.value}
                onInput={(e) => setRow(i, { value: e.currentTarget.value })}
              />
              <button type="button" class="small" aria-label={`Remove metadata key ${i + 1}`} onClick={() => change((rs) => rs.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          ))}
          {metadataError && (
            <p class="field-error" role="alert">
              {metadataError}
            </p>
          )}
          {stale && (
            <p class="hint" data-testid="metadata-stale">
              The device changed since you started editing: saving will be refused. Discard your changes to see its metadata now.
            </p>
          )}
        </fieldset>
        <Problem problem={form.general} />
        <Done text={form.done} />
        <EditActions
          submit="Save metadata"
          busy={form.busy}
          onDiscard={edit && (() => setEdit(undefined))}
          extra={
            <button type="button" onClick={() => change((rs) => [...rs, { key: '', value: '' }])}>
              Add metadata key
            </button>
          }
        />
      </form>
    </Section>
  );
}

function Credentials(props: { device: Device; etag: string | undefined; now: number; onChanged: () => void }): JSX.Element {
  const d = props.device;
  const creds = d.credentials ?? [];
  const form = useForm(['device.credentials']);
  const [format, setFormat] = useState('ES256_PEM');
  const [key, setKey] = useState('');
  const [expires, setExpires] = useState('');
  const save = (next: Credential[], done: string): Promise<void> =>
    form.submit(async () => {
      try {
        await call('PATCH', v1(d.name), { body: { credentials: next }, query: { updateMask: 'credentials' }, ifMatch: props.etag });
      } finally {
        props.onChanged();
      }
      return done;
    });
  return (
    <Section title="Credentials" id="device-credentials">
      {creds.length === 0 && <p>No credentials: the device cannot connect.</p>}
      <ul class="plain">
        {creds.map((c, i) => {
          const exp = c.expirationTime && Date.parse(c.expirationTime) > 0 ? c.expirationTime : undefined;
          const expired = exp !== undefined && Date.parse(exp) < props.now;
          return (
            <li key={i} class="cred">
              <span class="mono">{c.publicKey?.format}</span> <span class="mono small">{(c.publicKey?.key ?? '').replace(/-----[^-]+-----|\s/g, '').slice(0, 24)}…</span>{' '}
              <span class={expired ? 'bad' : ''}>{exp ? `${expired ? 'expired' : 'expires'} ${exp}` : 'never expires'}</span>{' '}
              <button type="button" class="danger small" aria-label={`Remove credential ${i + 1}`} onClick={() => void save(creds.filter((_, j) => j !== i), 'Credential removed.')}>
                Remove
              </button>
            </li>
          );
        })}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const added: Credential = { publicKey: { format, key: key.trim() }, ...(expires ? { expirationTime: new Date(expires).toISOString() } : {}) };
          void save([...creds, added], 'Credential added.').then(() => setKey(''));
        }}
      >
        <div class="grid2">
          <Field label="Key format">
            {(id) => (
              <select id={id} value={format} onChange={(e) => setFormat(e.currentTarget.value)}>
                {['ES256_PEM', 'ES256_X509_PEM', 'RSA_PEM', 'RSA_X509_PEM'].map((f) => (
                  <option value={f}>{f}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Expires (optional)">{(id) => <input id={id} type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />}</Field>
        </div>
        <Field label="Public key (PEM)" error={form.errorFor('device.credentials')}>
          {(id, by) => <textarea id={id} aria-describedby={by} rows={3} spellcheck={false} value={key} onInput={(e) => setKey(e.currentTarget.value)} />}
        </Field>
        <Problem problem={form.general} />
        <Done text={form.done} />
        <button type="submit" disabled={form.busy}>
          Add credential
        </button>
      </form>
    </Section>
  );
}

function Configs(props: { device: Device; configs: DeviceConfig[]; now: number; onChanged: () => void }): JSX.Element {
  const { device, configs } = props;
  const latest = configs[0];
  const latestBytes = fromBase64(latest?.binaryData);
  // undefined: binary, which a text editor cannot hold; its bytes are shown beside it, read-only.
  const latestText = asText(latestBytes);
  // Untouched, the editor follows the latest version; once typed in, it keeps the text and the
  // version the edit started from, sent as versionToUpdate: a version pushed meanwhile by someone
  // else makes the server refuse the push instead of it being overwritten.
  const [edit, setEdit] = useState<{ text: string; base: string | undefined } | undefined>(undefined);
  const editor = edit?.text ?? latestText ?? '';
  const base = edit ? edit.base : latest?.version;
  const form = useForm(['binary_data', 'version_to_update']);
  const [left, setLeft] = useState<string>('');
  const [right, setRight] = useState<string>('');
  const versionText = (v: string): string => textOf(configs.find((c) => c.version === v)?.binaryData);
  const a = left || configs[1]?.version || '';
  const b = right || latest?.version || '';
  return (
    <Section title="Configuration" id="device-config">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(async () => {
            // Pushing the untouched, empty editor would replace the binary config with nothing.
            if (!edit && latestText === undefined) throw new Error(`Version ${latest?.version ?? ''} is binary and cannot be edited as text: type the new config to replace it.`);
            const saved = await call<DeviceConfig>('POST', `${v1(device.name)}:modifyCloudToDeviceConfig`, {
              body: { binaryData: toBase64(utf8(editor)), ...(base ? { versionToUpdate: base } : {}) },
            });
            setEdit(undefined);
            props.onChanged();
            return `Version ${saved.version} pushed.`;
          });
        }}
      >
        <Field
          label="Config (new version)"
          error={form.errorFor('binary_data') ?? form.errorFor('version_to_update')}
          hint={`Sent to the device as UTF-8; replaces version ${base ?? '(none yet)'}.`}
        >
          {(id, by) => (
            <textarea id={id} aria-describedby={by} rows={5} spellcheck={false} class="mono" value={editor} onInput={(e) => setEdit({ text: e.currentTarget.value, base })} />
          )}
        </Field>
        {latest && latestText === undefined && (
          <div class="field">
            <span class="hint">
              Version {latest.version} is binary ({latestBytes.length} bytes), shown as hex:
            </span>
            <pre class="payload mono" aria-label={`Version ${latest.version} as hex`} data-testid="config-binary">
              {asHex(latestBytes)}
            </pre>
          </div>
        )}
        {edit && latest && edit.base !== latest.version && (
          <p class="hint" data-testid="config-stale">
            Version {latest.version} arrived since you started editing version {edit.base}: pushing will be refused. Discard your changes to start from it.
          </p>
        )}
        <Problem problem={form.general} />
        <Done text={form.done} />
        <EditActions submit="Push new version" busy={form.busy} onDiscard={edit && (() => setEdit(undefined))} />
      </form>
      <h3>History</h3>
      <table class="compact">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Updated</th>
            <th scope="col">Device ack</th>
            <th scope="col">Data</th>
          </tr>
        </thead>
        <tbody>
          {configs.map((c) => (
            <tr key={c.version}>
              <td>{c.version}</td>
              <td>
                <Time iso={c.cloudUpdateTime} now={props.now} ago={ago} />
              </td>
              <td data-testid={`ack-${c.version}`}>{c.deviceAckTime ? <Time iso={c.deviceAckTime} now={props.now} ago={ago} /> : 'not acknowledged'}</td>
              <td class="mono clip">{textOf(c.binaryData)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {configs.length > 1 && (
        <div class="diff-box">
          <h3>Compare versions</h3>
          <div class="row">
            <Field label="From version">
              {(id) => (
                <select id={id} value={a} onChange={(e) => setLeft(e.currentTarget.value)}>
                  {configs.map((c) => (
                    <option value={c.version}>{c.version}</option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="To version">
              {(id) => (
                <select id={id} value={b} onChange={(e) => setRight(e.currentTarget.value)}>
                  {configs.map((c) => (
                    <option value={c.version}>{c.version}</option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <pre class="diff" aria-label={`Differences from version ${a} to ${b}`}>
            {diffLines(versionText(a), versionText(b)).map((l) => (
              <div class={l.op === '+' ? 'add' : l.op === '-' ? 'del' : ''}>
                {l.op} {l.text}
              </div>
            ))}
          </pre>
        </div>
      )}
    </Section>
  );
}

function States(props: { states: DeviceState[]; now: number }): JSX.Element {
  return (
    <Section title="State history" id="device-states">
      {props.states.length === 0 && <p>The device has reported no state.</p>}
      <ul class="plain">
        {props.states.map((s) => (
          <li key={s.updateTime}>
            <Time iso={s.updateTime} now={props.now} ago={ago} />
            <pre>{formatPayload(fromBase64(s.binaryData), 'json').text}</pre>
          </li>
        ))}
      </ul>
    </Section>
  );
}

function Command(props: { device: Device }): JSX.Element {
  const form = useForm(['binary_data', 'subfolder']);
  const [data, setData] = useState('');
  const [subfolder, setSubfolder] = useState('');
  return (
    <Section title="Send a command" id="device-command">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit(async () => {
            await call('POST', `${v1(props.device.name)}:sendCommandToDevice`, { body: { binaryData: toBase64(utf8(data)), ...(subfolder.trim() ? { subfolder: subfolder.trim() } : {}) } });
            return 'Command delivered.';
          });
        }}
      >
        <div class="grid2">
          <Field label="Command (text)" error={form.errorFor('binary_data')}>
            {(id, by) => <input id={id} aria-describedby={by} value={data} onInput={(e) => setData(e.currentTarget.value)} />}
          </Field>
          <Field label="Subfolder (optional)" error={form.errorFor('subfolder')}>
            {(id, by) => <input id={id} aria-describedby={by} value={subfolder} onInput={(e) => setSubfolder(e.currentTarget.value)} />}
          </Field>
        </div>
        <Problem problem={form.general} />
        <Done text={form.done} />
        <button type="submit" disabled={form.busy}>
          Send command
        </button>
      </form>
    </Section>
  );
}

/** A non-gateway device: the gateways it is bound to. */
function GatewaysOf(props: { device: Device }): JSX.Element {
  const registry = registryOf(props.device.name);
  const list = useLoad(
    () => call<{ devices?: Device[] }>('GET', `${v1(registry)}/devices`, { query: { 'gatewayListOptions.associationsDeviceId': props.device.id, pageSize: 100 } }).then((r) => r.devices ?? []),
    [props.device.name],
  );
  return (
    <Section title="Bound to gateways" id="device-gateways">
      <Problem problem={list.problem} />
      {list.data?.length === 0 && <p>Not bound to any gateway.</p>}
      <ul class="plain">
        {(list.data ?? []).map((g) => (
          <li key={g.id}>
            <Link href={pageOf(`${registry}/devices/${g.id}`)}>{g.id}</Link>
          </li>
        ))}
      </ul>
    </Section>
  );
}
