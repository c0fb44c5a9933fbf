import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { call, v1 } from '../api.js';
import { ago } from '../logic/api-errors.js';
import { isGateway, type Device, type Registry } from '../types.js';
import { Done, Field, Link, navigate, pageOf, Problem, Section, Time, useForm, useConnections, useInterval, useLoad, useNow } from '../ui.js';
import { REGISTRY_FIELDS, RegistryForm, registryBody } from './registry-form.js';

const PAGE_SIZE = 50;
const LIST_MASK = 'blocked,gatewayConfig,lastEventTime,lastHeartbeatTime,lastErrorTime';

/** A registry: its devices (paged, by ID prefix, filtered) and its settings. */
export function DevicesPage(props: { registryName: string }): JSX.Element {
  const name = props.registryName;
  const registry = useLoad(() => call<Registry>('GET', v1(name)), [name]);
  const [prefix, setPrefix] = useState('');
  const [applied, setApplied] = useState('');
  const [kind, setKind] = useState<'' | 'GATEWAY' | 'NON_GATEWAY'>('');
  const [blocked, setBlocked] = useState<'' | 'blocked' | 'active'>('');
  // Tokens of the pages before the current one, for "Previous".
  const [tokens, setTokens] = useState<(string | undefined)[]>([undefined]);
  const token = tokens[tokens.length - 1];
  const page = useLoad(
    () =>
      call<{ devices?: Device[]; nextPageToken?: string }>('GET', `${v1(name)}/devices`, {
        query: {
          pageSize: PAGE_SIZE,
          pageToken: token,
          deviceIdPrefix: applied,
          fieldMask: LIST_MASK,
          'gatewayListOptions.gatewayType': kind,
          blocked: blocked === '' ? undefined : blocked === 'blocked',
        },
      }),
    [name, token, applied, kind, blocked],
  );
  const devices = page.data?.devices ?? [];
  const [tick, setTick] = useState(0);
  // The page's devices' connection states: when the page changes, and every few seconds.
  const { connections: online, problem: onlineProblem } = useConnections(name, page.data?.devices, tick);
  useInterval(() => setTick((t) => t + 1), 3000);
  const now = useNow();
  const settings = useForm(REGISTRY_FIELDS);
  const create = useForm(['device.id', 'device.credentials', 'device.gateway_config']);
  const [newId, setNewId] = useState('');
  const [newKey, setNewKey] = useState('');
  const [newFormat, setNewFormat] = useState('ES256_PEM');
  const [newGateway, setNewGateway] = useState(false);

  const reset = (f: () => void): void => {
    f();
    setTokens([undefined]);
  };

  return (
    <main id="main">
      <nav aria-label="Breadcrumb" class="crumbs">
        <Link href="/registries">Registries</Link> / <span>{name.split('/').pop()}</span>
      </nav>
      <h1>Registry {name.split('/').pop()}</h1>
      <Problem problem={registry.problem} />
      <Section title="Devices" id="devices-list">
        <form
          class="filters"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            reset(() => setApplied(prefix.trim()));
          }}
        >
          <Field label="Device ID starts with" error={page.problem?.field === 'device_id_prefix' ? page.problem.message : undefined}>
            {(id, by) => <input id={id} aria-describedby={by} type="search" value={prefix} onInput={(e) => setPrefix(e.currentTarget.value)} />}
          </Field>
          <Field label="Kind">
            {(id) => (
              <select id={id} value={kind} onChange={(e) => reset(() => setKind(e.currentTarget.value as typeof kind))}>
                <option value="">All devices</option>
                <option value="GATEWAY">Gateways</option>
                <option value="NON_GATEWAY">Non-gateways</option>
              </select>
            )}
          </Field>
          <Field label="Blocked">
            {(id) => (
              <select id={id} value={blocked} onChange={(e) => reset(() => setBlocked(e.currentTarget.value as typeof blocked))}>
                <option value="">Any</option>
                <option value="blocked">Blocked</option>
                <option value="active">Not blocked</option>
              </select>
            )}
          </Field>
          <button type="submit">Search</button>
        </form>
        {page.problem?.field !== 'device_id_prefix' && <Problem problem={page.problem} />}
        <Problem problem={onlineProblem} />
        <table aria-busy={page.loading}>
          <thead>
            <tr>
              <th scope="col">Device ID</th>
              <th scope="col">Online now</th>
              <th scope="col">Kind</th>
              <th scope="col">Blocked</th>
              <th scope="col">Last event</th>
              <th scope="col">Last heartbeat</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => {
              const c = online?.get(d.id);
              return (
                <tr key={d.numId}>
                  <td>
                    <Link href={pageOf(`${name}/devices/${d.id}`)}>{d.id}</Link>
                  </td>
                  <td>
                    <span class={`dot ${c?.connected ? 'on' : 'off'}`} aria-hidden="true" />
                    {!online ? 'unknown' : c?.connected ? (c.gatewayId ? `online via ${c.gatewayId}` : 'online') : 'offline'}
                  </td>
                  <td>{isGateway(d) ? 'gateway' : 'device'}</td>
                  <td>{d.blocked ? 'blocked' : ''}</td>
                  <td>
                    <Time iso={d.lastEventTime} now={now} ago={ago} />
                  </td>
                  <td>
                    <Time iso={d.lastHeartbeatTime} now={now} ago={ago} />
                  </td>
                  <td>
                    <Time iso={d.lastErrorTime} now={now} ago={ago} />
                  </td>
                </tr>
              );
            })}
            {!page.loading && devices.length === 0 && (
              <tr>
                <td colSpan={7}>No devices match.</td>
              </tr>
            )}
          </tbody>
        </table>
        <div class="pager">
          <button type="button" disabled={tokens.length <= 1} onClick={() => setTokens((t) => t.slice(0, -1))}>
            Previous page
          </button>
          <span>Page {tokens.length}</span>
          <button type="button" disabled={!page.data?.nextPageToken} onClick={() => setTokens((t) => [...t, page.data?.nextPageToken])}>
            Next page
          </button>
        </div>
      </Section>
      <Section title="Add a device" id="device-create">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create.submit(async () => {
              const body: Record<string, unknown> = { id: newId.trim() };
              if (newKey.trim()) body.credentials = [{ publicKey: { format: newFormat, key: newKey.trim() } }];
              if (newGateway) body.gatewayConfig = { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' };
              const created = await call<Device>('POST', `${v1(name)}/devices`, { body });
              navigate(pageOf(`${name}/devices/${created.id}`));
            });
          }}
        >
          <div class="grid2">
            <Field label="Device ID" error={create.errorFor('device.id')}>
              {(id, by) => <input id={id} aria-describedby={by} value={newId} onInput={(e) => setNewId(e.currentTarget.value)} />}
            </Field>
            <Field label="Key format">
              {(id) => (
                <select id={id} value={newFormat} onChange={(e) => setNewFormat(e.currentTarget.value)}>
                  {['ES256_PEM', 'ES256_X509_PEM', 'RSA_PEM', 'RSA_X509_PEM'].map((f) => (
                    <option value={f}>{f}</option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <Field label="Public key (PEM, optional)" error={create.errorFor('device.credentials')}>
            {(id, by) => <textarea id={id} aria-describedby={by} rows={3} spellcheck={false} value={newKey} onInput={(e) => setNewKey(e.currentTarget.value)} />}
          </Field>
          <label class="inline">
            <input type="checkbox" checked={newGateway} onChange={(e) => setNewGateway(e.currentTarget.checked)} /> Gateway (devices bound to it may attach through it)
          </label>
          {create.errorFor('device.gateway_config') && <p class="field-error">{create.errorFor('device.gateway_config')}</p>}
          <Problem problem={create.general} />
          <button type="submit" disabled={create.busy}>
            Create device
          </button>
        </form>
      </Section>
      {registry.data && (
        <Section title="Registry settings" id="registry-settings">
          <RegistryForm
            key={registry.data.name}
            form={settings}
            initial={registry.data}
            submitLabel="Save settings"
            onSubmit={(d) =>
              void settings.submit(async () => {
                await call('PATCH', v1(name), {
                  body: registryBody(d, registry.data),
                  query: { updateMask: 'eventNotificationConfigs,stateNotificationConfig,mqttConfig,httpConfig,logLevel,credentials' },
                });
                return 'Saved.';
              })
            }
          />
          <Done text={undefined} />
        </Section>
      )}
    </main>
  );
}
