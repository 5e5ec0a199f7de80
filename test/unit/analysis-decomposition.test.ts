/**
 * Residual decomposition, direct logit attribution and norms against the reference forward
 * (test/helpers/referenceForward.ts) on a small random model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelInfo, TokenInfo } from '../../src/engine/types';
import { directLogitAttribution } from '../../src/analysis/attribution';
import { componentLabels, decomposeResidual } from '../../src/analysis/decomposition';
import { contributionNorms, residualNorms } from '../../src/analysis/residual';
import { randomWeights } from '../helpers/checkpointWriter';
import { referenceForward } from '../helpers/referenceForward';

const config = { nLayer: 3, nHead: 2, dModel: 16, dHead: 8, dMlp: 64, nCtx: 16, dVocab: 50, layerNormEps: 1e-5 };
const weights = randomWeights({ ...config, seed: 21 });
const ids = [49, 3, 17, 8, 3, 17];
const ref = referenceForward(weights, ids);
const T = ids.length;
const D = config.dModel;
const L = config.nLayer;
const model: ModelInfo = { name: 'random', folder: '/nowhere', config, dtype: 'F32', fingerprint: 'test' };
const tokens: TokenInfo[] = ids.map((id) => ({ id, text: String(id), start: 0, end: 0, partial: false, special: false }));
const trace = { embed: ref.embed, posEmbed: ref.posEmbed, z: ref.z, mlpOut: ref.mlpOut, tokens, model };
const proj = { attnProjWeight: weights.layers.map((l) => l.attnProjWeight), attnProjBias: weights.layers.map((l) => l.attnProjBias) };

test('component labels follow the canonical order', () => {
  const labels = componentLabels(config);
  assert.equal(labels.length, 2 + L * (config.nHead + 2));
  assert.deepEqual(labels.slice(0, 6).map((l) => l.name), ['embed', 'pos_embed', 'L0H0', 'L0H1', 'L0 attn bias', 'MLP 0']);
  assert.deepEqual(labels[3], { kind: 'head', layer: 0, head: 1, name: 'L0H1' });
});

test('decomposition rows equal the hooks (head rows = attn.hook_result) and sum to the final residual (1e-5 relative)', () => {
  for (let pos = 0; pos < T; pos++) {
    const comps = decomposeResidual(trace, proj, pos);
    const C = comps.length / D;
    assert.equal(C, 2 + L * (config.nHead + 2));
    // head rows against the reference's per-head results
    for (let l = 0; l < L; l++) {
      for (let h = 0; h < config.nHead; h++) {
        const row = 2 + l * (config.nHead + 2) + h;
        for (let i = 0; i < D; i++) {
          const want = ref.headResult[((l * T + pos) * config.nHead + h) * D + i] as number;
          assert.ok(Math.abs((comps[row * D + i] as number) - want) < 1e-5 * Math.max(1, Math.abs(want)), `L${l}H${h} pos ${pos} dim ${i}`);
        }
      }
    }
    let normFinal = 0;
    let err = 0;
    for (let i = 0; i < D; i++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += comps[c * D + i] as number;
      const want = ref.resid[(L * T + pos) * D + i] as number;
      normFinal += want * want;
      err += (s - want) ** 2;
    }
    assert.ok(Math.sqrt(err) <= 1e-5 * Math.sqrt(normFinal), `pos ${pos}: ‖Σ rows − resid‖ = ${Math.sqrt(err)}`);
  }
  assert.throws(() => decomposeResidual(trace, proj, T), /position 6 is outside 0..5/);
});

test('DLA: Σ values + lnBiasTerm = the model logit; each value is the explicit apply_ln_to_stack term (1e-5)', () => {
  for (const pos of [0, T - 1]) {
    const comps = decomposeResidual(trace, proj, pos);
    for (const t of [0, 17, 49]) {
      const u = weights.wte.subarray(t * D, (t + 1) * D);
      const scale = ref.lnFinalScale[pos] as number;
      const { values, lnBiasTerm } = directLogitAttribution(comps, D, scale, weights.lnFinalWeight, weights.lnFinalBias, u);
      const logit = ref.logits[pos * config.dVocab + t] as number;
      const sum = values.reduce((s, v) => s + v, 0) + lnBiasTerm;
      assert.ok(Math.abs(sum - logit) <= 1e-5 * Math.max(1, Math.abs(logit)), `pos ${pos} token ${t}: ${sum} vs ${logit}`);
      for (let c = 0; c < values.length; c++) {
        const row = Array.from(comps.subarray(c * D, (c + 1) * D));
        const mean = row.reduce((s, v) => s + v, 0) / D;
        const explicit = row.reduce((s, v, i) => s + ((v - mean) / scale) * (weights.lnFinalWeight[i] as number) * (u[i] as number), 0);
        assert.ok(Math.abs((values[c] as number) - explicit) <= 1e-5 * Math.max(1, Math.abs(explicit)), `component ${c}`);
      }
      const bias = Array.from(u).reduce((s, v, i) => s + v * (weights.lnFinalBias[i] as number), 0);
      assert.ok(Math.abs(lnBiasTerm - bias) < 1e-9);
    }
  }
  assert.throws(() => directLogitAttribution(new Float32Array(5), 4, 1, weights.lnFinalWeight, weights.lnFinalBias, weights.lnFinalWeight), /not rows of d_model 4/);
  assert.throws(() => directLogitAttribution(new Float32Array(4), 4, 0, weights.lnFinalWeight, weights.lnFinalBias, weights.lnFinalWeight), /must be positive/);
});

test('residual and contribution norms are the L2 norms of each [D] row', () => {
  const norms = residualNorms(ref.resid, L + 1, T, D);
  for (let r = 0; r <= L; r++) {
    for (let p = 0; p < T; p++) {
      let s = 0;
      for (let i = 0; i < D; i++) s += (ref.resid[(r * T + p) * D + i] as number) ** 2;
      assert.ok(Math.abs((norms[r * T + p] as number) - Math.sqrt(s)) <= 1e-6 * Math.sqrt(s));
    }
  }
  const c = contributionNorms(ref.attnOut, ref.mlpOut, L, T, D);
  assert.equal(c.attention.length, L * T);
  let s = 0;
  for (let i = 0; i < D; i++) s += (ref.mlpOut[(1 * T + 2) * D + i] as number) ** 2;
  assert.ok(Math.abs((c.mlp[1 * T + 2] as number) - Math.sqrt(s)) <= 1e-6 * Math.sqrt(s));
  assert.throws(() => residualNorms(ref.resid, L, T, D), /expected/);
});
