import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEnvelope, encodeEnvelope } from '../../../src/adapters/jetstream/message-envelope.js';
import type { SinkMessage } from '../../../src/services/ports.js';
import { JetStreamNames, subjectToken } from '../../../src/adapters/jetstream/jetstream-names.js';

describe('JetStream message envelope', () => {
  it('round-trips attributes with any Unicode, empty data, ordering keys and times', () => {
    const cases: SinkMessage[] = [
      { topic: 'projects/p/topics/t', attributes: {}, data: new Uint8Array(), publishTime: 0 },
      {
        topic: 'projects/p/topics/t',
        attributes: { deviceId: 'd-1', 'x\ny': 'line\r\nbreak', é: '日本語', empty: '' },
        data: new Uint8Array([0, 255, 10, 13]),
        publishTime: Date.UTC(2030, 0, 1, 12, 0, 0, 123),
        orderingKey: 'key-ü',
      },
    ];
    for (const m of cases) {
      const d = decodeEnvelope(encodeEnvelope(m));
      assert.equal(d.publishTime, m.publishTime);
      assert.equal(d.orderingKey, m.orderingKey ?? '');
      assert.deepEqual(d.attributes, m.attributes);
      assert.deepEqual([...d.data], [...m.data]);
    }
  });

  it('keeps an attribute named __proto__ as an ordinary own attribute', () => {
    // A computed key defines an own property, as a device's attribute named so must stay.
    const attributes = { ['__proto__']: 'own', constructor: 'c' };
    const d = decodeEnvelope(encodeEnvelope({ topic: 'projects/p/topics/t', attributes, data: new Uint8Array(), publishTime: 1 }));
    assert.deepEqual(Object.keys(d.attributes).sort(), ['__proto__', 'constructor']);
    assert.equal(Object.getOwnPropertyDescriptor(d.attributes, '__proto__')?.value, 'own');
    assert.equal(Object.getPrototypeOf(d.attributes), Object.prototype);
  });

  it('refuses truncated and foreign bytes instead of inventing a message', () => {
    const full = encodeEnvelope({ topic: 'projects/p/topics/t', attributes: { a: 'bcd' }, data: new Uint8Array([1]), publishTime: 5 });
    // Every prefix that cuts into the header or the attribute is refused (the data is the rest).
    const headerAndAttribute = 1 + 8 + 2 + 2 + (2 + 1 + 4 + 3);
    for (let n = 0; n < headerAndAttribute; n++) assert.throws(() => decodeEnvelope(full.subarray(0, n)), /truncated|version/);
    assert.throws(() => decodeEnvelope(new TextEncoder().encode('{"json":"from someone else"}')), /version/);
  });
});

describe('JetStream names', () => {
  const names = new JetStreamNames();
  it('subjects are valid NATS tokens and distinct for distinct topics', () => {
    const topics = ['projects/p/topics/a.b', 'projects/p/topics/a%2Eb', 'projects/example.com:proj/topics/t~+%x', 'projects/p/topics/a_b'];
    const subjects = topics.map((t) => names.subjectOf(t));
    assert.equal(new Set(subjects).size, topics.length);
    for (const s of subjects) {
      assert.match(s, /^bh\.ev\.[^.*> \t]+\.[^.*> \t]+$/);
    }
    assert.equal(subjectToken('a.b'), 'a%2Eb');
    assert.equal(names.subjectOf('projects/p/topics/t'), 'bh.ev.p.t');
  });
  it('stream names are valid and one per project', () => {
    assert.equal(names.streamOf('projects/p/topics/a'), names.streamOf('projects/p/topics/b'));
    assert.notEqual(names.streamOf('projects/p/topics/a'), names.streamOf('projects/q/topics/a'));
    assert.match(names.streamOfProject('example.com:proj'), /^bh_[A-Za-z0-9_-]+$/);
    // Two installations sharing a NATS account: distinct prefixes, distinct streams and subjects.
    const other = new JetStreamNames('site2');
    assert.notEqual(other.streamOf('projects/p/topics/a'), names.streamOf('projects/p/topics/a'));
    assert.notEqual(other.subjectOf('projects/p/topics/a'), names.subjectOf('projects/p/topics/a'));
    assert.match(names.consumerOf('projects/p/subscriptions/s'), /^sub_[0-9a-f]{40}$/);
  });
});
