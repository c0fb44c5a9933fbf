import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, v1 } from '../api.js';
import { ago, statusInWords } from '../logic/api-errors.js';
import type { Connection, Device } from '../types.js';
import { Done, Field, Link, Problem, Section, Time, useForm, useInterval, useLoad } from '../ui.js';

/**
 * A gateway: the devices bound to it, which of them are attached through it right now, binding
 * and unbinding, and the errors it was sent on its errors topic (each is also recorded as the
 * affected device's lastErrorStatus, which is what is read here).
 */
export function GatewaySection(props: { gateway: Device; now: number }): JSX.Element {
  const gw = props.gateway;
  const registry = gw.name.split('/').slice(0, 6).join('/');
  const bound = useLoad(
    () =>
      call<{ devices?: Device[] }>('GET', `${v1(registry)}/devices`, {
        query: { 'gatewayListOptions.associationsGatewayId': gw.id, pageSize: 500, fieldMask: 'lastErrorTime,lastErrorStatus,blocked' },
      }).then((r) => r.devices ?? []),
    [gw.name],
  );
  const [connections, setConnections] = useState<Map<string, Connection>>(new Map());
  // Each (re)load of the bound devices is followed by their connection states.
  useEffect(() => {
    const ids = (bound.data ?? []).map((d) => d.id);
    if (ids.length === 0) return setConnections(new Map());
    let live = true;
    call<{ connections: Connection[] }>('GET', `${v1(registry)}/devices:connections`, { query: { deviceIds: ids.join(',') } }).then(
      (r) => live && setConnections(new Map(r.connections.map((c) => [c.deviceId, c]))),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [bound.data, registry]);
  const refresh = bound.reload;
  useInterval(refresh, 2000);
  const form = useForm(['device_id', 'gateway_id']);
  const [deviceId, setDeviceId] = useState('');
  const bind = (verb: 'bindDeviceToGateway' | 'unbindDeviceFromGateway', id: string, done: string): Promise<void> =>
    form.submit(async () => {
      await call('POST', `${v1(registry)}:${verb}`, { body: { gatewayId: gw.id, deviceId: id } });
      refresh();
      return done;
    });
  const devices = bound.data ?? [];
  const attached = devices.filter((d) => connections.get(d.id)?.gatewayId === gw.id);
  // The gateway's own and its bound devices' latest errors, newest first.
  const errors = [gw, ...devices]
    .filter((d) => d.lastErrorStatus?.message || d.lastErrorStatus?.code)
    .sort((x, y) => Date.parse(y.lastErrorTime ?? '') - Date.parse(x.lastErrorTime ?? ''));
  return (
    <>
      <Section title="Bound devices" id="gateway-bound">
        <Problem problem={bound.problem} />
        <p data-testid="attached-count">
          {attached.length} of {devices.length} bound device{devices.length === 1 ? '' : 's'} attached now.
        </p>
        <table class="compact">
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Attached</th>
              <th scope="col" aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => {
              const c = connections.get(d.id);
              const through = c?.connected ? (c.gatewayId === gw.id ? 'attached' : c.gatewayId ? `via ${c.gatewayId}` : 'connected directly') : 'no';
              return (
                <tr key={d.id}>
                  <td>
                    <Link href={`/${registry}/devices/${d.id}`}>{d.id}</Link>
                  </td>
                  <td data-testid={`attached-${d.id}`}>{through}</td>
                  <td>
                    <button type="button" class="small" aria-label={`Unbind ${d.id}`} onClick={() => void bind('unbindDeviceFromGateway', d.id, `${d.id} unbound.`)}>
                      Unbind
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void bind('bindDeviceToGateway', deviceId.trim(), `${deviceId.trim()} bound.`).then(() => setDeviceId(''));
          }}
        >
          <Field label="Bind a device (ID)" error={form.errorFor('device_id') ?? form.errorFor('gateway_id')}>
            {(id, by) => <input id={id} aria-describedby={by} value={deviceId} onInput={(e) => setDeviceId(e.currentTarget.value)} />}
          </Field>
          <Problem problem={form.general} />
          <Done text={form.done} />
          <button type="submit" disabled={form.busy}>
            Bind device
          </button>
        </form>
      </Section>
      <Section title="Gateway errors" id="gateway-errors">
        <p class="hint">What the gateway was told on its errors topic, as recorded on each device concerned (its latest error).</p>
        {errors.length === 0 && <p>No errors recorded for the gateway or its bound devices.</p>}
        <ul class="plain">
          {errors.map((d) => (
            <li key={d.id} data-testid={`gateway-error-${d.id}`}>
              <Time iso={d.lastErrorTime} now={props.now} ago={ago} /> <strong>{d.id}</strong>: {statusInWords(d.lastErrorStatus)}
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}
