/**
 * Direct logit attribution with the final LayerNorm scale frozen (TransformerLens apply_ln_to_stack):
 * each write is centred along d_model, divided by the final residual's LN scale, multiplied by w_lnf
 * and dotted with W_U[:, t]. Because centring and scaling are linear once the scale is frozen,
 * Σ values + b_lnf · W_U[:, t] is exactly the model's logit.
 */
import type { ModelConfig } from '../engine/types';
import { backendMatmulTransB, jsBackend, type MatmulBackend } from './linalg';

/**
 * @param components [C, D] component writes (decomposeResidual)
 * @param lnFinalScale ln_final.hook_scale at the position (sqrt(var + eps) of the final residual)
 * @param unembedColumn [D] W_U[:, t] (= wte[t])
 * @returns values [C] and lnBiasTerm = b_lnf · W_U[:, t]
 */
export function directLogitAttribution(
  components: Float32Array,
  d: number,
  lnFinalScale: number,
  lnFinalWeight: Float32Array,
  lnFinalBias: Float32Array,
  unembedColumn: Float32Array,
): { values: Float32Array; lnBiasTerm: number } {
  if (components.length % d !== 0) throw new RangeError(`directLogitAttribution: ${components.length} values are not rows of d_model ${d}`);
  if (!(lnFinalScale > 0)) throw new RangeError(`directLogitAttribution: the final LayerNorm scale must be positive, got ${lnFinalScale}`);
  const rows = components.length / d;
  // w ⊙ u and its mean: centred(x)·(w⊙u) = x·(w⊙u) − mean(x)·Σ(w⊙u)
  const wu = new Float64Array(d);
  let wuSum = 0;
  for (let i = 0; i < d; i++) {
    wu[i] = (lnFinalWeight[i] as number) * (unembedColumn[i] as number);
    wuSum += wu[i] as number;
  }
  const values = new Float32Array(rows);
  for (let c = 0; c < rows; c++) {
    let dotWu = 0;
    let sum = 0;
    const base = c * d;
    for (let i = 0; i < d; i++) {
      const x = components[base + i] as number;
      dotWu += x * (wu[i] as number);
      sum += x;
    }
    values[c] = (dotWu - (sum / d) * wuSum) / lnFinalScale;
  }
  let lnBiasTerm = 0;
  for (let i = 0; i < d; i++) lnBiasTerm += (lnFinalBias[i] as number) * (unembedColumn[i] as number);
  return { values, lnBiasTerm };
}

/** What attributeAllPositions reads: a trace's stored hooks and the small weights attribution needs. */
export interface AllPositionsInput {
  readonly config: ModelConfig;
  /** [T, D] hook_embed */ readonly embed: Float32Array;
  /** [T, D] hook_pos_embed */ readonly posEmbed: Float32Array;
  /** [L, T, H, Dh] attn.hook_z */ readonly z: Float32Array;
  /** [L, T, D] hook_mlp_out */ readonly mlpOut: Float32Array;
  /** [T] ln_final.hook_scale */ readonly lnFinalScale: Float32Array;
  /** [T] the token whose logit is attributed at each position (the model's top-1). */ readonly targets: Int32Array;
  /** Per layer [D, D] W_O (rows: H heads of Dh). */ readonly attnProjWeight: readonly Float32Array[];
  /** Per layer [D] b_O. */ readonly attnProjBias: readonly Float32Array[];
  /** [D] */ readonly lnFinalWeight: Float32Array;
  /** [D] */ readonly lnFinalBias: Float32Array;
  /** [D] W_U[:, tokenId]; called once per distinct target. */
  readonly unembedColumn: (tokenId: number) => Float32Array;
}

export interface AllPositionsAttribution {
  /** [T, C] directLogitAttribution's values at every position, components in componentLabels order. */
  readonly values: Float32Array;
  /** [T] the attributed token per position (= targets). */
  readonly tokenIds: Int32Array;
  /** [T] b_lnf · W_U[:, tokenIds[p]]. */
  readonly lnBiasTerm: Float64Array;
}

/**
 * directLogitAttribution(decomposeResidual(trace, pos), …) at every position at once, without
 * forming per-head results. With the scale frozen the attribution is linear, and centring moves
 * onto the direction: centred(x)·v = x·v′ with v′ = v − mean(v), v = w_lnf ⊙ W_U[:, t]. So a head's
 * term is z_h[p] · (W_O[h] · v′_t) / scale[p], and W_O[l] · V′ for every distinct target t is one
 * [D, D] × [D, n] product per layer (through `backend`; ORT in the engine).
 */
export async function attributeAllPositions(input: AllPositionsInput, backend: MatmulBackend = jsBackend): Promise<AllPositionsAttribution> {
  const { nLayer: L, nHead: H, dHead: Dh, dModel: D } = input.config;
  const T = input.targets.length;
  const C = 2 + L * (H + 2);
  const expect = (what: string, got: number, want: number): void => {
    if (got !== want) throw new RangeError(`attributeAllPositions: ${what} has ${got} values, expected ${want}`);
  };
  expect('embed', input.embed.length, T * D);
  expect('posEmbed', input.posEmbed.length, T * D);
  expect('z', input.z.length, L * T * H * Dh);
  expect('mlpOut', input.mlpOut.length, L * T * D);
  expect('lnFinalScale', input.lnFinalScale.length, T);
  for (let p = 0; p < T; p++) {
    const scale = input.lnFinalScale[p] as number;
    if (!(scale > 0)) throw new RangeError(`attributeAllPositions: the final LayerNorm scale at position ${p} must be positive, got ${scale}`);
  }

  // Distinct targets → columns: vt [n, D] holds v′ per target (float32 for the product, float64 copy for the small dots).
  const columnOf = new Map<number, number>();
  const cols = new Int32Array(T);
  for (let p = 0; p < T; p++) {
    const t = input.targets[p] as number;
    let j = columnOf.get(t);
    if (j === undefined) {
      j = columnOf.size;
      columnOf.set(t, j);
    }
    cols[p] = j;
  }
  const n = columnOf.size;
  const vt = new Float32Array(n * D);
  const vt64 = new Float64Array(n * D);
  const biasOf = new Float64Array(n);
  for (const [t, j] of columnOf) {
    const u = input.unembedColumn(t);
    expect(`W_U[:, ${t}]`, u.length, D);
    let mean = 0;
    for (let i = 0; i < D; i++) mean += (input.lnFinalWeight[i] as number) * (u[i] as number);
    mean /= D;
    let bias = 0;
    for (let i = 0; i < D; i++) {
      const v = (input.lnFinalWeight[i] as number) * (u[i] as number) - mean;
      vt64[j * D + i] = v;
      vt[j * D + i] = v;
      bias += (input.lnFinalBias[i] as number) * (u[i] as number);
    }
    biasOf[j] = bias;
  }
  /** x[at .. at+D) · v′_j */
  const dot = (x: Float32Array, at: number, j: number): number => {
    let s = 0;
    const base = j * D;
    for (let i = 0; i < D; i++) s += (x[at + i] as number) * (vt64[base + i] as number);
    return s;
  };

  const values = new Float32Array(T * C);
  const lnBiasTerm = new Float64Array(T);
  for (let p = 0; p < T; p++) {
    const j = cols[p] as number;
    const scale = input.lnFinalScale[p] as number;
    values[p * C] = dot(input.embed, p * D, j) / scale;
    values[p * C + 1] = dot(input.posEmbed, p * D, j) / scale;
    lnBiasTerm[p] = biasOf[j] as number;
  }
  for (let l = 0; l < L; l++) {
    // [D, n]: row h·Dh + d is W_O[l][h, d, :] · v′_j for every target column j.
    const projected = await backendMatmulTransB(backend, input.attnProjWeight[l]!, vt, D, D, n);
    const bias = new Float64Array(n);
    for (let j = 0; j < n; j++) bias[j] = dot(input.attnProjBias[l]!, 0, j);
    const first = 2 + l * (H + 2);
    for (let p = 0; p < T; p++) {
      const j = cols[p] as number;
      const scale = input.lnFinalScale[p] as number;
      const row = p * C + first;
      for (let h = 0; h < H; h++) {
        const zBase = ((l * T + p) * H + h) * Dh;
        let s = 0;
        for (let d = 0; d < Dh; d++) s += (input.z[zBase + d] as number) * (projected[(h * Dh + d) * n + j] as number);
        values[row + h] = s / scale;
      }
      values[row + H] = (bias[j] as number) / scale;
      values[row + H + 1] = dot(input.mlpOut, (l * T + p) * D, j) / scale;
    }
  }
  return { values, tokenIds: Int32Array.from(input.targets), lnBiasTerm };
}
