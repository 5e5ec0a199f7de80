/**
 * Engine vs the slow reference forward (test/helpers/referenceForward.ts) on small random
 * checkpoints: both key styles, F32 and F16. Tolerance: |engine − reference| ≤ 1e-4 · max(1, |reference|)
 * for every hook, the per-head results and mlp.hook_post; top-k ids must match exactly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { tokenize } from '../../src/engine/tokenizer';
import type { ModelWeights, Trace } from '../../src/engine/types';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint, type WriteCheckpointOptions } from '../helpers/checkpointWriter';
import { referenceForward, type ReferenceTrace } from '../helpers/referenceForward';
import { decomposeResidual } from '../../src/analysis/decomposition';
import { assertClose } from '../helpers/assertClose';

const TOL = 1e-4;
const TEXT = 'The cat sat on the mat.';
/** The real vocabulary size: the tokenizer's ids (BOS = 50256) must fit. Small otherwise. */
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };


/** Full-vocabulary logits of one residual row through ln_final and W_U, in float64. */
function lensLogits(w: ModelWeights, row: ArrayLike<number>): Float64Array {
  const { dModel: D, dVocab: V, layerNormEps: eps } = w.config;
  let mean = 0;
  for (let i = 0; i < D; i++) mean += row[i];
  mean /= D;
  let variance = 0;
  for (let i = 0; i < D; i++) variance += (row[i] - mean) ** 2;
  const scale = Math.sqrt(variance / D + eps);
  const y = new Float64Array(D);
  for (let i = 0; i < D; i++) y[i] = ((row[i] - mean) / scale) * w.lnFinalWeight[i] + w.lnFinalBias[i];
  const logits = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    let s = 0;
    for (let i = 0; i < D; i++) s += y[i] * w.wte[v * D + i];
    logits[v] = s;
  }
  return logits;
}

function logSumExp(x: Float64Array): number {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - max);
  return max + Math.log(s);
}

/** Checks a top-k list against full logits: same ids (ties aside), logits and probabilities. */
function assertTopK(ids: ArrayLike<number>, logits: ArrayLike<number>, probs: ArrayLike<number>, full: Float64Array, what: string): void {
  const order = Array.from(full.keys()).sort((a, b) => full[b] - full[a]);
  const lse = logSumExp(full);
  for (let j = 0; j < ids.length; j++) {
    const expectedLogit = full[order[j]];
    assert.ok(Math.abs(logits[j] - expectedLogit) <= TOL * Math.max(1, Math.abs(expectedLogit)), `${what}[${j}] logit ${logits[j]} vs ${expectedLogit}`);
    // The id must be the reference's, unless two logits tie within tolerance.
    if (ids[j] !== order[j]) assert.ok(Math.abs(full[ids[j]] - expectedLogit) <= TOL, `${what}[${j}] id ${ids[j]} vs ${order[j]}`);
    assert.ok(Math.abs(probs[j] - Math.exp(expectedLogit - lse)) <= TOL, `${what}[${j}] prob ${probs[j]} vs ${Math.exp(expectedLogit - lse)}`);
  }
}

const VARIANTS: { name: string; opts: WriteCheckpointOptions; seed: number }[] = [
  { name: 'F32, plain keys', opts: { dtype: 'F32' }, seed: 11 },
  { name: 'F32, transformer. keys + lm_head + mask buffers', opts: { dtype: 'F32', prefix: true, lmHead: true, maskBuffers: true }, seed: 12 },
  { name: 'F16, plain keys', opts: { dtype: 'F16' }, seed: 13 },
  { name: 'F16, transformer. keys', opts: { dtype: 'F16', prefix: true, maskBuffers: true }, seed: 14 },
];

for (const variant of VARIANTS) {
  describe(`engine on a random checkpoint (${variant.name})`, () => {
    let root: string;
    let weights: ModelWeights;
    let engine: Engine;
    let trace: Trace;
    let ref: ReferenceTrace;
    let ids: number[];

    before(async () => {
      root = makeTempFolder('rl-engine');
      weights = writeRandomCheckpoint(path.join(root, 'model'), { ...CONFIG, seed: variant.seed }, variant.opts);
      engine = new Engine();
      const info = await engine.load({ folder: path.join(root, 'model'), name: 'tiny', cacheDir: path.join(root, 'cache') });
      assert.equal(info.dtype, variant.opts.dtype);
      trace = await engine.trace({ text: TEXT, options: { topK: 5, withMlpPost: true } });
      ids = trace.tokens.map((t) => t.id);
      assert.deepEqual(ids, tokenize(TEXT).tokens.map((t) => t.id));
      ref = referenceForward(weights, ids);
    });
    after(async () => {
      await engine.dispose();
      removeTempFolder(root);
    });

    it('matches every hook point of the reference forward', () => {
      for (const key of ['embed', 'posEmbed', 'resid', 'residMid', 'ln1Scale', 'ln2Scale', 'pattern', 'z', 'attnOut', 'mlpOut', 'lnFinalScale'] as const) {
        assertClose(trace[key], ref[key], key);
      }
      assert.ok(trace.mlpPost, 'mlpPost requested');
      assertClose(trace.mlpPost, ref.mlpPost, 'mlpPost');
    });

    it('has exact zeros above the diagonal of every pattern', () => {
      const T = ids.length;
      const { nLayer: L, nHead: H } = weights.config;
      for (let lh = 0; lh < L * H; lh++) for (let q = 0; q < T; q++) for (let k = q + 1; k < T; k++) assert.equal(trace.pattern[(lh * T + q) * T + k], 0);
    });

    it('returns the final top-k logits and probabilities of the reference logits', () => {
      const V = weights.config.dVocab;
      const k = trace.logitsTop.k;
      assert.equal(k, 5);
      for (let t = 0; t < ids.length; t++) {
        const full = Float64Array.from(ref.logits.subarray(t * V, (t + 1) * V));
        const s = t * k;
        assertTopK(trace.logitsTop.ids.subarray(s, s + k), trace.logitsTop.logits.subarray(s, s + k), trace.logitsTop.probs.subarray(s, s + k), full, `logitsTop pos ${t}`);
      }
    });

    it('computes per-head results (attn.hook_result) for every layer', async () => {
      const { nLayer: L, nHead: H, dModel: D } = weights.config;
      const T = ids.length;
      for (let l = 0; l < L; l++) {
        const got = await engine.headResults({ traceId: trace.traceId, layer: l });
        assertClose(got, ref.headResult.subarray(l * T * H * D, (l + 1) * T * H * D), `headResult layer ${l}`);
      }
    });

    it('decomposes the final residual into component writes that sum to it (1e-4 relative)', () => {
      const { nLayer: L, dModel: D, nHead: H } = weights.config;
      const T = ids.length;
      const attnProjWeight = weights.layers.map((x) => x.attnProjWeight);
      const attnProjBias = weights.layers.map((x) => x.attnProjBias);
      for (let pos = 0; pos < T; pos++) {
        const comps = decomposeResidual(trace, { attnProjWeight, attnProjBias }, pos);
        const C = 2 + L * (H + 2);
        const sum = new Float64Array(D);
        for (let c = 0; c < C; c++) for (let i = 0; i < D; i++) sum[i] += comps[c * D + i];
        const final = trace.resid.subarray((L * T + pos) * D, (L * T + pos + 1) * D);
        let err = 0;
        let norm = 0;
        for (let i = 0; i < D; i++) {
          err += (sum[i] - final[i]) ** 2;
          norm += final[i] ** 2;
        }
        assert.ok(Math.sqrt(err / norm) <= 1e-4, `pos ${pos}: relative error ${Math.sqrt(err / norm)}`);
      }
    });

    it('attributes the top logit: values + ln bias term = the reference logit', async () => {
      const V = weights.config.dVocab;
      const pos = ids.length - 1;
      const a = await engine.attribute({ traceId: trace.traceId, pos });
      assert.equal(a.tokenId, trace.logitsTop.ids[pos * trace.logitsTop.k]);
      const expected = ref.logits[pos * V + a.tokenId];
      assert.ok(Math.abs(a.logit - expected) <= TOL * Math.max(1, Math.abs(expected)), `logit ${a.logit} vs ${expected}`);
      const total = a.values.reduce((s, v) => s + v, 0) + a.lnBiasTerm;
      assert.ok(Math.abs(total - expected) <= TOL * Math.max(1, Math.abs(expected)), `sum ${total} vs ${expected}`);
      const { nLayer: L, nHead: H } = weights.config;
      assert.equal(a.headGrid.length, L * H);
      a.components.forEach((c, i) => {
        if (c.kind === 'head') assert.equal(a.headGrid[c.layer * H + c.head], a.values[i]);
      });
    });

    it('computes the logit lens top-k and next-token ranks of a full computation; the last row is the logits', async () => {
      const lens = await engine.lens({ traceId: trace.traceId, k: 4 });
      const { nLayer: L, dModel: D } = weights.config;
      const T = ids.length;
      assert.equal(lens.rows, L + 1);
      assert.equal(lens.positions, T);
      const k = lens.top.k;
      for (let r = 0; r <= L; r++) {
        for (let t = 0; t < T; t++) {
          const full = lensLogits(weights, ref.resid.subarray((r * T + t) * D, (r * T + t + 1) * D));
          const s = (r * T + t) * k;
          assertTopK(lens.top.ids.subarray(s, s + k), lens.top.logits.subarray(s, s + k), lens.top.probs.subarray(s, s + k), full, `lens ${r},${t}`);
          const rank = lens.nextTokenRank[r * T + t];
          if (t === T - 1) {
            assert.equal(rank, -1);
          } else {
            const target = full[ids[t + 1]];
            let above = 0;
            let near = 0;
            for (const v of full) {
              if (v > target + TOL) above++;
              else if (v > target - TOL && v !== target) near++;
            }
            assert.ok(rank >= above && rank <= above + near, `rank ${r},${t}: ${rank} vs ${above}(+${near})`);
          }
        }
      }
      // The last lens row is the model's own prediction, bit for bit: the lens ran its rank pass (the
      // graph's If), the trace's head skipped it.
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < k; j++) {
          assert.equal(lens.top.ids[(L * T + t) * k + j], trace.logitsTop.ids[t * trace.logitsTop.k + j]);
          assert.equal(lens.top.logits[(L * T + t) * k + j], trace.logitsTop.logits[t * trace.logitsTop.k + j]);
        }
      }
    });

    it('returns one lens cell\'s full distribution', async () => {
      const { dModel: D } = weights.config;
      const T = ids.length;
      const layer = 1;
      const pos = 2;
      const dist = await engine.lensDistribution({ traceId: trace.traceId, layer, pos });
      const full = lensLogits(weights, ref.resid.subarray((layer * T + pos) * D, (layer * T + pos + 1) * D));
      const lse = logSumExp(full);
      assertClose(dist, Array.from(full, (v) => Math.exp(v - lse)), 'distribution');
      assert.ok(Math.abs(dist.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    });
  });
}
