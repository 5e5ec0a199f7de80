/**
 * The demo model: a 2-layer GPT-2 with the real 50257-token vocabulary whose weights are planted
 * circuits, built deterministically (no training, no files to download). models/demo/README.md
 * explains each head; the numbers below are the construction.
 *
 * The residual stream (D = 256) holds three orthonormal 64-dim subspaces, all orthogonal to the
 * all-ones vector, so LayerNorm's centring leaves them alone and LayerNorm only rescales:
 *   TOKEN  — the current token's identity: a random unit vector u_t per token (norm TOKEN_NORM);
 *   PREV   — the previous token's identity, written by the previous-token head (norm ≈ PREV_NORM);
 *   POS    — the position: a unit sinusoidal code p(i) of 32 frequencies (norm POS_NORM).
 * Heads (all others, and both MLPs, are zero):
 *   L0H0 previous-token head: QK compares p(i) with R·p(j), R the one-step rotation (R p(j) =
 *        p(j+1)), so the score peaks at j = i − 1; OV copies TOKEN into PREV.
 *   L1H0 induction head: QK compares the query's TOKEN with the key's PREV, so it attends where the
 *        previous token equals the current one (K-composition with L0H0); OV copies the attended
 *        TOKEN back into TOKEN at INDUCTION_GAIN × the embedding's norm, read by the tied W_U.
 *
 * Determinism: only +, −, ×, ÷ and sqrt (IEEE-exact in JavaScript) are used — no sin/cos/exp —
 * so every machine writes the same bytes (checked against models/demo/model.safetensors.sha256).
 * Sinusoids come from exact rational rotations ((1−t²)/(1+t²), 2t/(1+t²)) applied repeatedly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors } from '../engine/safetensors';
import type { LayerWeights, ModelConfig, ModelWeights } from '../engine/types';
import { mulberry32 } from '../analysis/random';

export const DEMO_CONFIG: ModelConfig = {
  nLayer: 2,
  nHead: 4,
  dModel: 256,
  dHead: 64,
  dMlp: 1024,
  nCtx: 1024,
  dVocab: 50257,
  layerNormEps: 1e-5,
};

/** Where the planted heads are (the tests and the README use these). */
export const PREVIOUS_TOKEN_HEAD = { layer: 0, head: 0 } as const;
export const INDUCTION_HEAD = { layer: 1, head: 0 } as const;

export const DEMO_SEED = 20261122;
export const SUBSPACE_DIM = 64;
export const TOKEN_NORM = 4;
export const POS_NORM = 4;
export const PREV_NORM = 4;
/** The induction head writes the attended token at this multiple of TOKEN_NORM. */
export const INDUCTION_GAIN = 3;
/** Attention logit (score after the 1/√Dh) at a perfect match, before softmax; others are lower by (1 − cos) × this. */
export const PREV_TOKEN_SHARPNESS = 25;
export const INDUCTION_SHARPNESS = 30;
/** ln_f gain: sets the logit scale (the stream is otherwise unit-free). */
export const FINAL_LN_GAIN = 0.25;
/** Half-angle tangents of the 32 position frequencies: t₀ = 0.15, ×1.15 each (angles 0.30 … 2.97 rad). */
const POS_T0 = 0.15;
const POS_T_RATIO = 1.15;

/** The stream's orthonormal bases, [D, 64] each (column e is basis vector e). */
export interface DemoSubspaces {
  readonly token: Float64Array;
  readonly prev: Float64Array;
  readonly pos: Float64Array;
}

/** Roughly Gaussian draw by arithmetic only (sum of four uniforms, centred). */
function bell(rand: () => number): number {
  return rand() + rand() + rand() + rand() - 2;
}

/**
 * 3 × 64 orthonormal vectors in R^D, orthogonal to the all-ones vector: modified Gram–Schmidt
 * (twice, for accuracy) of seeded random vectors against ones/√D and each other.
 */
export function demoSubspaces(d = DEMO_CONFIG.dModel, seed = DEMO_SEED): DemoSubspaces {
  const rand = mulberry32(seed);
  const count = 3 * SUBSPACE_DIM;
  const basis: Float64Array[] = [new Float64Array(d).fill(1 / Math.sqrt(d))];
  while (basis.length < count + 1) {
    const v = new Float64Array(d);
    for (let i = 0; i < d; i++) v[i] = bell(rand);
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += (v[i] as number) * (b[i] as number);
        for (let i = 0; i < d; i++) v[i] = (v[i] as number) - dot * (b[i] as number);
      }
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += (v[i] as number) * (v[i] as number);
    norm = Math.sqrt(norm);
    for (let i = 0; i < d; i++) v[i] = (v[i] as number) / norm;
    basis.push(v);
  }
  const block = (first: number): Float64Array => {
    const m = new Float64Array(d * SUBSPACE_DIM);
    for (let e = 0; e < SUBSPACE_DIM; e++) {
      const v = basis[first + e] as Float64Array;
      for (let i = 0; i < d; i++) m[i * SUBSPACE_DIM + e] = v[i] as number;
    }
    return m;
  };
  return { token: block(1), prev: block(1 + SUBSPACE_DIM), pos: block(1 + 2 * SUBSPACE_DIM) };
}

/** cos and sin of each position frequency, exact rational points on the unit circle. */
function positionRotations(): { cos: Float64Array; sin: Float64Array } {
  const pairs = SUBSPACE_DIM / 2;
  const cos = new Float64Array(pairs);
  const sin = new Float64Array(pairs);
  let t = POS_T0;
  for (let k = 0; k < pairs; k++) {
    cos[k] = (1 - t * t) / (1 + t * t);
    sin[k] = (2 * t) / (1 + t * t);
    t *= POS_T_RATIO;
  }
  return { cos, sin };
}

/** [nCtx, 64] unit position codes p(i): pairs (cos iθ_k, sin iθ_k)/√32, by repeated rotation. */
export function positionCodes(nCtx = DEMO_CONFIG.nCtx): Float64Array {
  const { cos, sin } = positionRotations();
  const pairs = SUBSPACE_DIM / 2;
  const codes = new Float64Array(nCtx * SUBSPACE_DIM);
  const re = new Float64Array(pairs).fill(1);
  const im = new Float64Array(pairs);
  for (let i = 0; i < nCtx; i++) {
    let norm = 0;
    for (let k = 0; k < pairs; k++) norm += (re[k] as number) * (re[k] as number) + (im[k] as number) * (im[k] as number);
    norm = Math.sqrt(norm);
    for (let k = 0; k < pairs; k++) {
      codes[i * SUBSPACE_DIM + 2 * k] = (re[k] as number) / norm;
      codes[i * SUBSPACE_DIM + 2 * k + 1] = (im[k] as number) / norm;
      const r = re[k] as number;
      const m = im[k] as number;
      re[k] = r * (cos[k] as number) - m * (sin[k] as number);
      im[k] = r * (sin[k] as number) + m * (cos[k] as number);
    }
  }
  return codes;
}

/** [64, 64] the one-step rotation R (R p(j) = p(j+1)), block-diagonal over the 32 pairs. */
export function positionStep(): Float64Array {
  const { cos, sin } = positionRotations();
  const R = new Float64Array(SUBSPACE_DIM * SUBSPACE_DIM);
  for (let k = 0; k < SUBSPACE_DIM / 2; k++) {
    const a = 2 * k;
    const b = a + 1;
    R[a * SUBSPACE_DIM + a] = cos[k] as number;
    R[a * SUBSPACE_DIM + b] = -(sin[k] as number);
    R[b * SUBSPACE_DIM + a] = sin[k] as number;
    R[b * SUBSPACE_DIM + b] = cos[k] as number;
  }
  return R;
}

/** [V, 64] unit token codes u_t in the token subspace's coordinates. */
export function tokenCodes(vocab = DEMO_CONFIG.dVocab, seed = DEMO_SEED + 1): Float64Array {
  const rand = mulberry32(seed);
  const codes = new Float64Array(vocab * SUBSPACE_DIM);
  for (let t = 0; t < vocab; t++) {
    let norm = 0;
    for (let e = 0; e < SUBSPACE_DIM; e++) {
      const x = bell(rand);
      codes[t * SUBSPACE_DIM + e] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    for (let e = 0; e < SUBSPACE_DIM; e++) codes[t * SUBSPACE_DIM + e] = (codes[t * SUBSPACE_DIM + e] as number) / norm;
  }
  return codes;
}

/** rows × D: each row's 64 coordinates mapped into the stream through basis B ([D, 64]), times gain. */
function embedRows(coords: Float64Array, rows: number, basis: Float64Array, d: number, gain: number): Float32Array {
  const out = new Float32Array(rows * d);
  const c = new Float64Array(SUBSPACE_DIM);
  for (let r = 0; r < rows; r++) {
    for (let e = 0; e < SUBSPACE_DIM; e++) c[e] = (coords[r * SUBSPACE_DIM + e] as number) * gain;
    for (let i = 0; i < d; i++) {
      let sum = 0;
      for (let e = 0; e < SUBSPACE_DIM; e++) sum += (basis[i * SUBSPACE_DIM + e] as number) * (c[e] as number);
      out[r * d + i] = sum;
    }
  }
  return out;
}

/**
 * The LayerNorm factor √D/‖x‖ for a stream holding orthogonal parts of the given norms
 * (mean 0, so LN(x) = x·√D/‖x‖ with gain 1, up to eps).
 */
function lnFactor(d: number, ...norms: number[]): number {
  return Math.sqrt(d) / Math.sqrt(norms.reduce((s, n) => s + n * n, 0));
}

function emptyLayer(c: ModelConfig): LayerWeights {
  const D = c.dModel;
  return {
    ln1Weight: new Float32Array(D).fill(1),
    ln1Bias: new Float32Array(D),
    attnWeight: new Float32Array(D * 3 * D),
    attnBias: new Float32Array(3 * D),
    attnProjWeight: new Float32Array(D * D),
    attnProjBias: new Float32Array(D),
    ln2Weight: new Float32Array(D).fill(1),
    ln2Bias: new Float32Array(D),
    fcWeight: new Float32Array(D * c.dMlp),
    fcBias: new Float32Array(c.dMlp),
    mlpProjWeight: new Float32Array(c.dMlp * D),
    mlpProjBias: new Float32Array(D),
  };
}

/** c_attn columns for one head: Q = B_q·A_qᵀ·gq, K = B_k·A_kᵀ·gk, V = B_v·gv (A = optional 64×64 map). */
function setHead(
  layer: LayerWeights, c: ModelConfig, head: number,
  q: { basis: Float64Array; gain: number },
  k: { basis: Float64Array; gain: number; map?: Float64Array },
  v: { basis: Float64Array; gain: number },
  out: { basis: Float64Array },
): void {
  const D = c.dModel;
  const W = layer.attnWeight;
  const col = head * c.dHead;
  for (let i = 0; i < D; i++) {
    for (let e = 0; e < SUBSPACE_DIM; e++) {
      W[i * 3 * D + col + e] = (q.basis[i * SUBSPACE_DIM + e] as number) * q.gain;
      let key = 0;
      if (k.map) {
        // (B · Rᵀ)[i, e] = Σ_f B[i, f] R[e, f]: the key is R applied to the subspace coordinates.
        for (let f = 0; f < SUBSPACE_DIM; f++) key += (k.basis[i * SUBSPACE_DIM + f] as number) * (k.map[e * SUBSPACE_DIM + f] as number);
      } else {
        key = k.basis[i * SUBSPACE_DIM + e] as number;
      }
      W[i * 3 * D + D + col + e] = key * k.gain;
      W[i * 3 * D + 2 * D + col + e] = (v.basis[i * SUBSPACE_DIM + e] as number) * v.gain;
      // c_proj rows are the head's z coordinates, columns the stream: W_O = Bᵀ.
      layer.attnProjWeight[(col + e) * D + i] = out.basis[i * SUBSPACE_DIM + e] as number;
    }
  }
}

/** Builds every weight of the demo model (about 1–2 s; 67 MB as F32). */
export function buildDemoWeights(): ModelWeights {
  const c = DEMO_CONFIG;
  const D = c.dModel;
  const scoreScale = Math.sqrt(c.dHead); // scores are q·k/√Dh
  const S = demoSubspaces();
  const wte = embedRows(tokenCodes(), c.dVocab, S.token, D, TOKEN_NORM);
  const wpe = embedRows(positionCodes(), c.nCtx, S.pos, D, POS_NORM);

  // Layer 0: the stream is TOKEN_NORM·u + POS_NORM·p, so LN1 multiplies by ln0.
  const layer0 = emptyLayer(c);
  const ln0 = lnFactor(D, TOKEN_NORM, POS_NORM);
  // q·k/√Dh = (ln0·POS_NORM)²·g²/√Dh · p(i)·p(j+1) = PREV_TOKEN_SHARPNESS at j = i − 1.
  const gPos = Math.sqrt((PREV_TOKEN_SHARPNESS * scoreScale) / (ln0 * POS_NORM * ln0 * POS_NORM));
  setHead(
    layer0, c, PREVIOUS_TOKEN_HEAD.head,
    { basis: S.pos, gain: gPos },
    { basis: S.pos, gain: gPos, map: positionStep() },
    { basis: S.token, gain: PREV_NORM / (ln0 * TOKEN_NORM) },
    { basis: S.prev },
  );

  // Layer 1: TOKEN_NORM·u_t + POS_NORM·p + PREV_NORM·u_prev.
  const layer1 = emptyLayer(c);
  const ln1 = lnFactor(D, TOKEN_NORM, POS_NORM, PREV_NORM);
  // q·k/√Dh = ln1²·TOKEN_NORM·PREV_NORM·g²/√Dh · u_t·u_prev(j) = INDUCTION_SHARPNESS at a match.
  const gTok = Math.sqrt((INDUCTION_SHARPNESS * scoreScale) / (ln1 * ln1 * TOKEN_NORM * PREV_NORM));
  setHead(
    layer1, c, INDUCTION_HEAD.head,
    { basis: S.token, gain: gTok },
    { basis: S.prev, gain: gTok },
    { basis: S.token, gain: (INDUCTION_GAIN * TOKEN_NORM) / (ln1 * TOKEN_NORM) },
    { basis: S.token },
  );

  return {
    config: c,
    wte,
    wpe,
    layers: [layer0, layer1],
    lnFinalWeight: new Float32Array(D).fill(FINAL_LN_GAIN),
    lnFinalBias: new Float32Array(D),
  };
}

/** Hugging Face config.json for the demo model. */
export function demoConfigJson(): Record<string, unknown> {
  const c = DEMO_CONFIG;
  return {
    _name_or_path: 'residual-lens/demo',
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    n_layer: c.nLayer,
    n_head: c.nHead,
    n_embd: c.dModel,
    n_positions: c.nCtx,
    n_ctx: c.nCtx,
    n_inner: null,
    vocab_size: c.dVocab,
    layer_norm_epsilon: c.layerNormEps,
    bos_token_id: 50256,
    eos_token_id: 50256,
    residual_lens_demo: 'planted circuits: L0H0 previous-token head, L1H0 induction head; see README.md',
  };
}

/** Canonical safetensors tensors, in Hugging Face GPT-2 order, all F32. */
export function demoTensors(w: ModelWeights): { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] {
  const c = w.config;
  const D = c.dModel;
  const M = c.dMlp;
  const out: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = [
    { name: 'wte.weight', dtype: 'F32', shape: [c.dVocab, D], data: w.wte },
    { name: 'wpe.weight', dtype: 'F32', shape: [c.nCtx, D], data: w.wpe },
  ];
  w.layers.forEach((x, l) => {
    const t = (name: string, shape: number[], data: Float32Array): void => {
      out.push({ name: `h.${l}.${name}`, dtype: 'F32', shape, data });
    };
    t('ln_1.weight', [D], x.ln1Weight);
    t('ln_1.bias', [D], x.ln1Bias);
    t('attn.c_attn.weight', [D, 3 * D], x.attnWeight);
    t('attn.c_attn.bias', [3 * D], x.attnBias);
    t('attn.c_proj.weight', [D, D], x.attnProjWeight);
    t('attn.c_proj.bias', [D], x.attnProjBias);
    t('ln_2.weight', [D], x.ln2Weight);
    t('ln_2.bias', [D], x.ln2Bias);
    t('mlp.c_fc.weight', [D, M], x.fcWeight);
    t('mlp.c_fc.bias', [M], x.fcBias);
    t('mlp.c_proj.weight', [M, D], x.mlpProjWeight);
    t('mlp.c_proj.bias', [D], x.mlpProjBias);
  });
  out.push({ name: 'ln_f.weight', dtype: 'F32', shape: [D], data: w.lnFinalWeight });
  out.push({ name: 'ln_f.bias', dtype: 'F32', shape: [D], data: w.lnFinalBias });
  return out;
}

/** Writes `folder`/config.json and `folder`/model.safetensors (each atomically: temporary file, then rename). */
export function writeDemoModel(folder: string): void {
  fs.mkdirSync(folder, { recursive: true });
  const configPath = path.join(folder, 'config.json');
  const temporary = `${configPath}.tmp-${process.pid}`;
  fs.writeFileSync(temporary, `${JSON.stringify(demoConfigJson(), null, 2)}\n`);
  fs.renameSync(temporary, configPath);
  writeSafetensors(path.join(folder, 'model.safetensors'), demoTensors(buildDemoWeights()), { format: 'pt' });
}
