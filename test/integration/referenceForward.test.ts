/**
 * Checks the reference forward itself: the identities that define GPT-2's residual stream,
 * causality, and a one-layer case small enough to compute by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerWeights, ModelWeights } from '../../src/engine/types';
import { randomWeights } from '../helpers/checkpointWriter';
import { geluTanh, referenceForward } from '../helpers/referenceForward';
import { Random } from '../helpers/random';

/** Outputs are float64 sums rounded once to float32, so identities hold to float32 rounding. */
const IDENTITY_TOLERANCE = 1e-5;

function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected} (tolerance ${tolerance})`);
}

const weights = randomWeights({ seed: 7, nLayer: 3, nHead: 4, dModel: 16, nCtx: 12, dVocab: 40 });
const ids = new Random(11).ints(10, 0, 40);
const trace = referenceForward(weights, ids);
const { nLayer: L, nHead: H, dModel: D, dHead: Dh, dVocab: V } = weights.config;
const T = ids.length;

test('resid_pre[0] = embed + pos_embed, and embed/pos_embed are the rows of W_E / W_pos', () => {
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < D; i++) {
      assert.equal(trace.embed[t * D + i], weights.wte[(ids[t] as number) * D + i]);
      assert.equal(trace.posEmbed[t * D + i], weights.wpe[t * D + i]);
      assertClose(trace.resid[t * D + i] as number, (trace.embed[t * D + i] as number) + (trace.posEmbed[t * D + i] as number), IDENTITY_TOLERANCE, `resid[0][${t}][${i}]`);
    }
  }
});

test('resid_mid = resid_pre + attn_out and resid_post = resid_mid + mlp_out at every layer', () => {
  for (let l = 0; l < L; l++) {
    for (let j = 0; j < T * D; j++) {
      const pre = trace.resid[l * T * D + j] as number;
      const mid = trace.residMid[l * T * D + j] as number;
      const post = trace.resid[(l + 1) * T * D + j] as number;
      assertClose(mid, pre + (trace.attnOut[l * T * D + j] as number), IDENTITY_TOLERANCE, `resid_mid L${l} [${j}]`);
      assertClose(post, mid + (trace.mlpOut[l * T * D + j] as number), IDENTITY_TOLERANCE, `resid_post L${l} [${j}]`);
    }
  }
});

test('attn_out = sum of head results + b_O, and each head result = z_h · W_O[h]', () => {
  for (let l = 0; l < L; l++) {
    const w = weights.layers[l] as LayerWeights;
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < D; j++) {
        let sum = w.attnProjBias[j] as number;
        for (let h = 0; h < H; h++) {
          const result = trace.headResult[((l * T + t) * H + h) * D + j] as number;
          let expected = 0;
          for (let i = 0; i < Dh; i++) expected += (trace.z[((l * T + t) * H + h) * Dh + i] as number) * (w.attnProjWeight[(h * Dh + i) * D + j] as number);
          assertClose(result, expected, IDENTITY_TOLERANCE, `head result L${l}H${h} t${t} j${j}`);
          sum += result;
        }
        assertClose(trace.attnOut[(l * T + t) * D + j] as number, sum, IDENTITY_TOLERANCE, `attn_out L${l} t${t} j${j}`);
      }
    }
  }
});

test('pattern rows are distributions over keys <= query (zero above the diagonal) and not uniform', () => {
  let maxDeviationFromUniform = 0;
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      for (let q = 0; q < T; q++) {
        let sum = 0;
        for (let k = 0; k < T; k++) {
          const p = trace.pattern[((l * H + h) * T + q) * T + k] as number;
          if (k > q) assert.equal(p, 0, `pattern L${l}H${h} [${q}, ${k}] above the diagonal`);
          else {
            assert.ok(p >= 0 && p <= 1);
            maxDeviationFromUniform = Math.max(maxDeviationFromUniform, Math.abs(p - 1 / (q + 1)));
          }
          sum += p;
        }
        assertClose(sum, 1, 1e-6, `pattern L${l}H${h} row ${q} sum`);
      }
    }
  }
  // The random weights must exercise softmax, or pattern bugs could hide.
  assert.ok(maxDeviationFromUniform > 0.2, `patterns are nearly uniform (max deviation ${maxDeviationFromUniform})`);
});

test('hook_scale values are sqrt(var + eps) of the stream they normalise', () => {
  const scaleOf = (row: Float32Array): number => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    return Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length + weights.config.layerNormEps);
  };
  for (let t = 0; t < T; t++) {
    for (let l = 0; l < L; l++) {
      assertClose(trace.ln1Scale[l * T + t] as number, scaleOf(trace.resid.subarray((l * T + t) * D, (l * T + t + 1) * D)), 1e-5, `ln1 scale L${l} t${t}`);
      assertClose(trace.ln2Scale[l * T + t] as number, scaleOf(trace.residMid.subarray((l * T + t) * D, (l * T + t + 1) * D)), 1e-5, `ln2 scale L${l} t${t}`);
    }
    assertClose(trace.lnFinalScale[t] as number, scaleOf(trace.resid.subarray((L * T + t) * D, (L * T + t + 1) * D)), 1e-5, `ln_final scale t${t}`);
  }
});

test('causal: changing the last token leaves every earlier position unchanged', () => {
  const changed = [...ids.slice(0, -1), ((ids[T - 1] as number) + 1) % V];
  const other = referenceForward(weights, changed);
  for (let t = 0; t < T - 1; t++) {
    for (let v = 0; v < V; v++) assert.equal(other.logits[t * V + v], trace.logits[t * V + v]);
  }
  let lastDiffers = false;
  for (let v = 0; v < V; v++) if (other.logits[(T - 1) * V + v] !== trace.logits[(T - 1) * V + v]) lastDiffers = true;
  assert.ok(lastDiffers);
});

test('rejects ids out of range and sequences longer than n_ctx', () => {
  assert.throws(() => referenceForward(weights, [V]), /token id 40 is outside 0\.\.39/);
  assert.throws(() => referenceForward(weights, new Array<number>(13).fill(0)), /13 tokens but n_ctx is 12/);
  assert.throws(() => referenceForward(weights, []), /no tokens/);
});

test('GELU (tanh form) at known points', () => {
  assertClose(geluTanh(0), 0, 1e-15, 'gelu(0)');
  assertClose(geluTanh(1), 0.8411919906082768, 1e-12, 'gelu(1)');
  assertClose(geluTanh(-1), -0.15880800939172324, 1e-12, 'gelu(-1)');
});

/**
 * One layer, one head, D = 2, two tokens. With D = 2 LayerNorm maps [a, b] to
 * ±[1, -1]·|a-b|/2 / sqrt(((a-b)/2)² + eps), so everything has a closed form.
 */
test('hand-computed one-layer case', () => {
  const eps = 1e-5;
  const config = { nLayer: 1, nHead: 1, dModel: 2, dHead: 2, dMlp: 8, nCtx: 4, dVocab: 3, layerNormEps: eps };
  const zeros = (n: number): Float32Array => new Float32Array(n);
  // c_attn [2, 6]: columns q | k | v. W_Q = 0, W_K = W_V = identity.
  const attnWeight = zeros(12);
  attnWeight[0 * 6 + 2] = 1; attnWeight[1 * 6 + 3] = 1; // k
  attnWeight[0 * 6 + 4] = 1; attnWeight[1 * 6 + 5] = 1; // v
  const attnBias = zeros(6);
  attnBias[0] = 1; // q = [1, 0] at every position
  const identity2 = new Float32Array([1, 0, 0, 1]);
  const fcBias = zeros(8);
  fcBias[0] = 1; // neuron 0 fires GELU(1) everywhere
  const mlpProjWeight = zeros(16);
  mlpProjWeight[0] = 0.5; // neuron 0 → 0.5 on dimension 0
  const ones2 = new Float32Array([1, 1]);
  const layer: LayerWeights = {
    ln1Weight: ones2, ln1Bias: zeros(2), attnWeight, attnBias, attnProjWeight: identity2, attnProjBias: zeros(2),
    ln2Weight: ones2, ln2Bias: zeros(2), fcWeight: zeros(16), fcBias, mlpProjWeight, mlpProjBias: zeros(2),
  };
  const w: ModelWeights = {
    config, wte: new Float32Array([1, 3, 2, 0, 0, 0]), wpe: zeros(8), layers: [layer], lnFinalWeight: ones2, lnFinalBias: zeros(2),
  };
  const out = referenceForward(w, [0, 1]);

  // Token 0 = [1, 3], token 1 = [2, 0]: (a-b)/2 = ∓1, var = 1 → LN1 = [-c, c] and [c, -c].
  const c = 1 / Math.sqrt(1 + eps);
  assertClose(out.ln1Scale[0] as number, Math.sqrt(1 + eps), 1e-7, 'ln1 scale');
  // Query 1: scores q·k/√2 = ∓c/√2 → p(1→1) = sigmoid(√2·c).
  const p11 = 1 / (1 + Math.exp(-Math.SQRT2 * c));
  const p10 = 1 - p11;
  const expectPattern = [1, 0, p10, p11];
  expectPattern.forEach((p, i) => assertClose(out.pattern[i] as number, p, 1e-7, `pattern ${i}`));
  // z = Σ p·v: z0 = [-c, c], z1 = (p11 - p10)·[c, -c]; W_O = I so attn_out = z.
  const s = (p11 - p10) * c;
  const expectZ = [-c, c, s, -s];
  expectZ.forEach((value, i) => {
    assertClose(out.z[i] as number, value, 1e-7, `z ${i}`);
    assertClose(out.attnOut[i] as number, value, 1e-7, `attn_out ${i}`);
  });
  const mid = [1 - c, 3 + c, 2 + s, -s];
  mid.forEach((value, i) => assertClose(out.residMid[i] as number, value, 1e-6, `resid_mid ${i}`));
  // MLP: post[0] = GELU(1) = 0.84119…, others GELU(0) = 0; out = [0.5·GELU(1), 0].
  const g = 0.8411919906082768;
  assertClose(out.mlpPost[0] as number, g, 1e-7, 'mlp post neuron 0');
  assertClose(out.mlpPost[1] as number, 0, 1e-12, 'mlp post neuron 1');
  const final = [mid[0]! + 0.5 * g, mid[1]!, mid[2]! + 0.5 * g, mid[3]!];
  final.forEach((value, i) => assertClose(out.resid[2 * 2 + i] as number, value, 1e-6, `resid_post ${i}`));
  // Final LN of [a, b] → [h, -h]/sqrt(h² + eps), h = (a-b)/2; logits = that · W_E rows [1,3], [2,0], [0,0].
  for (let t = 0; t < 2; t++) {
    const h = (final[2 * t]! - final[2 * t + 1]!) / 2;
    const scale = Math.sqrt(h * h + eps);
    assertClose(out.lnFinalScale[t] as number, scale, 1e-6, `ln_final scale ${t}`);
    const n = h / scale;
    const expected = [n * 1 - n * 3, n * 2, 0];
    expected.forEach((value, v) => assertClose(out.logits[t * 3 + v] as number, value, 1e-6, `logit t${t} v${v}`));
  }
});
