/**
 * Which source positions fed one head's write at a query position (the value-weighted view of
 * CircuitsVis / Kobayashi et al. 2020): the head's result at q is Σ_s A[q, s] · f(s), with
 * f(s) = (LN1(resid_pre[s]) W_V[h] + b_V[h]) W_O[h] the OV-mapped value of source s. Per source:
 * the attention weight, the norm of A[q, s] · f(s), and its direct logit attribution to a token
 * (final LayerNorm scale frozen, as in attribution.ts), so Σ_s dla[s] is the head's DLA at q
 * (b_O is the separate `attn_bias` component).
 */

export interface HeadSourcesInput {
  readonly dModel: number;
  readonly dHead: number;
  readonly nHead: number;
  readonly layerNormEps: number;
  /** [T, D] blocks.{l}.hook_resid_pre */ readonly residPre: Float32Array;
  /** [T] A[q, 0..T) of the head (zeros after q) */ readonly patternRow: Float32Array;
  /** [D] ln_1 weight and bias */ readonly lnWeight: Float32Array;
  readonly lnBias: Float32Array;
  /** [D, 3D] c_attn.weight (HF Conv1D: x · W), [3D] c_attn.bias */ readonly qkvWeight: Float32Array;
  readonly qkvBias: Float32Array;
  /** [D, D] c_proj.weight; rows h·Dh … (h+1)·Dh are W_O[h] */ readonly projWeight: Float32Array;
  readonly head: number;
  readonly pos: number;
  /** For the per-source DLA: ln_final.hook_scale at pos, ln_f weight, W_U[:, token]. */
  readonly lnFinalScale: number;
  readonly lnFinalWeight: Float32Array;
  readonly unembedColumn: Float32Array;
}

export interface HeadSources {
  /** [T] A[q, s]; 0 for s > q */ readonly attention: Float32Array;
  /** [T] ‖A[q, s] · f(s)‖₂ */ readonly norm: Float32Array;
  /** [T] DLA of A[q, s] · f(s) to the token */ readonly dla: Float32Array;
}

export function headSources(x: HeadSourcesInput): HeadSources {
  const { dModel: D, dHead: Dh, pos: q, head: h } = x;
  const T = x.patternRow.length;
  if (x.residPre.length !== T * D) throw new RangeError(`headSources: resid_pre has ${x.residPre.length} values, expected ${T}×${D}`);
  if (q < 0 || q >= T) throw new RangeError(`headSources: position ${q} is outside 0..${T - 1}`);
  if (!(x.lnFinalScale > 0)) throw new RangeError(`headSources: the final LayerNorm scale must be positive, got ${x.lnFinalScale}`);
  const attention = new Float32Array(T);
  const norm = new Float32Array(T);
  const dla = new Float32Array(T);
  // w ⊙ u and Σ(w ⊙ u): centred(c) · (w ⊙ u) = c · (w ⊙ u) − mean(c) · Σ(w ⊙ u)
  const wu = new Float64Array(D);
  let wuSum = 0;
  for (let i = 0; i < D; i++) {
    wu[i] = (x.lnFinalWeight[i] as number) * (x.unembedColumn[i] as number);
    wuSum += wu[i] as number;
  }
  const vCol = 2 * D + h * Dh; // value columns of this head in c_attn
  const ln = new Float64Array(D);
  const v = new Float64Array(Dh);
  const f = new Float64Array(D);
  for (let s = 0; s <= q; s++) {
    const a = x.patternRow[s] as number;
    attention[s] = a;
    const row = x.residPre.subarray(s * D, (s + 1) * D);
    let mean = 0;
    for (let i = 0; i < D; i++) mean += row[i] as number;
    mean /= D;
    let variance = 0;
    for (let i = 0; i < D; i++) variance += ((row[i] as number) - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / D + x.layerNormEps);
    for (let i = 0; i < D; i++) ln[i] = ((row[i] as number) - mean) * inv * (x.lnWeight[i] as number) + (x.lnBias[i] as number);
    for (let j = 0; j < Dh; j++) v[j] = x.qkvBias[vCol + j] as number;
    for (let i = 0; i < D; i++) {
      const li = ln[i] as number;
      const base = i * 3 * D + vCol;
      for (let j = 0; j < Dh; j++) v[j] = (v[j] as number) + li * (x.qkvWeight[base + j] as number);
    }
    f.fill(0);
    for (let j = 0; j < Dh; j++) {
      const vj = v[j] as number;
      const base = (h * Dh + j) * D;
      for (let o = 0; o < D; o++) f[o] = (f[o] as number) + vj * (x.projWeight[base + o] as number);
    }
    let sq = 0;
    let dot = 0;
    let sum = 0;
    for (let o = 0; o < D; o++) {
      const c = a * (f[o] as number);
      sq += c * c;
      dot += c * (wu[o] as number);
      sum += c;
    }
    norm[s] = Math.sqrt(sq);
    dla[s] = (dot - (sum / D) * wuSum) / x.lnFinalScale;
  }
  return { attention, norm, dla };
}
