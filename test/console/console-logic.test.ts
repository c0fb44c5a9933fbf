import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ago, fieldFor, problemOf, statusInWords } from '../../console/src/logic/api-errors.js';
import { idChunks } from '../../console/src/logic/connections.js';
import { diffLines } from '../../console/src/logic/diff.js';
import { newestOfEachDevice, packetInWords, type GatewayError } from '../../console/src/logic/gateway-errors.js';
import { asHex, bestView, formatPayload, fromBase64, toBase64, utf8 } from '../../console/src/logic/payload.js';

test('diffLines: kept, removed and added lines in unified order', () => {
  assert.deepEqual(diffLines('a\nb\nc', 'a\nx\nc\nd'), [
    { op: ' ', text: 'a' },
    { op: '-', text: 'b' },
    { op: '+', text: 'x' },
    { op: ' ', text: 'c' },
    { op: '+', text: 'd' },
  ]);
  assert.deepEqual(diffLines('same', 'same'), [{ op: ' ', text: 'same' }]);
  assert.deepEqual(diffLines('', 'new'), [
    { op: '-', text: '' },
    { op: '+', text: 'new' },
  ]);
});

test('diffLines: texts too long for the table become a wholesale replacement', () => {
  const long = Array.from({ length: 2001 }, (_, i) => String(i)).join('\n');
  const d = diffLines(long, 'x');
  assert.equal(d.filter((l) => l.op === '-').length, 2001);
  assert.deepEqual(d[d.length - 1], { op: '+', text: 'x' });
});

test('payloads: base64 round trip, JSON pretty-printed, text, hex rows, not-UTF-8 falls back to hex', () => {
  const bytes = utf8('{"t":21.5}');
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.equal(fromBase64(undefined).length, 0);
  assert.equal(formatPayload(bytes, 'json').text, '{\n  "t": 21.5\n}');
  assert.equal(formatPayload(bytes, 'text').text, '{"t":21.5}');
  assert.deepEqual(formatPayload(utf8('hello'), 'json'), { text: 'hello', note: 'Not JSON: shown as text.' });
  assert.equal(asHex(utf8('AB')), `00000000  ${'41 42'.padEnd(47)}  AB`);
  assert.equal(asHex(new Uint8Array(17)).split('\n').length, 2);
  const binary = new Uint8Array([0xff, 0x00, 0x41]);
  assert.deepEqual(formatPayload(binary, 'text'), { text: asHex(binary), note: 'Not UTF-8 text: shown as hex.' });
  assert.equal(bestView(bytes), 'json');
  assert.equal(bestView(utf8('plain')), 'text');
  assert.equal(bestView(binary), 'hex');
});

test('API errors: the field a BadRequest names goes to the input whose field is its longest prefix', () => {
  const body = JSON.stringify({
    error: {
      code: 400,
      status: 'INVALID_ARGUMENT',
      message: 'Invalid key (device.credentials[0].public_key.key).',
      details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'device.credentials[0].public_key.key', description: 'x' }] }],
    },
  });
  const p = problemOf(400, body);
  assert.deepEqual(p, { status: 'INVALID_ARGUMENT', message: 'Invalid key (device.credentials[0].public_key.key).', field: 'device.credentials[0].public_key.key', httpStatus: 400 });
  assert.equal(fieldFor(p, ['device', 'device.credentials', 'device.id']), 'device.credentials');
  assert.equal(fieldFor(p, ['device.id']), undefined);
  assert.equal(fieldFor({ ...p, field: 'device.identity' }, ['device.id']), undefined, 'a prefix must end at a field boundary');
  assert.equal(fieldFor(problemOf(404, JSON.stringify({ error: { code: 404, status: 'NOT_FOUND', message: 'gone' } })), ['device.id']), undefined);
});

test('API errors: OAuth errors, non-JSON bodies and empty bodies are described in words', () => {
  assert.deepEqual(problemOf(400, '{"error":"invalid_grant","error_description":"The key is disabled."}'), { status: 'invalid_grant', message: 'The key is disabled.', httpStatus: 400 });
  assert.equal(problemOf(502, '<html>Bad gateway</html>').message, '<html>Bad gateway</html>');
  assert.equal(problemOf(503, '').message, 'The server answered HTTP 503.');
});

test('lastErrorStatus and times in words', () => {
  assert.equal(statusInWords(undefined), 'No error recorded.');
  assert.equal(statusInWords({ code: 9, message: 'mqtt: SERVER: ATTACH_ERROR: not bound' }), 'mqtt: SERVER: ATTACH_ERROR: not bound (failed precondition)');
  assert.equal(statusInWords({ code: 99 }), '(no message) (code 99)');
  const now = Date.parse('2026-01-01T12:00:00Z');
  assert.equal(ago(undefined, now), 'never');
  assert.equal(ago('1970-01-01T00:00:00Z', now), 'never');
  assert.equal(ago('2026-01-01T11:59:30Z', now), '30 s ago');
  assert.equal(ago('2026-01-01T11:00:00Z', now), '1 h ago');
  assert.equal(ago('2026-01-01T12:00:05Z', now), 'just now');
});

test('gateway errors: the newest of each device is marked; the causing packet in words', () => {
  const e = (deviceId: string): GatewayError => ({ time: '2026-01-01T00:00:00Z', deviceId, errorType: 'GATEWAY_DEVICE_NOT_FOUND', description: 'd', delivered: true });
  assert.deepEqual(newestOfEachDevice([e('a'), e('b'), e('a'), e('c'), e('b')]), [true, true, false, true, false]);
  assert.deepEqual(newestOfEachDevice([]), []);
  assert.equal(packetInWords({ messageType: 'PUBLISH', topic: '/devices/d/events', packetId: 3 }), 'PUBLISH /devices/d/events (packet ID 3)');
  assert.equal(packetInWords({ messageType: 'PUBLISH', topic: '/devices/d/events', packetId: 0 }), 'PUBLISH /devices/d/events', 'QoS 0: no identifier');
  assert.equal(packetInWords({ messageType: 'UNSUBSCRIBE', topic: '', packetId: 7 }), 'UNSUBSCRIBE (packet ID 7)');
  assert.equal(packetInWords(undefined), undefined);
  assert.equal(packetInWords({}), undefined);
});

test('idChunks: every ID once, in order, in chunks whose encoded query and count stay under the limits', () => {
  assert.deepEqual(idChunks([]), []);
  assert.deepEqual(idChunks(['a', 'b']), [['a', 'b']]);
  // A gateway's 420 bound devices with long IDs: one request would be some 30,000 characters.
  const ids = Array.from({ length: 420 }, (_, i) => `bound-${String(i).padStart(4, '0')}-${'%'.repeat(20)}${'q'.repeat(30)}`);
  const chunks = idChunks(ids);
  assert.deepEqual(chunks.flat(), ids);
  assert.ok(chunks.length > 1);
  for (const c of chunks) {
    assert.ok(new URLSearchParams({ deviceIds: c.join(',') }).toString().length <= 6000 + 'deviceIds='.length);
    assert.ok(c.length <= 100);
  }
  assert.deepEqual(idChunks(['aaa', 'bbb', 'ccc'], 1000, 2), [['aaa', 'bbb'], ['ccc']]);
  // An ID longer than the budget still goes, alone.
  assert.deepEqual(idChunks(['x'.repeat(50), 'y'], 10), [['x'.repeat(50)], ['y']]);
});
