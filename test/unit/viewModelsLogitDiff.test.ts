/** Logit-difference attribution of both runs: differences, totals, ranking by change, head grid. Values by hand. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ComponentLabel } from '../../src/engine/types';
import { attributedTotal, attributionChanges, headGridOf, logitDiffAttribution } from '../../src/viewModels/logitDiffAttribution';

const C: ComponentLabel[] = [
  { kind: 'embed', layer: -1, head: -1, name: 'embed' },
  { kind: 'pos_embed', layer: -1, head: -1, name: 'pos_embed' },
  { kind: 'head', layer: 0, head: 0, name: 'L0H0' },
  { kind: 'head', layer: 0, head: 1, name: 'L0H1' },
  { kind: 'attn_bias', layer: 0, head: -1, name: 'L0 attn bias' },
  { kind: 'mlp', layer: 0, head: -1, name: 'MLP 0' },
];

describe('logit-difference attribution', () => {
  test('correct − wrong per component; Σ + bias term = logit difference', () => {
    const correct = { components: C, values: Float32Array.of(1, 0.5, 3, -1, 0.25, 2), lnBiasTerm: 0.5 };
    const wrong = { components: C, values: Float32Array.of(0.5, 0.5, -1, -1, 0.25, 1), lnBiasTerm: 0.25 };
    const d = logitDiffAttribution(correct, wrong);
    assert.deepEqual(Array.from(d.values), [0.5, 0, 4, 0, 0, 1]);
    assert.equal(d.biasTerm, 0.25);
    // logit(correct) = 6.25 + 0.5 = 6.75; logit(wrong) = 0.25 + 0.25 = 0.5; difference 6.25
    assert.equal(attributedTotal(d.values, d.biasTerm), 5.75);
    assert.equal(attributedTotal(correct.values, correct.lnBiasTerm) - attributedTotal(wrong.values, wrong.lnBiasTerm), 5.75);
    assert.throws(() => logitDiffAttribution(correct, { ...wrong, values: new Float32Array(2) }), /6 and 2 components/);
  });
  test('components ranked by how much they changed from clean to corrupted', () => {
    const clean = [0.5, 0, 4, 0, 0, 1];
    const corrupted = [0.5, 0, 0.5, -2, 0, 1];
    assert.deepEqual(
      attributionChanges(C, clean, corrupted, 3).map((r) => [r.name, r.clean, r.corrupted, r.change]),
      [
        ['L0 H0', 4, 0.5, -3.5],
        ['L0 H1', 0, -2, -2],
        ['embed', 0.5, 0.5, 0],
      ],
    );
  });
  test('head grid', () => {
    assert.deepEqual(Array.from(headGridOf(C, [9, 9, 4, -2, 9, 9], 1, 2)), [4, -2]);
  });
});
