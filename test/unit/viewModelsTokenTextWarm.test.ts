import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeToken } from '../../src/engine/tokenizer';
import { tokenText, warmTokenTexts } from '../../src/viewModels/tokenText';

// Its own file (own process): the sliced warm-up must build the table before any tokenText call.
test('the sliced warm-up builds the same table as decodeToken, for all 50257 ids', async () => {
  // Another task queued now must run before the warm-up ends: the warm-up yields between slices.
  let otherTaskRan = false;
  setImmediate(() => (otherTaskRan = true));
  await warmTokenTexts(4096);
  assert.ok(otherTaskRan, 'the warm-up should yield to the event loop between slices');
  for (let id = 0; id < 50257; id++) assert.equal(tokenText(id), decodeToken(id), `id ${id}`);
  await warmTokenTexts(); // idempotent
  assert.equal(tokenText(50256), '<|endoftext|>');
});
