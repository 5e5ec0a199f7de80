/**
 * Pure pieces of patching (src/analysis/patching.ts): metric checks, the normalised score (no NaN
 * when clean = corrupted), KL, sweep layouts and the batch planner (every run planned once, the
 * recomputed rows never more than one batch per run would cost).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { klDivergence, lnFinal, normalisation, normalisedScores, planBatches, resolveMetric, sweepLayout, type PlannedRun } from '../../src/analysis/patching';
import { EngineError } from '../../src/protocol/engine';
import { makeConfig } from '../helpers/checkpointWriter';

describe('patching analysis', () => {
  it('resolves metric positions (default: last) and refuses bad tokens', () => {
    assert.deepEqual(resolveMetric({ kind: 'logit_diff', correct: 1, wrong: 2 }, 5, 10), { kind: 'logit_diff', pos: 4, correct: 1, wrong: 2 });
    assert.deepEqual(resolveMetric({ kind: 'prob', token: 3, pos: 0 }, 5, 10), { kind: 'prob', pos: 0, token: 3 });
    assert.throws(() => resolveMetric({ kind: 'logit_diff', correct: 1, wrong: 1 }, 5, 10), (e: unknown) => e instanceof EngineError && e.code === 'bad-input');
    assert.throws(() => resolveMetric({ kind: 'logprob', token: 10 }, 5, 10), /outside the vocabulary 0\.\.9/);
    assert.throws(() => resolveMetric({ kind: 'kl', pos: -1 }, 5, 10), /position -1 is out of range/);
  });

  it('normalised score: (patched − corrupted) / (clean − corrupted); equal baselines give a message, not NaN', () => {
    const n = normalisation(3, 1);
    assert.equal(n.ok, true);
    assert.deepEqual([...(normalisedScores(Float64Array.of(3, 1, 2, 5), n) ?? [])], [1, 0, 0.5, 2]);
    const same = normalisation(2.5, 2.5);
    assert.equal(same.ok, false);
    assert.match(same.message ?? '', /same metric \(2\.50000\)/);
    assert.equal(normalisedScores(Float64Array.of(1), same), undefined);
    assert.equal(normalisation(1e9, 1e9 + 1e-3).ok, false, 'relative tolerance');
    assert.equal(normalisation(Number.NaN, 0).ok, false);
  });

  it('KL and ln_final in float64', () => {
    assert.equal(klDivergence([0.5, 0.5], [0.5, 0.5]), 0);
    assert.ok(Math.abs(klDivergence([1, 0], [0.5, 0.5]) - Math.log(2)) < 1e-12);
    const y = lnFinal([1, 3], [1, 1], [0, 0], 0);
    assert.deepEqual([...y], [-1, 1]);
  });

  it('sweep layouts: grid sizes, labels and the hook each cell patches', () => {
    const c = makeConfig({ nLayer: 3, nHead: 2 });
    const resid = sweepLayout('mlp_out', c, 4, undefined);
    assert.deepEqual([resid.rows, resid.cols, resid.rowLabels[2], resid.colLabels[3]], [3, 4, 'L2', 'pos 3']);
    assert.deepEqual(resid.rowRuns(1, 7)[2], [{ site: { hook: 'blocks.1.hook_mlp_out', positions: [2] }, action: { kind: 'patch', sourceTraceId: 7 } }]);
    const pat = sweepLayout('patterns', c, 4, undefined);
    assert.deepEqual(pat.rowRuns(2, 7)[1], [{ site: { hook: 'blocks.2.attn.hook_pattern', head: 1 }, action: { kind: 'patch', sourceTraceId: 7 } }]);
    const byPos = sweepLayout('heads_by_pos', c, 4, [{ layer: 2, head: 0 }]);
    assert.deepEqual([byPos.rows, byPos.cols, byPos.rowLabels], [1, 4, ['L2H0']]);
    assert.deepEqual(byPos.rowRuns(0, 7)[3], [{ site: { hook: 'blocks.2.attn.hook_z', head: 0, positions: [3] }, action: { kind: 'patch', sourceTraceId: 7 } }]);
    assert.throws(() => sweepLayout('heads_by_pos', c, 4, [{ layer: 3, head: 0 }]), /out of range/);
  });

  it('planBatches: every run once, grouped by start layer, p0 = the smallest first position, rows within the cap', () => {
    const runs: PlannedRun[] = [];
    for (let l = 0; l < 3; l++) for (let p = 0; p < 16; p++) runs.push({ index: runs.length, startLayer: l, firstPos: p });
    runs.push({ index: runs.length, startLayer: 3, firstPos: 0 }); // nothing to recompute
    const groups = planBatches(runs, 16, 3, 64);
    const seen = groups.flatMap((g) => g.runs).sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 48 }, (_, i) => i));
    for (const g of groups) {
      const members = g.runs.map((i) => runs[i]!);
      assert.ok(members.every((r) => r.startLayer === g.startLayer));
      assert.equal(g.p0, Math.min(...members.map((r) => r.firstPos)));
      assert.ok(members.length * (16 - g.p0) <= 64);
    }
    // Cheaper than one batch per run (same rows, 48 call costs) and than one batch per layer.
    const cost = (gs: typeof groups): number => gs.reduce((n, g) => n + g.runs.length * (16 - g.p0) + 24, 0);
    assert.ok(cost(groups) <= runs.slice(0, 48).reduce((n, r) => n + (16 - r.firstPos) + 24, 0));
  });
});
