import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Registry } from '../types.js';
import { Done, Field, Problem, type FormState } from '../ui.js';

/** The editable settings of a registry, as the form holds them. */
export interface RegistryDraft {
  id: string;
  eventTopic: string;
  stateTopic: string;
  mqtt: boolean;
  http: boolean;
  logLevel: string;
  certificates: string;
}

export const draftOf = (r: Registry | undefined): RegistryDraft => ({
  id: r?.id ?? '',
  eventTopic: r?.eventNotificationConfigs?.find((c) => !c.subfolderMatches)?.pubsubTopicName ?? r?.eventNotificationConfigs?.[0]?.pubsubTopicName ?? '',
  stateTopic: r?.stateNotificationConfig?.pubsubTopicName ?? '',
  mqtt: r?.mqttConfig?.mqttEnabledState !== 'MQTT_DISABLED',
  http: r?.httpConfig?.httpEnabledState !== 'HTTP_DISABLED',
  logLevel: r?.logLevel ?? 'NONE',
  certificates: (r?.credentials ?? []).map((c) => c.publicKeyCertificate?.certificate?.trim() ?? '').join('\n'),
});

/** The registry message of a draft; subfolder-specific event topics the form does not show are kept. */
export function registryBody(d: RegistryDraft, before: Registry | undefined): Record<string, unknown> {
  const pems = d.certificates.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? (d.certificates.trim() ? [d.certificates.trim()] : []);
  const kept = (before?.eventNotificationConfigs ?? []).filter((c) => c.subfolderMatches);
  return {
    ...(before ? {} : { id: d.id.trim() }),
    eventNotificationConfigs: [...kept, ...(d.eventTopic.trim() ? [{ pubsubTopicName: d.eventTopic.trim() }] : [])],
    stateNotificationConfig: d.stateTopic.trim() ? { pubsubTopicName: d.stateTopic.trim() } : {},
    mqttConfig: { mqttEnabledState: d.mqtt ? 'MQTT_ENABLED' : 'MQTT_DISABLED' },
    httpConfig: { httpEnabledState: d.http ? 'HTTP_ENABLED' : 'HTTP_DISABLED' },
    logLevel: d.logLevel,
    credentials: pems.map((certificate) => ({ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate } })),
  };
}

export const REGISTRY_FIELDS = [
  'device_registry.id',
  'device_registry.event_notification_configs',
  'device_registry.state_notification_config',
  'device_registry.mqtt_config',
  'device_registry.http_config',
  'device_registry.log_level',
  'device_registry.credentials',
] as const;

export function RegistryForm(props: { form: FormState; initial: Registry | undefined; onSubmit: (d: RegistryDraft) => void; submitLabel: string }): JSX.Element {
  const [d, setD] = useState<RegistryDraft>(() => draftOf(props.initial));
  const set = <K extends keyof RegistryDraft>(k: K, v: RegistryDraft[K]): void => setD((x) => ({ ...x, [k]: v }));
  const f = props.form;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit(d);
      }}
    >
      <div class="grid2">
        {!props.initial && (
          <Field label="Registry ID" error={f.errorFor('device_registry.id')}>
            {(id, by) => <input id={id} aria-describedby={by} required value={d.id} onInput={(e) => set('id', e.currentTarget.value)} />}
          </Field>
        )}
        <Field label="Telemetry topic" error={f.errorFor('device_registry.event_notification_configs')} hint="projects/PROJECT/topics/TOPIC">
          {(id, by) => <input id={id} aria-describedby={by} value={d.eventTopic} onInput={(e) => set('eventTopic', e.currentTarget.value)} />}
        </Field>
        <Field label="State topic" error={f.errorFor('device_registry.state_notification_config')}>
          {(id, by) => <input id={id} aria-describedby={by} value={d.stateTopic} onInput={(e) => set('stateTopic', e.currentTarget.value)} />}
        </Field>
        <Field label="Log level" error={f.errorFor('device_registry.log_level')}>
          {(id, by) => (
            <select id={id} aria-describedby={by} value={d.logLevel} onChange={(e) => set('logLevel', e.currentTarget.value)}>
              {['NONE', 'ERROR', 'INFO', 'DEBUG'].map((l) => (
                <option value={l}>{l}</option>
              ))}
            </select>
          )}
        </Field>
        <div class="checks">
          <label>
            <input type="checkbox" checked={d.mqtt} onChange={(e) => set('mqtt', e.currentTarget.checked)} /> MQTT enabled
          </label>
          <label>
            <input type="checkbox" checked={d.http} onChange={(e) => set('http', e.currentTarget.checked)} /> HTTP enabled
          </label>
          {(f.errorFor('device_registry.mqtt_config') ?? f.errorFor('device_registry.http_config')) && (
            <p class="field-error" role="alert">
              {f.errorFor('device_registry.mqtt_config') ?? f.errorFor('device_registry.http_config')}
            </p>
          )}
        </div>
      </div>
      <Field label="CA certificates (PEM)" error={f.errorFor('device_registry.credentials')} hint="Device certificates must be signed by one of these, if any are given.">
        {(id, by) => <textarea id={id} aria-describedby={by} rows={3} spellcheck={false} value={d.certificates} onInput={(e) => set('certificates', e.currentTarget.value)} />}
      </Field>
      <Problem problem={f.general} />
      <Done text={f.done} />
      <button type="submit" disabled={f.busy}>
        {props.submitLabel}
      </button>
    </form>
  );
}
