import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { call, v1 } from '../api.js';
import { ago } from '../logic/api-errors.js';
import { newestOfEachDevice, packetInWords, type GatewayError } from '../logic/gateway-errors.js';
import type { Device } from '../types.js';
import { Done, Field, Link, pageOf, Problem, Section, Time, useForm, useConnections, useInterval, useLoad } from '../ui.js';

/**
 * A gateway: the devices bound to it, which of them are attached through it right now, binding
 * and unbinding, and the messages the bridge sent it on its errors topic (docs/compat.md
 * C-CONSOLE-GATEWAY-ERRORS).
 */
export function GatewaySection(props: { gateway: Device; now: number }): JSX.Element {
  const gw = props.gateway;
  const registry = gw.name.split('/').slice(0, 6).join('/');
  const bound = useLoad(
    () =>
      call<{ devices?: Device[] }>('GET', `${v1(registry)}/devices`, {
        query: { 'gatewayListOptions.associationsGatewayId': gw.id, pageSize: 500 },
      }).then((r) => r.devices ?? []),
    [gw.name],
  );
  const errors = useLoad(() => call<{ errors?: GatewayError[] }>('GET', `${v1(gw.name)}:gatewayErrors`).then((r) => r.errors ?? []), [gw.name]);
  // Each (re)load of the bound devices is followed by their connection states.
  const { connections, problem: connectionProblem } = useConnections(registry, bound.data);
  const refresh = (): void => {
    bound.reload();
    errors.reload();
  };
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
  const attached = devices.filter((d) => connections?.get(d.id)?.gatewayId === gw.id);
  return (
    <>
      <Section title="Bound devices" id="gateway-bound">
        <Problem problem={bound.problem} />
        <Problem problem={connectionProblem} />
        <p data-testid="attached-count">
          {connections
            ? `${attached.length} of ${devices.length} bound device${devices.length === 1 ? '' : 's'} attached now.`
            : `${devices.length} bound device${devices.length === 1 ? '' : 's'}; which are attached is not known.`}
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
              const c = connections?.get(d.id);
              const through = !connections ? 'unknown' : c?.connected ? (c.gatewayId === gw.id ? 'attached' : c.gatewayId ? `via ${c.gatewayId}` : 'connected directly') : 'no';
              return (
                <tr key={d.id}>
                  <td>
                    <Link href={pageOf(`${registry}/devices/${d.id}`)}>{d.id}</Link>
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
        <p class="hint">
          What the bridge reported to the gateway on its errors topic, newest first ("not delivered": the gateway was not subscribed to it). The last
          100 are kept by the node that held the gateway's session, until an hour after it disconnected; a restart forgets them.
        </p>
        <Problem problem={errors.problem} />
        {errors.data?.length === 0 && <p>No errors sent to this gateway.</p>}
        <GatewayErrorList errors={errors.data ?? []} registry={registry} now={props.now} />
      </Section>
    </>
  );
}

function GatewayErrorList(props: { errors: GatewayError[]; registry: string; now: number }): JSX.Element {
  const newest = newestOfEachDevice(props.errors);
  return (
    <ul class="plain gateway-errors" aria-label="Errors sent to the gateway">
      {props.errors.map((e, i) => {
        const packet = packetInWords(e.mqttMessageInfo);
        return (
          // Errors carry no ID; the list is replaced whole on each poll, so the position is key enough.
          <li key={i} data-testid={newest[i] ? `gateway-error-${e.deviceId}` : undefined}>
            <div class="error-head">
              <Time iso={e.time} now={props.now} ago={ago} /> <Link href={pageOf(`${props.registry}/devices/${e.deviceId}`)}>{e.deviceId}</Link>{' '}
              <code class="mono" data-testid="error-type">
                {e.errorType}
              </code>
              {!e.delivered && (
                <span class="badge blocked" title="The gateway was not subscribed to its errors topic.">
                  not delivered
                </span>
              )}
            </div>
            <div>{e.description}</div>
            {packet && <div class="small mono">{packet}</div>}
          </li>
        );
      })}
    </ul>
  );
}
