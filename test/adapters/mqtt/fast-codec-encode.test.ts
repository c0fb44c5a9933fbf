import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt-packet';
import { connackBytes, PINGRESP_BYTES, PUBACK_BYTES, writePuback } from '../../../src/adapters/mqtt/fast-codec.js';

/** The packets the bridge encodes itself are byte for byte what mqtt-packet generates. */
test('pre-encoded CONNACKs are what mqtt-packet generates, for every MQTT 3.1.1 return code', () => {
  for (let rc = 0; rc <= 5; rc++) {
    assert.deepEqual(connackBytes(rc, false), mqtt.generate({ cmd: 'connack', returnCode: rc, sessionPresent: false }), `return code ${rc}`);
  }
});

test('anything else is left to mqtt-packet: session present, unknown or missing return codes', () => {
  assert.equal(connackBytes(0, true), undefined);
  assert.equal(connackBytes(6, false), undefined);
  assert.equal(connackBytes(undefined, false), undefined);
});

test('PUBACK and PINGRESP are what mqtt-packet generates', () => {
  for (const id of [1, 255, 256, 0x1234, 65_535]) {
    const out = Buffer.alloc(PUBACK_BYTES + 2, 0xee);
    assert.equal(writePuback(out, 1, id), 1 + PUBACK_BYTES);
    assert.deepEqual(out.subarray(1, 1 + PUBACK_BYTES), mqtt.generate({ cmd: 'puback', messageId: id }), `id ${id}`);
    assert.equal(out[0], 0xee);
    assert.equal(out[5], 0xee);
  }
  assert.deepEqual(PINGRESP_BYTES, mqtt.generate({ cmd: 'pingresp' }));
});
