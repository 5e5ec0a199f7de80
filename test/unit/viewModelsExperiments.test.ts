/** The interventions built from what the user clicked: TransformerLens hook names and the slice of each cell. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ablationLabel, cellIntervention, headAblation, headsForByPosition, logitDiffLabel, logitDiffMetric } from '../../src/viewModels/experiments';

describe('cell interventions', () => {
  const patch = { kind: 'patch', sourceTraceId: 7 };
  test('residual maps patch one position of that hook', () => {
    assert.deepEqual(cellIntervention({ kind: 'resid_pre', rows: 2, cols: 5 }, 1, 3, 7), { site: { hook: 'blocks.1.hook_resid_pre', positions: [3] }, action: patch });
    assert.deepEqual(cellIntervention({ kind: 'attn_out', rows: 2, cols: 5 }, 0, 4, 7), { site: { hook: 'blocks.0.hook_attn_out', positions: [4] }, action: patch });
    assert.deepEqual(cellIntervention({ kind: 'mlp_out', rows: 2, cols: 5 }, 1, 0, 7), { site: { hook: 'blocks.1.hook_mlp_out', positions: [0] }, action: patch });
  });
  test('head maps patch hook_z / hook_pattern of one head', () => {
    assert.deepEqual(cellIntervention({ kind: 'heads', rows: 2, cols: 4 }, 1, 2, 7), { site: { hook: 'blocks.1.attn.hook_z', head: 2 }, action: patch });
    assert.deepEqual(cellIntervention({ kind: 'patterns', rows: 2, cols: 4 }, 0, 3, 7), { site: { hook: 'blocks.0.attn.hook_pattern', head: 3 }, action: patch });
    const heads = [
      { layer: 1, head: 0 },
      { layer: 0, head: 0 },
    ];
    assert.deepEqual(cellIntervention({ kind: 'heads_by_pos', rows: 2, cols: 9, heads }, 1, 6, 7), { site: { hook: 'blocks.0.attn.hook_z', head: 0, positions: [6] }, action: patch });
  });
});

describe('ablation', () => {
  test('a head: hook_z of that head at every position, zero or mean', () => {
    assert.deepEqual(headAblation(1, 0, 'zero'), { site: { hook: 'blocks.1.attn.hook_z', head: 0 }, action: { kind: 'zero' } });
    assert.deepEqual(headAblation(0, 3, 'mean'), { site: { hook: 'blocks.0.attn.hook_z', head: 3 }, action: { kind: 'mean' } });
    assert.equal(ablationLabel(1, 0, 'zero'), 'Zero-ablate L1H0');
    assert.equal(ablationLabel(0, 3, 'mean'), 'Mean-ablate L0H3');
  });
});

describe('heads swept by position', () => {
  test('a small model: every head in layer order', () => {
    assert.equal(headsForByPosition(2, 4, undefined, 1, 0).length, 8);
    assert.deepEqual(headsForByPosition(2, 2, undefined, 1, 0), [
      { layer: 0, head: 0 },
      { layer: 0, head: 1 },
      { layer: 1, head: 0 },
      { layer: 1, head: 1 },
    ]);
  });
  test('a large model: the 8 heads with the largest |score|, in layer order', () => {
    // 12 × 12 heads; clean 2, corrupted 0: score = metric / 2
    const m = new Float64Array(144);
    const big = [5, 17, 30, 44, 60, 77, 100, 143];
    big.forEach((i, j) => (m[i] = j % 2 ? -1 - j : 1 + j)); // negative scores count by size too
    m[1] = 0.5; // smaller than all of them
    const heads = headsForByPosition(12, 12, m, 2, 0);
    assert.deepEqual(
      heads.map((h) => h.layer * 12 + h.head),
      big,
    );
  });
});

describe('metric', () => {
  test('logit difference at the last position, labelled', () => {
    assert.deepEqual(logitDiffMetric(5335, 1757), { kind: 'logit_diff', correct: 5335, wrong: 1757 });
    assert.equal(logitDiffLabel(' Mary', ' John', 14), 'logit(\u00b7Mary) \u2212 logit(\u00b7John) at pos 14');
  });
});
