import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseJetStreamAckId } from '../../../src/adapters/jetstream/jetstream-ack-id.js';

describe('JetStream ack IDs (reply subjects)', () => {
  test('both reply subject forms parse; the delivery count, stream seq and pending are read', () => {
    assert.deepEqual(parseJetStreamAckId('$JS.ACK.BH_p.sub_ab12.3.42.7.1796472409504486591.5'), {
      stream: 'BH_p',
      consumer: 'sub_ab12',
      deliveryCount: 3,
      streamSeq: 42,
      pending: 5,
    });
    assert.deepEqual(parseJetStreamAckId('$JS.ACK.hub.ACCHASH.BH_p.sub_ab12.1.9.9.1796472409504486591.0.rnd'), {
      stream: 'BH_p',
      consumer: 'sub_ab12',
      deliveryCount: 1,
      streamSeq: 9,
      pending: 0,
    });
  });

  test('anything else is refused: wildcards, other prefixes, missing or non-numeric tokens, spaces, huge input', () => {
    for (const bad of [
      undefined,
      42,
      '',
      'garbage',
      '$JS.ACK.>',
      '$JS.ACK.*.*.1.1.1.1.1',
      '$JS.ACK.S.c.1.1.1.1',
      '$JS.ACK.S.c.x.1.1.1.1',
      '$JS.ACK.S.c.1.0.1.1.1',
      '$JS.ACK.S.c.0.1.1.1.1',
      '$JS.ACK.S.c.1.1.1.1.1 ',
      '$JS.ACK.S c.1.1.1.1.1',
      '$JS.API.CONSUMER.DELETE.S.c.1.1.1',
      `$JS.ACK.S.${'c'.repeat(2000)}.1.1.1.1.1`,
    ]) {
      assert.equal(parseJetStreamAckId(bad), undefined, String(bad));
    }
  });
});
