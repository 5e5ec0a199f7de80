/**
 * The patching view's pure parts: scores, streamed maps, labels, ranking, CSV, the side-by-side
 * tokenizations and the one-token answer check. Every expected value is worked out by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TokenPayload } from '../../src/protocol/webview';
import {
  answerPairProblem,
  checkAnswerToken,
  compareTokenizations,
  completedRows,
  describePatchCell,
  formatScore,
  patchCellName,
  patchCellRef,
  patchCells,
  patchingCsv,
  patchLabels,
  patchMapShape,
  patchScale,
  patchScore,
  topPatchCells,
  type PatchMap,
} from '../../src/viewModels/patching';

const tok = (id: number, text: string, extra: Partial<TokenPayload> = {}): TokenPayload => ({ id, text, partial: false, special: false, ...extra });
const BOS = tok(50256, '<|endoftext|>', { special: true });

describe('patching scores', () => {
  test('normalised score (patched − corrupted) / (clean − corrupted)', () => {
    // clean 3, corrupted −1: gap 4
    assert.equal(patchScore(3, 3, -1), 1);
    assert.equal(patchScore(-1, 3, -1), 0);
    assert.equal(patchScore(1, 3, -1), 0.5);
    assert.equal(patchScore(-3, 3, -1), -0.5);
    assert.ok(Number.isNaN(patchScore(NaN, 3, -1)), 'a cell not computed yet stays NaN');
  });
  test('the same metric for clean and corrupted: raw difference, a note, never NaN or Infinity', () => {
    const scale = patchScale(2, 2);
    assert.equal(scale.kind, 'difference');
    assert.match(scale.note ?? '', /same metric \(\+2\.000\)/);
    assert.equal(patchScore(2.5, 2, 2), 0.5);
    // within 1e-6 relative counts as the same
    assert.equal(patchScale(1000, 1000 + 1e-4).kind, 'difference');
    assert.equal(patchScale(1000, 1000.01).kind, 'normalised');
  });
  test('a non-finite clean or corrupted metric: a note, no scores', () => {
    const scale = patchScale(NaN, 1);
    assert.equal(scale.kind, 'difference');
    assert.match(scale.note ?? '', /not a finite number/);
    assert.ok(Number.isNaN(patchScore(1, 2, NaN)));
  });
});

describe('patching maps', () => {
  const map: PatchMap = { kind: 'resid_pre', rows: 2, cols: 3, metric: new Float32Array([3, 1, -1, NaN, NaN, NaN]) };
  test('shapes', () => {
    assert.deepEqual(patchMapShape('resid_pre', 12, 12, 16), { rows: 12, cols: 16 });
    assert.deepEqual(patchMapShape('heads', 12, 12, 16), { rows: 12, cols: 12 });
    assert.deepEqual(patchMapShape('patterns', 12, 12, 16), { rows: 12, cols: 12 });
    assert.deepEqual(patchMapShape('heads_by_pos', 2, 4, 16, [{ layer: 1, head: 0 }, { layer: 0, head: 0 }]), { rows: 2, cols: 16 });
  });
  test('cells: normalised scores, NaN where still to come; completed rows', () => {
    assert.deepEqual(Array.from(patchCells(map, 3, -1)), [1, 0.5, 0, NaN, NaN, NaN]);
    assert.equal(completedRows(map), 1);
    assert.equal(completedRows({ ...map, metric: new Float32Array([1, 2, 3, 4, 5, NaN]) }), 1);
    assert.equal(completedRows({ ...map, metric: new Float32Array(6) }), 2);
  });
  test('labels: layers, heads, positions with BOS and visible whitespace', () => {
    const tokens = [BOS, tok(464, 'The'), tok(3797, ' cat')];
    assert.deepEqual(patchLabels({ kind: 'mlp_out', rows: 2, cols: 3 }, 2, 3, tokens), { rows: ['L0', 'L1'], cols: ['0 BOS', '1 The', '2 \u00b7cat'] });
    assert.deepEqual(patchLabels({ kind: 'heads', rows: 2, cols: 3 }, 2, 3, tokens), { rows: ['L0', 'L1'], cols: ['H0', 'H1', 'H2'] });
    assert.deepEqual(patchLabels({ kind: 'heads_by_pos', rows: 2, cols: 3, heads: [{ layer: 1, head: 0 }, { layer: 0, head: 1 }] }, 2, 2, tokens).rows, ['L1H0', 'L0H1']);
  });
  test('cell references and names', () => {
    assert.deepEqual(patchCellRef({ kind: 'attn_out', rows: 2, cols: 8 }, 1, 7), { layer: 1, pos: 7 });
    assert.deepEqual(patchCellRef({ kind: 'heads', rows: 2, cols: 4 }, 1, 3), { layer: 1, head: 3 });
    assert.deepEqual(patchCellRef({ kind: 'patterns', rows: 2, cols: 4 }, 0, 2), { layer: 0, head: 2 });
    assert.deepEqual(patchCellRef({ kind: 'heads_by_pos', rows: 2, cols: 8, heads: [{ layer: 0, head: 3 }, { layer: 1, head: 2 }] }, 1, 7), { layer: 1, head: 2, pos: 7 });
    assert.equal(patchCellName({ layer: 1, head: 2, pos: 7 }), 'L1H2 pos 7');
    assert.equal(patchCellName({ layer: 1, pos: 7 }), 'L1 pos 7');
    assert.equal(patchCellName({ layer: 0, head: 1 }), 'L0H1');
  });
  test('top cells: largest scores first, NaN skipped, ties by cell order', () => {
    // heads_by_pos with 4 heads, 2 positions: rows L0H0, L0H1, L1H0, L1H1
    const heads = [{ layer: 0, head: 0 }, { layer: 0, head: 1 }, { layer: 1, head: 0 }, { layer: 1, head: 1 }];
    const cells = new Float32Array([0.1, 0.9, NaN, 0.2, 0.9, 0.0, -0.5, 0.3]);
    const top = topPatchCells({ kind: 'heads_by_pos', rows: 4, cols: 2, heads }, cells, 3);
    assert.deepEqual(
      top.map((c) => [c.name, Math.round(c.score * 10) / 10]),
      [
        ['L0H0 pos 1', 0.9],
        ['L1H0 pos 0', 0.9],
        ['L1H1 pos 1', 0.3],
      ],
    );
  });
  test('scores: three decimals, a real minus, no negative zero', () => {
    const n = patchScale(1, 0);
    assert.equal(formatScore(0.25, n), '0.250');
    assert.equal(formatScore(-0.00001, n), '0.000');
    assert.equal(formatScore(-0.5, n), '\u22120.500');
    assert.equal(formatScore(0.5, patchScale(1, 1)), '+0.500');
  });
  test('cell descriptions', () => {
    const tokens = [BOS, tok(1, ' a')];
    assert.equal(describePatchCell({ layer: 1, pos: 1 }, tokens, 0.25, patchScale(1, 0)), 'L1 pos 1 · " a": score 0.250');
    assert.equal(describePatchCell({ layer: 1, head: 0 }, tokens, NaN, patchScale(1, 0)), 'L1H0: not computed yet');
    assert.equal(describePatchCell({ layer: 0, head: 0 }, tokens, -0.5, patchScale(1, 1)), 'L0H0: patched − corrupted \u22120.500');
  });
  test('CSV: one line per computed cell, token text quoted, scores empty without a gap', () => {
    const tokens = [BOS, tok(11, ','), tok(1, '"x')];
    const resid: PatchMap = { kind: 'resid_pre', rows: 1, cols: 3, metric: new Float32Array([3, NaN, 1]) };
    const heads: PatchMap = { kind: 'heads', rows: 1, cols: 2, metric: new Float32Array([-1, 0]) };
    assert.equal(
      patchingCsv([resid, heads], tokens, 3, -1),
      [
        'map,layer,head,pos,token,patched_metric,normalised_score',
        'resid_pre,0,,0,<|endoftext|>,3.000000,1.000000',
        'resid_pre,0,,2,"""x",1.000000,0.500000',
        'heads,0,0,,,-1.000000,0.000000',
        'heads,0,1,,,0.000000,0.250000',
        '',
      ].join('\n'),
    );
    assert.equal(patchingCsv([heads], tokens, 1, 1).split('\n')[1], 'heads,0,0,,,-1.000000,');
  });
});

describe('two prompts', () => {
  const clean = [BOS, tok(1, ' Mary'), tok(2, ' gave'), tok(3, ' John')];
  test('equal lengths: the positions that differ', () => {
    const corrupted = [BOS, tok(1, ' Mary'), tok(2, ' gave'), tok(1, ' Mary')];
    const c = compareTokenizations(clean, corrupted);
    assert.equal(c.sameLength, true);
    assert.deepEqual(c.differing, [3]);
    assert.equal(c.message, '4 tokens each; they differ at position 3.');
    assert.deepEqual(c.rows[0], { pos: 0, clean: 'BOS', corrupted: 'BOS', differs: false });
    assert.deepEqual(c.rows[3], { pos: 3, clean: '\u00b7John', corrupted: '\u00b7Mary', differs: true });
  });
  test('different lengths: said, both tokenizations side by side, the missing side empty', () => {
    const corrupted = [BOS, tok(1, ' Mary'), tok(2, ' gave')];
    const c = compareTokenizations(clean, corrupted);
    assert.equal(c.sameLength, false);
    assert.match(c.message, /clean prompt is 4 tokens and the corrupted one 3: position-wise patching needs the same number of tokens/);
    assert.equal(c.rows.length, 4);
    assert.deepEqual(c.rows[3], { pos: 3, clean: '\u00b7John', corrupted: undefined, differs: true });
    assert.deepEqual(c.differing, []);
  });
  test('identical prompts: said', () => {
    assert.match(compareTokenizations(clean, clean).message, /the same 4 tokens: patching one into the other changes nothing/);
  });
});

describe('answer tokens', () => {
  test('one token: its id', () => {
    assert.deepEqual(checkAnswerToken(' Mary', [{ id: 5335, text: ' Mary' }]), { ok: true, id: 5335, text: ' Mary' });
  });
  test('several tokens: a message showing them', () => {
    const r = checkAnswerToken(' Maryanne', [
      { id: 5335, text: ' Mary' },
      { id: 21952, text: 'anne' },
    ]);
    assert.deepEqual(r, { ok: false, message: '" Maryanne" is 2 tokens (\u00b7Mary | anne); an answer must be one token: pick one of them.' });
  });
  test('no leading space: a hint', () => {
    const r = checkAnswerToken('Mary Ann', [
      { id: 1, text: 'Mary' },
      { id: 2, text: ' Ann' },
    ]);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /start with a space/);
  });
  test('empty answer', () => {
    const r = checkAnswerToken('', []);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.message, /empty/);
  });
  test('the same correct and wrong token', () => {
    assert.match(answerPairProblem(3, 3) ?? '', /same token/);
    assert.equal(answerPairProblem(3, 4), undefined);
  });
});
