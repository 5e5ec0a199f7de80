/** The host's display decoder agrees with the tokenizer's decodeToken (the reference) on every GPT-2 id. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeToken, GPT2_VOCAB_SIZE } from '../../src/engine/tokenizer';
import { tokenText } from '../../src/viewModels/tokenText';

test('tokenText equals decodeToken for all 50257 ids', () => {
  let mismatches = 0;
  let first = '';
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
    const a = tokenText(id);
    const b = decodeToken(id);
    if (a !== b) {
      mismatches++;
      first ||= `id ${id}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
    }
  }
  assert.equal(mismatches, 0, first);
  assert.equal(tokenText(464), 'The');
  assert.equal(tokenText(262), ' the');
  assert.equal(tokenText(50256), '<|endoftext|>');
});

test('ids outside the vocabulary show as #id', () => {
  assert.equal(tokenText(50257), '#50257');
  assert.equal(tokenText(-1), '#-1');
  assert.equal(tokenText(1.5), '#1.5');
});
