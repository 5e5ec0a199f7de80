/** The experiment messages (patching panel, ablation) through the webview validator: good ones pass, hostile ones are refused with a reason. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAblateHeadArg } from '../../src/protocol/patchingView';
import { MAX_STATE_TEXT_CHARS, parsePatchingPanelState, parseWebviewMessage, WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';

const v = WEBVIEW_PROTOCOL_VERSION;

function refused(raw: unknown, reason: RegExp): void {
  const r = parseWebviewMessage(raw);
  assert.equal(r.ok, false, `expected ${JSON.stringify(raw)} to be refused`);
  if (!r.ok) assert.match(r.error, reason);
}

describe('experiment messages', () => {
  const good = [
    { v, type: 'ready', view: 'patching' },
    { v, type: 'patchPick', sessionId: 2, kind: 'heads_by_pos', row: 4, col: 13 },
    { v, type: 'patchCancel', sessionId: 0 },
    { v, type: 'patchExportCsv', sessionId: 1 },
    { v, type: 'patchAddHead', sessionId: 1, layer: 9, head: 11 },
    { v, type: 'ablate', layer: 1, head: 0, mode: 'zero' },
    { v, type: 'ablate', layer: 0, head: 3, mode: 'mean' },
    { v, type: 'removeIntervention', index: 0 },
  ];
  for (const msg of good) {
    test(`accepts ${JSON.stringify(msg)}`, () => assert.deepEqual(parseWebviewMessage(msg), { ok: true, value: msg }));
  }
  test('extra fields are dropped', () => {
    assert.deepEqual(parseWebviewMessage({ v, type: 'ablate', layer: 1, head: 0, mode: 'zero', hook: 'x' }), { ok: true, value: { v, type: 'ablate', layer: 1, head: 0, mode: 'zero' } });
  });
  test('hostile fields are refused', () => {
    refused({ v, type: 'patchPick', sessionId: 1, kind: 'resid_post', row: 0, col: 0 }, /patchPick: unknown map kind/);
    refused({ v, type: 'patchPick', sessionId: 1, kind: '__proto__', row: 0, col: 0 }, /patchPick: unknown map kind/);
    refused({ v, type: 'patchPick', sessionId: 1, kind: 'heads', row: -1, col: 0 }, /patchPick: row must be a non-negative integer/);
    refused({ v, type: 'patchPick', sessionId: 1, kind: 'heads', row: 0, col: 1e300 }, /patchPick: col/);
    refused({ v, type: 'patchCancel' }, /patchCancel: sessionId/);
    refused({ v, type: 'patchAddHead', sessionId: 1, layer: 0 }, /patchAddHead: head must be a non-negative integer/);
    refused({ v, type: 'patchExportCsv', sessionId: '1' }, /patchExportCsv: sessionId/);
    refused({ v, type: 'ablate', layer: 1, head: 0, mode: 'scale' }, /ablate: mode must be zero or mean/);
    refused({ v, type: 'ablate', layer: 1.5, head: 0, mode: 'zero' }, /ablate: layer/);
    refused({ v, type: 'removeIntervention', index: NaN }, /removeIntervention: index/);
    refused({ v, type: 'ready', view: 'patchingX' }, /unknown view/);
  });
});

describe('residualLens.ablateHead argument', () => {
  test('absent: ask; mode defaults to zero', () => {
    assert.deepEqual(parseAblateHeadArg(undefined), { ok: true, value: undefined });
    assert.deepEqual(parseAblateHeadArg({ layer: 1, head: 0 }), { ok: true, value: { layer: 1, head: 0, mode: 'zero' } });
    assert.deepEqual(parseAblateHeadArg({ layer: 1, head: 2, mode: 'mean', x: 1 }), { ok: true, value: { layer: 1, head: 2, mode: 'mean' } });
  });
  test('bad arguments', () => {
    assert.deepEqual(parseAblateHeadArg([1, 0]), { ok: false, error: 'ablateHead: the argument must be {layer, head, mode}' });
    assert.deepEqual(parseAblateHeadArg({ layer: -1, head: 0 }), { ok: false, error: 'ablateHead: layer must be a non-negative integer' });
    assert.deepEqual(parseAblateHeadArg({ layer: 0, head: 0, mode: 'half' }), { ok: false, error: 'ablateHead: mode must be zero or mean' });
  });
});

describe('parsePatchingPanelState (what a reloaded window gives the patching panel back)', () => {
  const good = { clean: 'When Mary and John went to the store, John gave a drink to', corrupted: 'When Mary and John went to the store, Mary gave a drink to', correct: { id: 5335, text: ' Mary' }, wrong: { id: 1757, text: ' John' } };
  test('a saved comparison passes, extra fields dropped', () => {
    assert.deepEqual(parsePatchingPanelState({ ...good, extra: 1, correct: { ...good.correct, prob: 0.5 } }), { ok: true, value: good });
  });
  test('where each prompt sat comes back with it (either may be absent: a typed prompt)', () => {
    const linked = { ...good, cleanSource: { uri: 'file:///w/ioi.txt', offset: 0 }, corruptedSource: { uri: 'file:///w/ioi.txt', offset: 61 } };
    assert.deepEqual(parsePatchingPanelState(linked), { ok: true, value: linked });
    const cleanOnly = { ...good, cleanSource: linked.cleanSource };
    assert.deepEqual(parsePatchingPanelState(cleanOnly), { ok: true, value: cleanOnly });
  });
  const bad: [string, unknown, RegExp][] = [
    ['not an object', 'x', /not an object/],
    ['null', null, /not an object/],
    ['an empty prompt', { ...good, clean: '' }, /clean must be a non-empty string/],
    ['a prompt that is not text', { ...good, corrupted: 42 }, /corrupted must be a non-empty string/],
    ['a prompt too long', { ...good, clean: 'a'.repeat(MAX_STATE_TEXT_CHARS + 1) }, /clean too long/],
    ['no answer', { ...good, wrong: undefined }, /wrong must hold a token id/],
    ['a negative token id', { ...good, correct: { id: -1, text: 'x' } }, /correct must hold a token id/],
    ['a fractional token id', { ...good, correct: { id: 1.5, text: 'x' } }, /correct must hold a token id/],
    ['an answer without its text', { ...good, wrong: { id: 3 } }, /wrong must hold its text/],
    ['the same answer twice', { ...good, wrong: good.correct }, /same token/],
    ['a source without its offset', { ...good, cleanSource: { uri: 'file:///w/a.txt' } }, /cleanSource must hold a document URI and an offset/],
    ['a source that is not an object', { ...good, corruptedSource: 'file:///w/a.txt' }, /corruptedSource must hold a document URI and an offset/],
  ];
  for (const [what, raw, reason] of bad) {
    test(`refuses ${what}`, () => {
      const r = parsePatchingPanelState(raw);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, reason);
    });
  }
});
