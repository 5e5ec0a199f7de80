/**
 * Per-head QK and OV circuits.
 * - Copying score (Elhage et al. 2021): the full OV circuit W_E W_OV W_U restricted to a token sample S
 *   is C = (W_E[S] W_V)(W_O W_U[:, S]) = X Y, [k, k]. Its non-zero eigenvalues are those of Y X [Dh, Dh]
 *   (whichever side is smaller is used); score = Σ λ / Σ |λ| (complex λ: |λ| = modulus), in [-1, 1].
 * - Positional QK pattern: W_pos[:n] W_Q W_Kᵀ W_pos[:n]ᵀ, [n, n], raw scores (no 1/√Dh, no softmax).
 */
import { generalEigenvalues, jsBackend, matmul64, transpose, type MatmulBackend } from './linalg';
import { embedRow, headW, unembedColumn, type ProcessedWeights } from './processWeights';

export interface OvCircuitSummary {
  /** [L·H] copying scores on the token sample. */
  readonly copying: Float64Array;
  /** Per head, the `topN` largest entries of the sampled full OV circuit [k, k] (source → target token). */
  readonly top: { source: number; target: number; value: number }[][];
}

/** Copying scores and the strongest sampled OV entries of every head. */
export async function ovCircuits(pw: ProcessedWeights, sample: readonly number[], backend: MatmulBackend = jsBackend, topN = 5): Promise<OvCircuitSummary> {
  const cfg = pw.config;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = cfg;
  const k = sample.length;
  const e = new Float32Array(k * D); // [k, D] W_E[S]
  const u = new Float32Array(D * k); // [D, k] W_U[:, S]
  sample.forEach((t, s) => {
    e.set(embedRow(pw, t), s * D);
    const col = unembedColumn(pw, t);
    for (let i = 0; i < D; i++) u[i * k + s] = col[i] as number;
  });
  const scores = new Float64Array(L * H);
  const tops: { source: number; target: number; value: number }[][] = [];
  for (let l = 0; l < L; l++) {
    const layer = pw.layers[l]!;
    // [D, H·Dh] view of the layer's W_V (stored [H, D, Dh])
    const wVLayer = new Float32Array(D * H * Dh);
    for (let h = 0; h < H; h++) {
      const w = headW(layer.wV, h, cfg);
      for (let i = 0; i < D; i++) wVLayer.set(w.subarray(i * Dh, (i + 1) * Dh), i * H * Dh + h * Dh);
    }
    const x = await backend.matmul(e, wVLayer, k, D, H * Dh); // [k, H·Dh]
    const y = await backend.matmul(layer.wO, u, H * Dh, D, k); // [H·Dh, k]
    for (let h = 0; h < H; h++) {
      const xh = new Float64Array(k * Dh);
      for (let s = 0; s < k; s++) for (let j = 0; j < Dh; j++) xh[s * Dh + j] = x[s * H * Dh + h * Dh + j] as number;
      const yh = y.subarray(h * Dh * k, (h + 1) * Dh * k);
      const small = Dh <= k ? matmul64(yh, xh, Dh, k, Dh) : matmul64(xh, yh, k, Dh, k);
      const n = Math.min(Dh, k);
      scores[l * H + h] = positiveEigenFraction(small, n);
      const full = await backend.matmul(Float32Array.from(xh), yh, k, Dh, k); // [k, k] source row, target column
      const best: number[] = []; // indices of the largest entries, descending, by insertion
      for (let i = 0; i < k * k; i++) {
        const v = full[i] as number;
        if (best.length === topN && v <= (full[best[topN - 1]!] as number)) continue;
        let at = best.length;
        while (at > 0 && (full[best[at - 1]!] as number) < v) at--;
        best.splice(at, 0, i);
        if (best.length > topN) best.pop();
      }
      tops.push(best.map((i) => ({ source: sample[Math.floor(i / k)]!, target: sample[i % k]!, value: full[i] as number })));
    }
  }
  return { copying: scores, top: tops };
}

/** Σ λ / Σ |λ| over the eigenvalues of a real [n, n] matrix; 0 for the zero matrix. */
export function positiveEigenFraction(m: ArrayLike<number>, n: number): number {
  const { re, im } = generalEigenvalues(m, n);
  let sum = 0;
  let abs = 0;
  for (let i = 0; i < n; i++) {
    sum += re[i] as number;
    abs += Math.hypot(re[i] as number, im[i] as number);
  }
  return abs > 0 ? sum / abs : 0;
}

/** [L, H, n, n] positional QK scores for the first n positions. */
export function positionalQk(pw: ProcessedWeights, n: number): Float32Array {
  const cfg = pw.config;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = cfg;
  const pos = pw.wPos.subarray(0, n * D);
  const out = new Float32Array(L * H * n * n);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const q = matmul64(pos, headW(pw.layers[l]!.wQ, h, cfg), n, D, Dh); // [n, Dh]
      const kk = matmul64(pos, headW(pw.layers[l]!.wK, h, cfg), n, D, Dh);
      const scores = matmul64(q, transpose(kk, n, Dh), n, Dh, n);
      out.set(scores, (l * H + h) * n * n);
    }
  }
  return out;
}
