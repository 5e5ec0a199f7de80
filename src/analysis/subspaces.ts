/**
 * Subspaces of the residual stream (seed 003: "80 % of embedding variation in 350 of 768 dimensions;
 * positions in 5 directions"): PCA of W_E and W_pos from their [D, D] covariance (W_E is [V, D], so the
 * [V, V] side is never formed), each head's write effective rank, and write/read subspace overlap.
 */
import type { HeadSubspaceOverlaps, SubspaceCurve } from './circuitTypes';
import { pairGramProducts } from './composition';
import { backendGramColumns, backendMatmulTransB, gramRows, jsBackend, matmul64, orthonormalizer, symmetricEigen, symmetricEigenvalues, transpose, type MatmulBackend } from './linalg';
import type { ModelWeights } from '../engine/types';
import { headW, headWO, processWeights, type ProcessedWeights } from './processWeights';

/** Cumulative explained variance from eigenvalues (any order; negatives from round-off count as 0). */
export function varianceCurve(eigenvalues: ArrayLike<number>): SubspaceCurve {
  const sorted = Array.from(eigenvalues, (v) => Math.max(0, v)).sort((a, b) => b - a);
  const total = sorted.reduce((s, v) => s + v, 0);
  const cumulative = new Float32Array(sorted.length);
  let acc = 0;
  sorted.forEach((v, i) => {
    acc += v;
    cumulative[i] = total > 0 ? acc / total : 0;
  });
  const at = (fraction: number): number => {
    let s = 0;
    for (let i = 0; i < sorted.length; i++) {
      s += sorted[i]!;
      if (s >= fraction * total * (1 - 1e-12)) return i + 1;
    }
    return sorted.length;
  };
  return { cumulative, at50: at(0.5), at80: at(0.8), at90: at(0.9) };
}

/**
 * [D, D] covariance of the rows of a [rows, D] matrix (mean row removed), accumulated in chunks
 * of `chunk` rows so no large transposed copy is made. `row(r, out)` fills row r.
 */
export async function rowCovariance(
  rows: number,
  d: number,
  row: (r: number, out: Float32Array) => void,
  backend: MatmulBackend = jsBackend,
  chunk = 4096,
): Promise<Float64Array> {
  const cov = new Float64Array(d * d);
  const mean = new Float64Array(d);
  const buf = new Float32Array(Math.min(chunk, rows) * d);
  const scratch = new Float32Array(d);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const n = Math.min(chunk, rows - r0);
    for (let r = 0; r < n; r++) {
      row(r0 + r, scratch);
      buf.set(scratch, r * d);
      for (let i = 0; i < d; i++) mean[i] = (mean[i] as number) + (scratch[i] as number);
    }
    const block = buf.subarray(0, n * d);
    const g = await backendGramColumns(backend, block, n, d);
    for (let i = 0; i < d * d; i++) cov[i] = (cov[i] as number) + (g[i] as number);
  }
  for (let i = 0; i < d; i++) mean[i] = (mean[i] as number) / rows;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] = (cov[i * d + j] as number) / rows - (mean[i] as number) * (mean[j] as number);
  return cov;
}

/** PCA curves of the (centred, as TransformerLens processes them) token and positional embeddings. */
export async function embeddingSubspaces(pw: ProcessedWeights, backend: MatmulBackend = jsBackend): Promise<{ embedding: SubspaceCurve; positional: SubspaceCurve }> {
  const { dModel: D, dVocab: V, nCtx } = pw.config;
  const centredRow = (source: Float32Array) => (r: number, out: Float32Array): void => {
    let s = 0;
    for (let i = 0; i < D; i++) s += source[r * D + i] as number;
    const m = s / D;
    for (let i = 0; i < D; i++) out[i] = (source[r * D + i] as number) - m;
  };
  const embCov = await rowCovariance(V, D, centredRow(pw.wte), backend);
  const posCov = await rowCovariance(nCtx, D, centredRow(pw.wPos), backend);
  return { embedding: varianceCurve(symmetricEigenvalues(embCov, D)), positional: varianceCurve(symmetricEigenvalues(posCov, D)) };
}

/** exp(entropy of the L1-normalised singular values): 1 for rank one, r for r equal singular values. */
export function effectiveRank(singularValues: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < singularValues.length; i++) total += Math.max(0, singularValues[i] as number);
  if (!(total > 0)) return 0;
  let entropy = 0;
  for (let i = 0; i < singularValues.length; i++) {
    const p = Math.max(0, singularValues[i] as number) / total;
    if (p > 0) entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}

/** [L·H] effective rank of each head's write subspace (the singular values of W_O(h), [Dh, D]). */
export function writeEffectiveRanks(pw: ProcessedWeights): Float64Array {
  const cfg = pw.config;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = cfg;
  const out = new Float64Array(L * H);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const values = symmetricEigenvalues(gramRows(headWO(pw.layers[l]!, h, cfg), Dh, D), Dh);
      out[l * H + h] = effectiveRank(Array.from(values, (v) => Math.sqrt(Math.max(0, v))));
    }
  }
  return out;
}

/** [r, D] orthonormal rows spanning the row space of a [rows, D] matrix (rank-revealing, via its Gram). */
export function orthonormalRowBasis(a: ArrayLike<number>, rows: number, d: number): { basis: Float64Array; rank: number } {
  const { values, vectors } = symmetricEigen(gramRows(a, rows, d), rows);
  const tol = Math.max(values[0] ?? 0, 0) * rows * 1e-12;
  const kept: number[] = [];
  for (let i = 0; i < rows; i++) if ((values[i] as number) > tol) kept.push(i);
  const basis = new Float64Array(kept.length * d);
  kept.forEach((i, r) => {
    const scale = 1 / Math.sqrt(values[i] as number);
    const v = vectors.subarray(i * rows, (i + 1) * rows);
    const rowVec = matmul64(v, a, 1, rows, d);
    for (let k = 0; k < d; k++) basis[r * d + k] = (rowVec[k] as number) * scale;
  });
  return { basis, rank: kept.length };
}

/**
 * Overlap of two subspaces of the stream given by spanning rows ([ra, D] and [rb, D]):
 * ‖P_a P_b‖_F² / min(rank_a, rank_b) = mean squared cosine of the principal angles, in [0, 1].
 * E.g. a head's write subspace (rows of W_O) against another's read subspace (columns of W_Q, i.e. rows of W_Qᵀ).
 */
export function subspaceOverlap(a: ArrayLike<number>, ra: number, b: ArrayLike<number>, rb: number, d: number): number {
  const qa = orthonormalRowBasis(a, ra, d);
  const qb = orthonormalRowBasis(b, rb, d);
  const rank = Math.min(qa.rank, qb.rank);
  if (rank === 0) return 0;
  const cross = matmul64(qa.basis, transpose(qb.basis, qb.rank, d), qa.rank, d, qb.rank);
  let s = 0;
  for (let i = 0; i < cross.length; i++) s += (cross[i] as number) ** 2;
  return s / rank;
}

/**
 * Overlap (subspaceOverlap) of head (layer1, head1)'s write subspace (rows of W_O) with head
 * (layer2, head2)'s read subspace for its query, key or value (columns of W_Q / W_K / W_V),
 * on the processed weights.
 */
export function headSubspaceOverlap(
  weights: ModelWeights,
  writer: { readonly layer: number; readonly head: number },
  reader: { readonly layer: number; readonly head: number; readonly kind: 'q' | 'k' | 'v' },
): number {
  const pw = processWeights(weights);
  const cfg = pw.config;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = cfg;
  for (const c of [writer, reader]) {
    if (!Number.isInteger(c.layer) || !Number.isInteger(c.head) || c.layer < 0 || c.layer >= L || c.head < 0 || c.head >= H) {
      throw new RangeError(`subspace overlap: L${c.layer}H${c.head} is outside the model (${L} layers × ${H} heads)`);
    }
  }
  const layer = pw.layers[reader.layer]!;
  const read = reader.kind === 'q' ? layer.wQ : reader.kind === 'k' ? layer.wK : layer.wV;
  const readRows = transpose(headW(read, reader.head, cfg), D, Dh); // [Dh, D]
  return subspaceOverlap(headWO(pw.layers[writer.layer]!, writer.head, cfg), Dh, readRows, Dh, D);
}

/**
 * Every head's write subspace (row space of W_O(h), [Dh, D]) against every later head's query, key
 * and value read subspaces (column spaces of W_Q / W_K / W_V, [D, Dh]), as subspaceOverlap measures it:
 * ‖P_w P_r‖_F² / min(rank_w, rank_r), on the processed weights. Orthonormal bases come from Dh × Dh
 * Grams (pivoted Cholesky, orthonormalizer); the pair sums ⟨P_w, P_r⟩ reuse composition's packed
 * d_model Grams, so the cost is that of one composition tensor set, never a product per pair.
 */
export async function headSubspaceOverlaps(pw: ProcessedWeights, backend: MatmulBackend = jsBackend): Promise<HeadSubspaceOverlaps> {
  const cfg = pw.config;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = cfg;
  const write = new Float32Array(L * H * Dh * D);
  const writeRank = new Int32Array(L * H);
  const readRank = new Int32Array(3 * L * H); // [mode, L·H]
  const W3 = 3 * H * Dh;
  const read: Float32Array[] = [];
  for (let l = 0; l < L; l++) {
    const layer = pw.layers[l]!;
    const readLayer = new Float32Array(D * W3);
    for (let h = 0; h < H; h++) {
      const g = l * H + h;
      const wO = headWO(layer, h, cfg); // [Dh, D]
      const ow = orthonormalizer(await backendMatmulTransB(backend, wO, wO, Dh, D, Dh), Dh);
      writeRank[g] = ow.rank;
      write.set(await backend.matmul(Float32Array.from(transpose(ow.x, Dh, Dh)), wO, Dh, Dh, D), g * Dh * D); // rows: Xᵀ W_O
      const modes = [layer.wQ, layer.wK, layer.wV];
      for (let mode = 0; mode < 3; mode++) {
        const w = headW(modes[mode]!, h, cfg); // [D, Dh]
        const o = orthonormalizer(await backendGramColumns(backend, w, D, Dh), Dh);
        readRank[mode * L * H + g] = o.rank;
        const q = await backend.matmul(w, Float32Array.from(o.x), D, Dh, Dh); // [D, Dh] orthonormal columns
        const col0 = mode * H * Dh + h * Dh;
        for (let i = 0; i < D; i++) readLayer.set(q.subarray(i * Dh, (i + 1) * Dh), i * W3 + col0);
      }
    }
    read.push(readLayer);
  }
  const size = L * H * L * H;
  const out = [new Float32Array(size), new Float32Array(size), new Float32Array(size)];
  await pairGramProducts(cfg, write, read, backend, (l2, acc) => {
    const cols = 3 * H;
    for (let g1 = 0; g1 < l2 * H; g1++) {
      for (let mode = 0; mode < 3; mode++) {
        for (let h2 = 0; h2 < H; h2++) {
          const g2 = l2 * H + h2;
          const rank = Math.min(writeRank[g1] as number, readRank[mode * L * H + g2] as number);
          const value = rank > 0 ? (acc[g1 * cols + mode * H + h2] as number) / rank : 0;
          out[mode]![g1 * L * H + g2] = Math.min(1, Math.max(0, value));
        }
      }
    }
  });
  // Random Dh-dimensional subspaces of the (D − 1)-dimensional centred stream overlap by Dh / (D − 1) on average.
  return { q: out[0]!, k: out[1]!, v: out[2]!, baseline: Math.min(1, Dh / Math.max(1, D - 1)) };
}
