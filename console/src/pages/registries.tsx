import type { JSX } from 'preact';
import { call, locationName, v1 } from '../api.js';
import type { Registry } from '../types.js';
import { Link, navigate, pageOf, Problem, Section, useForm, useLoad } from '../ui.js';
import { REGISTRY_FIELDS, RegistryForm, registryBody } from './registry-form.js';

export function RegistriesPage(): JSX.Element {
  const list = useLoad(async () => {
    const all: Registry[] = [];
    let pageToken: string | undefined;
    do {
      const page = await call<{ deviceRegistries?: Registry[]; nextPageToken?: string }>('GET', `${v1(locationName())}/registries`, { query: { pageSize: 500, pageToken } });
      all.push(...(page.deviceRegistries ?? []));
      pageToken = page.nextPageToken;
    } while (pageToken && all.length < 5000);
    return all;
  }, []);
  const form = useForm(REGISTRY_FIELDS);
  return (
    <main id="main">
      <h1>Registries</h1>
      <Section title="All registries" id="registries-list">
        <Problem problem={list.problem} />
        {list.data && list.data.length === 0 && <p>No registries in {locationName()} yet.</p>}
        {list.data && list.data.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">Telemetry topic</th>
                <th scope="col">State topic</th>
                <th scope="col">MQTT</th>
                <th scope="col">HTTP</th>
                <th scope="col">Log level</th>
                <th scope="col">CA certs</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((r) => (
                <tr key={r.name}>
                  <td>
                    <Link href={pageOf(r.name)}>{r.id}</Link>
                  </td>
                  <td class="mono">{(r.eventNotificationConfigs ?? []).map((c) => `${c.subfolderMatches ? `${c.subfolderMatches}: ` : ''}${c.pubsubTopicName ?? ''}`).join(', ') || '—'}</td>
                  <td class="mono">{r.stateNotificationConfig?.pubsubTopicName ?? '—'}</td>
                  <td>{r.mqttConfig?.mqttEnabledState === 'MQTT_DISABLED' ? 'off' : 'on'}</td>
                  <td>{r.httpConfig?.httpEnabledState === 'HTTP_DISABLED' ? 'off' : 'on'}</td>
                  <td>{r.logLevel ?? 'NONE'}</td>
                  <td>{r.credentials?.length ?? 0}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Create a registry" id="registry-create">
        <RegistryForm
          form={form}
          initial={undefined}
          submitLabel="Create registry"
          onSubmit={(d) =>
            void form.submit(async () => {
              const created = await call<Registry>('POST', `${v1(locationName())}/registries`, { body: registryBody(d, undefined) });
              navigate(pageOf(created.name));
            })
          }
        />
      </Section>
    </main>
  );
}
