/** The interventions built from what the user clicked: TransformerLens hook names and the slice of each cell. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ablateHeadUri, ablationHoverLines } from '../../src/viewModels/ablationHover';
import { ablationLabel, cellIntervention, headAblation, headsForByPosition, logitDiffLabel, logitDiffMetric, parseHeadName } from '../../src/viewModels/experiments';

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

describe('hover experiment lines', () => {
  test('ablate links carry {layer, head, mode} as the command arguments', () => {
    const uri = ablateHeadUri(1, 0, 'mean');
    assert.ok(uri.startsWith('command:residualLens.ablateHead?'));
    assert.deepEqual(JSON.parse(decodeURIComponent(uri.split('?')[1])), [{ layer: 1, head: 0, mode: 'mean' }]);
  });
  test('active interventions are named; links for each head', () => {
    const lines = ablationHoverLines([{ layer: 1, head: 0 }], ['Zero-ablate L1H0']);
    assert.equal(lines[1], '**Interventions active**: Zero-ablate L1H0. This hover shows the unedited trace; the trace panel shows the edited run.');
    assert.equal(lines[3], `Ablate L1H0 ([zero](${ablateHeadUri(1, 0, 'zero')}) · [mean](${ablateHeadUri(1, 0, 'mean')}))`);
    assert.deepEqual(ablationHoverLines([], undefined), []);
  });
});

describe('typed head names', () => {
  test('L1H0, 1.0, 1,0, with spaces and any case', () => {
    for (const t of ['L1H0', 'l1 h0', ' 1.0 ', '1,0', '1 0']) assert.deepEqual(parseHeadName(t), { layer: 1, head: 0 }, t);
    assert.deepEqual(parseHeadName('L11H10'), { layer: 11, head: 10 });
  });
  test('anything else is refused', () => {
    for (const t of ['', 'L1', 'H0', 'L-1H0', '1.5.2', 'L1H0x', 'x']) assert.equal(parseHeadName(t), undefined, t);
  });
});
