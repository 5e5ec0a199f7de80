/**
 * A slow, obviously correct GPT-2 forward pass in plain loops, the yardstick every engine and
 * analysis test compares against. Arithmetic is in float64 (JS numbers); results are returned
 * as Float32Array in the same shapes as Trace (src/engine/types.ts).
 *
 * GPT-2: x = W_E[id] + W_pos[pos]; per block (pre-LN):
 *   x += Attn(LN1(x));  x += MLP(LN2(x));  logits = LN_f(x) · W_Eᵀ (tied unembedding).
 * LayerNorm: (x - mean) / sqrt(var + eps) · w + b with the biased variance; hook_scale is the
 * divisor sqrt(var + eps), as TransformerLens's ln*.hook_scale. Attention scores are
 * q·k / sqrt(Dh), causally masked, softmaxed over keys. GELU is the tanh form (gelu_new).
 * Conv1D weights are [in, out]: y[j] = b[j] + Σ_i x[i] · W[i, j].
 */
import type { ModelWeights } from '../../src/engine/types';

export interface ReferenceTrace {
  /** [T, D] hook_embed */ readonly embed: Float32Array;
  /** [T, D] hook_pos_embed */ readonly posEmbed: Float32Array;
  /** [L+1, T, D] resid_pre of each layer, then the last resid_post */ readonly resid: Float32Array;
  /** [L, T, D] hook_resid_mid */ readonly residMid: Float32Array;
  /** [L, T] ln1.hook_scale */ readonly ln1Scale: Float32Array;
  /** [L, T] ln2.hook_scale */ readonly ln2Scale: Float32Array;
  /** [L, H, T, T] attn.hook_pattern [layer, head, query_pos, key_pos] */ readonly pattern: Float32Array;
  /** [L, T, H, Dh] attn.hook_z */ readonly z: Float32Array;
  /** [L, T, H, D] attn.hook_result: each head's write z_h · W_O[h] (no bias) */ readonly headResult: Float32Array;
  /** [L, T, D] hook_attn_out = Σ_h headResult + b_O */ readonly attnOut: Float32Array;
  /** [L, T, M] mlp.hook_post (GELU output) */ readonly mlpPost: Float32Array;
  /** [L, T, D] hook_mlp_out */ readonly mlpOut: Float32Array;
  /** [T] ln_final.hook_scale */ readonly lnFinalScale: Float32Array;
  /** [T, V] final logits */ readonly logits: Float32Array;
}

/** gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** LayerNorm of one row: returns the normalised, scaled row and the divisor sqrt(var + eps). */
export function layerNormRow(x: readonly number[], weight: Float32Array, bias: Float32Array, eps: number): { out: number[]; scale: number } {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i] as number;
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += ((x[i] as number) - mean) ** 2;
  variance /= n;
  const scale = Math.sqrt(variance + eps);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((((x[i] as number) - mean) / scale) * (weight[i] as number) + (bias[i] as number));
  return { out, scale };
}

/** y = x · W + b for a Conv1D weight W stored [nIn, nOut]; only columns [colStart, colStart + nCols). */
function linear(x: readonly number[], weight: Float32Array, bias: Float32Array | undefined, nOut: number, colStart = 0, nCols = nOut): number[] {
  const y: number[] = [];
  for (let j = 0; j < nCols; j++) {
    let sum = bias === undefined ? 0 : (bias[colStart + j] as number);
    for (let i = 0; i < x.length; i++) sum += (x[i] as number) * (weight[i * nOut + colStart + j] as number);
    y.push(sum);
  }
  return y;
}

/**
 * Called at every hook of every block, in forward order, with the activation as rows of the
 * full trace (TransformerLens names, e.g. 'blocks.1.attn.hook_z'): [T][D] for residual hooks,
 * attn_out and mlp_out; [T][H·Dh] for hook_z; [H·T][T] for hook_pattern (row h·T + query);
 * [T][M] for mlp.hook_post. It edits the rows in place (run_with_hooks semantics).
 */
export type ReferenceEdit = (hook: string, rows: number[][]) => void;

function applyEdit(edit: ReferenceEdit | undefined, hook: string, rows: number[][]): void {
  edit?.(hook, rows);
}

/** Runs GPT-2 on token ids (BOS, if any, already included) and records every hook. */
export function referenceForward(weights: ModelWeights, ids: readonly number[], edit?: ReferenceEdit): ReferenceTrace {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh, dMlp: M, nCtx, dVocab: V, layerNormEps: eps } = weights.config;
  const T = ids.length;
  if (T === 0) throw new Error('referenceForward: no tokens');
  if (T > nCtx) throw new Error(`referenceForward: ${T} tokens but n_ctx is ${nCtx}`);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`referenceForward: token id ${id} is outside 0..${V - 1}`);
  }

  const embed = new Float32Array(T * D);
  const posEmbed = new Float32Array(T * D);
  const resid = new Float32Array((L + 1) * T * D);
  const residMid = new Float32Array(L * T * D);
  const ln1Scale = new Float32Array(L * T);
  const ln2Scale = new Float32Array(L * T);
  const pattern = new Float32Array(L * H * T * T);
  const z = new Float32Array(L * T * H * Dh);
  const headResult = new Float32Array(L * T * H * D);
  const attnOut = new Float32Array(L * T * D);
  const mlpPost = new Float32Array(L * T * M);
  const mlpOut = new Float32Array(L * T * D);
  const lnFinalScale = new Float32Array(T);
  const logits = new Float32Array(T * V);

  // x[t] is the residual stream at position t, kept in float64 between layers.
  const x: number[][] = [];
  for (let t = 0; t < T; t++) {
    const id = ids[t] as number;
    const row: number[] = [];
    for (let i = 0; i < D; i++) {
      const e = weights.wte[id * D + i] as number;
      const p = weights.wpe[t * D + i] as number;
      embed[t * D + i] = e;
      posEmbed[t * D + i] = p;
      row.push(e + p);
    }
    x.push(row);
  }

  for (let l = 0; l < L; l++) {
    const w = weights.layers[l];
    if (w === undefined) throw new Error(`referenceForward: weights have no layer ${l}`);
    const hook = (name: string, rows: number[][]): void => applyEdit(edit, `blocks.${l}.${name}`, rows);
    hook('hook_resid_pre', x);
    for (let t = 0; t < T; t++) resid.set(x[t] as number[], (l * T + t) * D);

    // Attention: q, k, v per position and head, from the 3D-wide c_attn output.
    const q: number[][][] = [];
    const k: number[][][] = [];
    const v: number[][][] = [];
    for (let t = 0; t < T; t++) {
      const ln = layerNormRow(x[t] as number[], w.ln1Weight, w.ln1Bias, eps);
      ln1Scale[l * T + t] = ln.scale;
      const qkv = linear(ln.out, w.attnWeight, w.attnBias, 3 * D);
      q.push([]); k.push([]); v.push([]);
      for (let h = 0; h < H; h++) {
        (q[t] as number[][]).push(qkv.slice(h * Dh, (h + 1) * Dh));
        (k[t] as number[][]).push(qkv.slice(D + h * Dh, D + (h + 1) * Dh));
        (v[t] as number[][]).push(qkv.slice(2 * D + h * Dh, 2 * D + (h + 1) * Dh));
      }
    }
    // Patterns [H][T(query)][T(key)]: 0 above the diagonal.
    const pat: number[][][] = [];
    for (let h = 0; h < H; h++) {
      pat.push([]);
      for (let qi = 0; qi < T; qi++) {
        // Causal: query qi sees keys 0..qi only.
        const scores: number[] = [];
        for (let ki = 0; ki <= qi; ki++) {
          let dot = 0;
          for (let i = 0; i < Dh; i++) dot += (q[qi]![h]![i] as number) * (k[ki]![h]![i] as number);
          scores.push(dot / Math.sqrt(Dh));
        }
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const total = exps.reduce((a, b) => a + b, 0);
        const row = new Array<number>(T).fill(0);
        for (let ki = 0; ki <= qi; ki++) row[ki] = (exps[ki] as number) / total;
        pat[h]!.push(row);
      }
    }
    if (edit) {
      // hook_pattern is [H, T, T]: edit it as H·T rows of T.
      const rows = pat.flat();
      hook('attn.hook_pattern', rows);
      for (let h = 0; h < H; h++) for (let qi = 0; qi < T; qi++) pat[h]![qi] = rows[h * T + qi] as number[];
    }
    // z [T][H·Dh]: every key counts (an edited pattern may weigh later positions).
    const zRows: number[][] = [];
    for (let qi = 0; qi < T; qi++) {
      const zRow = new Array<number>(H * Dh).fill(0);
      for (let h = 0; h < H; h++) {
        for (let ki = 0; ki < T; ki++) {
          pattern[((l * H + h) * T + qi) * T + ki] = pat[h]![qi]![ki] as number;
          const p = pat[h]![qi]![ki] as number;
          if (p === 0) continue;
          for (let i = 0; i < Dh; i++) zRow[h * Dh + i] = (zRow[h * Dh + i] as number) + p * (v[ki]![h]![i] as number);
        }
      }
      zRows.push(zRow);
    }
    hook('attn.hook_z', zRows);
    const attn: number[][] = [];
    for (let t = 0; t < T; t++) attn.push(Array.from(w.attnProjBias));
    for (let qi = 0; qi < T; qi++) {
      z.set(zRows[qi] as number[], l * T * H * Dh + qi * H * Dh);
      for (let h = 0; h < H; h++) {
        // Head h's write: z_h · W_O[h*Dh:(h+1)*Dh, :].
        for (let j = 0; j < D; j++) {
          let sum = 0;
          for (let i = 0; i < Dh; i++) sum += (zRows[qi]![h * Dh + i] as number) * (w.attnProjWeight[(h * Dh + i) * D + j] as number);
          headResult[((l * T + qi) * H + h) * D + j] = sum;
          attn[qi]![j] = (attn[qi]![j] as number) + sum;
        }
      }
    }
    hook('hook_attn_out', attn);
    for (let t = 0; t < T; t++) {
      attnOut.set(attn[t] as number[], (l * T + t) * D);
      for (let i = 0; i < D; i++) x[t]![i] = (x[t]![i] as number) + (attn[t]![i] as number);
    }
    hook('hook_resid_mid', x);
    for (let t = 0; t < T; t++) residMid.set(x[t] as number[], (l * T + t) * D);

    // MLP.
    const posts: number[][] = [];
    for (let t = 0; t < T; t++) {
      const ln = layerNormRow(x[t] as number[], w.ln2Weight, w.ln2Bias, eps);
      ln2Scale[l * T + t] = ln.scale;
      posts.push(linear(ln.out, w.fcWeight, w.fcBias, M).map(geluTanh));
    }
    hook('mlp.hook_post', posts);
    const outs: number[][] = [];
    for (let t = 0; t < T; t++) {
      mlpPost.set(posts[t] as number[], (l * T + t) * M);
      outs.push(linear(posts[t] as number[], w.mlpProjWeight, w.mlpProjBias, D));
    }
    hook('hook_mlp_out', outs);
    for (let t = 0; t < T; t++) {
      mlpOut.set(outs[t] as number[], (l * T + t) * D);
      for (let i = 0; i < D; i++) x[t]![i] = (x[t]![i] as number) + (outs[t]![i] as number);
    }
    hook('hook_resid_post', x);
  }
  for (let t = 0; t < T; t++) {
    resid.set(x[t] as number[], (L * T + t) * D);
    const ln = layerNormRow(x[t] as number[], weights.lnFinalWeight, weights.lnFinalBias, eps);
    lnFinalScale[t] = ln.scale;
    // Tied unembedding: logit[v] = ln · W_E[v].
    for (let tok = 0; tok < V; tok++) {
      let sum = 0;
      for (let i = 0; i < D; i++) sum += (ln.out[i] as number) * (weights.wte[tok * D + i] as number);
      logits[t * V + tok] = sum;
    }
  }

  return { embed, posEmbed, resid, residMid, ln1Scale, ln2Scale, pattern, z, headResult, attnOut, mlpPost, mlpOut, lnFinalScale, logits };
}
