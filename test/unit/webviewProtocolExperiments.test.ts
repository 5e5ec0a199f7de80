/** The experiment messages (patching panel, ablation) through the webview validator: good ones pass, hostile ones are refused with a reason. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAblateHeadArg } from '../../src/protocol/patchingView';
import { parseWebviewMessage, WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';

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
