import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { attach, gatewayFleet } from './gateway-harness.js';
import { connack, Harness, publish, subscribe } from './harness.js';

/**
 * Our own bugs stay with the connection that hits them (docs/compat.md C-MQTT-FAULTS): an exception
 * while handling any answer to the session's requests (an auth result, a store read, a packet held
 * behind an attach), a stored message or a call from another session is logged at error and
 * closes that connection only (internal-error), and never reaches the caller: the I/O shell, the
 * ingress, the directory. Faults are injected into the real services the session uses; answers are
 * fed as the shell feeds them (ManualPorts).
 */

interface LogLine {
  level: number;
  msg: string;
}

/** Routes the harness's log (sessions opened from now on) into an array. */
function captureLog(h: Harness): LogLine[] {
  const lines: LogLine[] = [];
  h.env.log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return lines;
}

const errorsIn = (lines: readonly LogLine[]): string[] => lines.filter((l) => l.level >= 50).map((l) => l.msg);

const boom = (): never => {
  throw new Error('injected fault');
};

describe('exceptions are contained at the connection', () => {
  test('in the authentication continuation: that connection closes (internal-error), the next device connects', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    await h.addDevice('dev-2');
    const log = captureLog(h);
    const heartbeat = h.activity.heartbeat.bind(h.activity);
    h.activity.heartbeat = boom;
    const c = await h.connect('dev-1');
    assert.ok(c.transport.closes > 0);
    assert.deepEqual(h.metrics.reasons, ['internal-error']);
    assert.deepEqual(errorsIn(log), ['bug while handling an I/O answer; closing the connection']);
    // The session let go of its device: nothing of it stays registered.
    c.session.socketClosed('socket-closed');
    assert.equal(h.directory.size, 0);
    h.activity.heartbeat = heartbeat;
    await h.connected('dev-2');
  });

  test('in a config read continuation: closed with internal-error', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1', { config: Buffer.from('c') });
    const log = captureLog(h);
    const { session, transport } = await h.connected('dev-1');
    h.activity.configSent = boom;
    session.handle(subscribe(1, ['/devices/dev-1/config', 1]));
    assert.equal(transport.closes, 0, 'the SUBACK went out; the config waits for its read');
    await h.io.answer(h.io.take('config', session));
    assert.ok(transport.closes > 0);
    assert.deepEqual(h.metrics.reasons, ['internal-error']);
    assert.deepEqual(errorsIn(log), ['bug while handling an I/O answer; closing the connection']);
  });

  test('in a packet held behind an attach: the gateway closes with internal-error', async () => {
    const h = await gatewayFleet({ bound: ['dev-a'] });
    const log = captureLog(h);
    const gw = await h.connected('gw-1');
    // Only the held publish's count fails: the attach itself is counted when it arrives.
    const count = h.metrics.messageIn.bind(h.metrics);
    h.metrics.messageIn = (kind, qos, slot) => (kind === 'events' ? boom() : count(kind, qos, slot));
    // The publish waits for the attach and is handled when the attach's lookup is answered.
    gw.send(attach('dev-a', 1), publish('/devices/dev-a/events', 'x', 1, 2));
    assert.equal(gw.transport.closes, 0);
    await h.io.answer(h.io.take('attach', gw.session));
    assert.ok(gw.transport.closes > 0);
    assert.deepEqual(h.metrics.reasons, ['internal-error']);
    assert.deepEqual(errorsIn(log), ['bug while handling an I/O answer; closing the connection']);
  });

  test('in the stored callback (the PUBACK cannot be sent): closed with internal-error', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const log = captureLog(h);
    const { session, transport } = await h.connected('dev-1');
    const send = transport.send.bind(transport);
    transport.send = (p) => (p.cmd === 'puback' ? boom() : send(p));
    session.handle(publish('/devices/dev-1/events', 'x', 1, 1));
    // The ingress calls `stored` itself: it must not see the exception.
    h.io.commitNextEvent();
    assert.ok(transport.closes > 0);
    assert.deepEqual(h.metrics.reasons, ['internal-error']);
    assert.deepEqual(errorsIn(log), ['bug while acknowledging stored messages; closing the connection']);
  });

  test("in another session's close during a takeover: the old connection still closes, the new one connects", async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const old = await h.connected('dev-1');
    // Recording the takeover on the old session's device fails half-way through its close.
    h.activity.error = boom;
    const fresh = await h.connect('dev-1');
    assert.deepEqual(fresh.transport.take(), [connack(0)]);
    assert.equal(fresh.session.phase, 'connected');
    assert.ok(old.transport.closes > 0, 'the old socket is closed even though its close failed');
    assert.equal(h.directory.get(h.numId('dev-1')), fresh.session);
  });
});
