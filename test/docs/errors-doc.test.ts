import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_REASONS } from '../../src/domain/error-reasons.js';
import { ERROR_KINDS } from '../../src/domain/errors.js';

const DOC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/errors.md');

test('docs/errors.md lists exactly the reasons of the catalogue, each with its code, HTTP status and gRPC code', () => {
  const rows = [...readFileSync(DOC, 'utf8').matchAll(/^\| `([A-Z_]+)` \| ([A-Z_]+) \| (\d+) \| (\d+) \|/gm)];
  const documented = new Map(rows.map((m) => [m[1]!, { kind: m[2]!, http: Number(m[3]), grpc: Number(m[4]) }]));
  assert.equal(rows.length, documented.size, 'a reason is listed twice');
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_REASONS).sort());
  for (const [reason, kind] of Object.entries(ERROR_REASONS)) {
    assert.deepEqual(documented.get(reason), { kind, http: ERROR_KINDS[kind].http, grpc: ERROR_KINDS[kind].grpc }, reason);
  }
});
