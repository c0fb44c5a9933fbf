import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JetStreamNames } from '../../../src/adapters/jetstream/jetstream-names.js';

/**
 * natsPrefix exists so that installations can share one NATS account (src/config/schema.ts). Stream
 * names are account-wide: two installations that both have a project "my-project" (staging and
 * production, say) must not ask for one stream with two different subject sets, or the second
 * installation's telemetry has nowhere to go.
 */
test('two prefixes give the same project two different streams', () => {
  assert.notEqual(new JetStreamNames('staging').streamOfProject('my-project'), new JetStreamNames('prod').streamOfProject('my-project'));
});

test('the default prefix keeps its stream names', () => {
  assert.equal(new JetStreamNames().streamOfProject('my-project'), 'BH_my-project');
});
