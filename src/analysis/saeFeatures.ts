/**
 * Pure functions over SAE encoder outputs and weights (no ORT): reconstruction quality, the
 * sparse per-position lists, and per-feature effects through the unembedding. Float64
 * accumulation throughout. Top lists order by value, then by lower id (deterministic ties).
 */
import type { TokenValue } from '../engine/sae/types';

/** Per-position variance explained and cosine, and the whole-trace figure. x, recon: [T, D]. */
export function reconstructionQuality(x: Float32Array, recon: Float32Array, T: number, D: number): { varianceExplained: Float64Array; cosine: Float64Array; varianceExplainedTrace: number | null } {
  const varianceExplained = new Float64Array(T);
  const cosine = new Float64Array(T);
  const meanOverPositions = new Float64Array(D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) meanOverPositions[d] += x[t * D + d] / T;
  let residualTotal = 0;
  let varianceTotal = 0;
  for (let t = 0; t < T; t++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += x[t * D + d];
    mean /= D;
    let err = 0, spread = 0, dot = 0, xx = 0, rr = 0, around = 0;
    for (let d = 0; d < D; d++) {
      const a = x[t * D + d];
      const b = recon[t * D + d];
      err += (a - b) * (a - b);
      spread += (a - mean) * (a - mean);
      dot += a * b;
      xx += a * a;
      rr += b * b;
      around += (a - meanOverPositions[d]) ** 2;
    }
    varianceExplained[t] = spread > 0 ? 1 - err / spread : NaN;
    cosine[t] = xx > 0 && rr > 0 ? dot / Math.sqrt(xx * rr) : NaN;
    residualTotal += err;
    varianceTotal += around;
  }
  return { varianceExplained, cosine, varianceExplainedTrace: T > 1 && varianceTotal > 0 ? 1 - residualTotal / varianceTotal : null };
}

/** ORT's top-k lists with inactive entries (value ≤ 0) replaced by id −1, value 0. */
export function sparseTopFeatures(ids: Int32Array, values: Float32Array): { ids: Int32Array; values: Float32Array } {
  const outIds = new Int32Array(ids.length);
  const outValues = new Float32Array(values.length);
  for (let i = 0; i < ids.length; i++) {
    const active = values[i] > 0;
    outIds[i] = active ? ids[i] : -1;
    outValues[i] = active ? values[i] : 0;
  }
  return { ids: outIds, values: outValues };
}

/** Keeps the n best of a stream of (id, value) by value (largest or smallest first), ties by lower id. */
export function topN(values: ArrayLike<number>, n: number, largest: boolean): TokenValue[] {
  const better = (a: TokenValue, b: TokenValue): boolean => (largest ? a.value > b.value : a.value < b.value) || (a.value === b.value && a.id < b.id);
  const kept: TokenValue[] = [];
  for (let id = 0; id < values.length; id++) {
    const item = { id, value: values[id] };
    if (Number.isNaN(item.value)) continue;
    if (kept.length === n && !better(item, kept[n - 1])) continue;
    let at = kept.length === n ? n - 1 : kept.length;
    if (kept.length === n) kept.pop();
    while (at > 0 && better(item, kept[at - 1])) at--;
    kept.splice(at, 0, item);
  }
  return kept;
}

/** (W_dec[f] − mean) ⊙ γ: the decoder row as the final LayerNorm's centring and gain see it. [D] */
export function lnScaledDirection(wDec: Float32Array, feature: number, D: number, lnGain: Float32Array): Float64Array {
  let mean = 0;
  for (let d = 0; d < D; d++) mean += wDec[feature * D + d];
  mean /= D;
  const out = new Float64Array(D);
  for (let d = 0; d < D; d++) out[d] = (wDec[feature * D + d] - mean) * lnGain[d];
  return out;
}

/** [V] direction · W_U[:, t] for every token, W_U = wteᵀ (wte [V, D], tied unembedding). */
export function logitsOfDirection(direction: Float64Array, wte: Float32Array, V: number, D: number): Float64Array {
  const out = new Float64Array(V);
  for (let t = 0; t < V; t++) {
    let s = 0;
    const row = t * D;
    for (let d = 0; d < D; d++) s += direction[d] * wte[row + d];
    out[t] = s;
  }
  return out;
}

/** What the SAE does to one input row before W_enc: centring, normalisation, b_dec. */
export interface SaeInputTransform {
  readonly centre: boolean;
  readonly normalization: 'none' | 'constant_norm_rescale' | 'layer_norm';
  readonly bDec: Float32Array | undefined;
  readonly layerNormEps: number;
}

/** The encoder input for one row x [D] (float64), as buildSaeGraph computes it. */
export function encoderInput(x: ArrayLike<number>, D: number, tr: SaeInputTransform): Float64Array {
  const v = new Float64Array(D);
  let mean = 0;
  for (let d = 0; d < D; d++) mean += x[d];
  mean /= D;
  for (let d = 0; d < D; d++) v[d] = tr.centre ? x[d] - mean : x[d];
  if (tr.normalization === 'constant_norm_rescale') {
    let ss = 0;
    for (let d = 0; d < D; d++) ss += v[d] * v[d];
    const coeff = Math.sqrt(D) / Math.sqrt(ss);
    for (let d = 0; d < D; d++) v[d] *= coeff;
  } else if (tr.normalization === 'layer_norm') {
    let mu = 0;
    for (let d = 0; d < D; d++) mu += v[d];
    mu /= D;
    let ss = 0;
    for (let d = 0; d < D; d++) ss += (v[d] - mu) ** 2;
    const std = Math.sqrt(ss / (D - 1));
    for (let d = 0; d < D; d++) v[d] = (v[d] - mu) / (std + tr.layerNormEps);
  }
  if (tr.bDec) for (let d = 0; d < D; d++) v[d] -= tr.bDec[d];
  return v;
}

/** [V] the feature's pre-activation with each token's embedding alone as the SAE input. */
export function embeddingPreActivations(feature: number, wEnc: Float32Array, bEnc: Float32Array, S: number, wte: Float32Array, V: number, D: number, tr: SaeInputTransform): Float64Array {
  const column = new Float64Array(D);
  for (let d = 0; d < D; d++) column[d] = wEnc[d * S + feature];
  const out = new Float64Array(V);
  for (let t = 0; t < V; t++) {
    const v = encoderInput(wte.subarray(t * D, (t + 1) * D), D, tr);
    let s = bEnc[feature];
    for (let d = 0; d < D; d++) s += v[d] * column[d];
    out[t] = s;
  }
  return out;
}

/**
 * The factor the SAE's output is multiplied by at a position (its reconstruction's de-normalisation):
 * 1 (none), ‖sae_in‖/√D (constant_norm_rescale), std (layer_norm).
 */
export function denormFactor(saeIn: ArrayLike<number>, D: number, normalization: SaeInputTransform['normalization']): number {
  if (normalization === 'none') return 1;
  let mean = 0;
  for (let d = 0; d < D; d++) mean += saeIn[d];
  mean /= D;
  let ss = 0;
  for (let d = 0; d < D; d++) ss += normalization === 'layer_norm' ? (saeIn[d] - mean) ** 2 : saeIn[d] * saeIn[d];
  return normalization === 'layer_norm' ? Math.sqrt(ss / (D - 1)) : Math.sqrt(ss) / Math.sqrt(D);
}
