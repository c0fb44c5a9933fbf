import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isImportableNumId, MAX_IMPORTED_NUM_ID } from '../../src/domain/fleet-import-rules.js';

describe('isImportableNumId', () => {
  it("keeps Cloud IoT's numIds and everything up to the bound", () => {
    for (const s of ['1', '2716000000000001', '3000000000000000', String(MAX_IMPORTED_NUM_ID)]) assert.equal(isImportableNumId(s), true, s);
  });

  it('leaves room below 2^53−1 for devices created after the import (C-IMPORT-NUMID)', () => {
    assert.equal(MAX_IMPORTED_NUM_ID, 2 ** 53 - 2 ** 20);
    for (const s of [String(MAX_IMPORTED_NUM_ID + 1), String(Number.MAX_SAFE_INTEGER), '9007199254740992', '99999999999999999']) {
      assert.equal(isImportableNumId(s), false, s);
    }
  });

  it('refuses what is not a positive decimal integer', () => {
    for (const s of ['0', '-1', '01', '1.5', '1e3', ' 1', '', 'abc']) assert.equal(isImportableNumId(s), false, JSON.stringify(s));
  });
});
