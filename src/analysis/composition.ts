/**
 * Q/K/V composition scores for every head pair (TransformerLens all_composition_scores):
 *   score = ‖A·B‖_F / (‖A‖_F ‖B‖_F), A = W_OV(h1), B = W_QK(h2) (Q), W_QK(h2)ᵀ (K) or W_OV(h2) (V).
 *
 * Never a d_model × d_model product per pair. With G = Wᵀ W and a factor F (Fᵀ F = G, psdFactor),
 * ‖W X‖_F = ‖F X‖_F, so every norm collapses onto d_head-row factors:
 *   W_OV(h1) · W_Q(h2) W_K(h2)ᵀ  →  E(h1) · R_q(h2),  E = F_V W_O [Dh, D],  R_q = W_Q F_Kᵀ [D, Dh]
 *   K: R_k = W_K F_Qᵀ;  V: R_v = W_V F_Oᵀ with F_Oᵀ F_O = W_O W_Oᵀ.
 * The pair numerators then come from packed d_model Grams (see compositionScores).
 */
import type { ModelConfig } from '../engine/types';
import { backendGramColumns, backendMatmulTransB, gramColumns, gramRows, jsBackend, matmul64, psdFactor, sumSquares, transpose, type MatmulBackend } from './linalg';
import { SeededRandom } from './random';
import { headW, headWO, type ProcessedWeights } from './processWeights';

/** Low-rank factors of every head, shared by composition and the head ↔ MLP strengths. */
export interface HeadFactors {
  /** [L·H, Dh, D] E(h) = F_V W_O: ‖W_OV(h) X‖_F = ‖E(h) X‖_F for any X [D, ·]. */
  readonly write: Float32Array;
  /** Per layer [D, 3·H·Dh], column (mode, head, j) with mode q | k | v: ‖Y W_QK(h)‖ = ‖Y R_q(h)‖, ‖Y W_QK(h)ᵀ‖ = ‖Y R_k(h)‖, ‖Y W_OV(h)‖ = ‖Y R_v(h)‖. */
  readonly read: readonly Float32Array[];
  /** [L·H] ‖W_OV(h)‖_F */ readonly ovNorm: Float64Array;
  /** [L·H] ‖W_QK(h)‖_F */ readonly qkNorm: Float64Array;
}

export async function headFactors(pw: ProcessedWeights, backend: MatmulBackend = jsBackend): Promise<HeadFactors> {
  const cfg = pw.config;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = cfg;
  const write = new Float32Array(L * H * Dh * D);
  const read: Float32Array[] = [];
  const ovNorm = new Float64Array(L * H);
  const qkNorm = new Float64Array(L * H);
  const W3 = 3 * H * Dh;
  for (let l = 0; l < L; l++) {
    const layer = pw.layers[l]!;
    const readLayer = new Float32Array(D * W3);
    for (let h = 0; h < H; h++) {
      const wQ = headW(layer.wQ, h, cfg);
      const wK = headW(layer.wK, h, cfg);
      const wV = headW(layer.wV, h, cfg);
      const wO = headWO(layer, h, cfg);
      // Grams Wᵀ W [Dh, Dh] (W_O W_Oᵀ for the output side) through the backend: ~1 G multiply-adds per model
      const gram = async (w: Float32Array, rowsAreD: boolean): Promise<Float32Array> =>
        rowsAreD ? backendGramColumns(backend, w, D, Dh) : backendMatmulTransB(backend, w, w, Dh, D, Dh);
      const fQ = Float32Array.from(psdFactor(await gram(wQ, true), Dh));
      const fK = Float32Array.from(psdFactor(await gram(wK, true), Dh));
      const fV = Float32Array.from(psdFactor(await gram(wV, true), Dh));
      const fO = Float32Array.from(psdFactor(await gram(wO, false), Dh));
      const e = await backend.matmul(fV, wO, Dh, Dh, D);
      write.set(e, (l * H + h) * Dh * D);
      ovNorm[l * H + h] = Math.sqrt(sumSquares(e));
      const modes: [Float32Array, Float32Array][] = [
        [wQ, fK],
        [wK, fQ],
        [wV, fO],
      ];
      for (let mode = 0; mode < 3; mode++) {
        const [w, f] = modes[mode]!;
        const r = await backend.matmul(w, transpose(f, Dh, Dh), D, Dh, Dh); // [D, Dh]
        if (mode === 0) qkNorm[l * H + h] = Math.sqrt(sumSquares(r));
        const col0 = mode * H * Dh + h * Dh;
        for (let i = 0; i < D; i++) readLayer.set(r.subarray(i * Dh, (i + 1) * Dh), i * W3 + col0);
      }
    }
    read.push(readLayer);
  }
  return { write, read, ovNorm, qkNorm };
}

export interface CompositionScores {
  /** [L, H, L, H] index [l1, h1, l2, h2]; 0 where l2 <= l1. */
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
}

/** Entries per chunk of the packed Grams: products are accumulated chunk by chunk in float64. */
const PACK_CHUNK = 16384;

/**
 * Packs the upper triangle of a symmetric [D, D] matrix (row i from column i on: contiguous
 * segments, copied with set) into slot `row` of a chunk-major buffer [chunks, rowsPerChunk, PACK_CHUNK].
 * With `doubleOffDiagonal`, off-diagonal entries are doubled, so that for P packed doubled and Q packed
 * plain, ⟨packed(P), packed(Q)⟩ = Σ_ij P_ij Q_ij = tr(P Q).
 */
function packUpper(g: Float32Array, d: number, out: Float32Array, row: number, rowsPerChunk: number, doubleOffDiagonal: boolean): void {
  let e = 0; // packed entry index
  for (let i = 0; i < d; i++) {
    let from = i * d + i;
    const to = (i + 1) * d;
    while (from < to) {
      const c = Math.floor(e / PACK_CHUNK);
      const off = e - c * PACK_CHUNK;
      const n = Math.min(to - from, PACK_CHUNK - off);
      const at = (c * rowsPerChunk + row) * PACK_CHUNK + off;
      out.set(g.subarray(from, from + n), at);
      if (doubleOffDiagonal) {
        const diagonal = from === i * d + i ? 1 : 0;
        for (let x = at + diagonal; x < at + n; x++) out[x] = 2 * (out[x] as number);
      }
      from += n;
      e += n;
    }
  }
}

/**
 * All three composition tensors from the head factors, via d_model Grams:
 *   ‖E(h1) R(h2)‖_F² = ⟨E(h1)ᵀ E(h1), R(h2) R(h2)ᵀ⟩,
 * one [D, D] Gram per writing head and per (reading head, mode), packed to D(D+1)/2 entries; every pair
 * is then one entry of a [writers, packed] × [packed, 3·H] product per reading layer (≈ 10× fewer
 * multiply-adds than the [Dh, D] × [D, Dh] cores, and they run as a few large products).
 */
export async function compositionScores(cfg: ModelConfig, factors: HeadFactors, backend: MatmulBackend = jsBackend): Promise<CompositionScores> {
  const { nLayer: L, nHead: H } = cfg;
  const size = L * H * L * H;
  const out = [new Float32Array(size), new Float32Array(size), new Float32Array(size)];
  await pairGramProducts(cfg, factors.write, factors.read, backend, (l2, acc) => {
    const cols = 3 * H;
    for (let h1 = 0; h1 < l2 * H; h1++) {
      for (let mode = 0; mode < 3; mode++) {
        for (let h2 = 0; h2 < H; h2++) {
          const g2 = l2 * H + h2;
          const denom = (factors.ovNorm[h1] as number) * (mode === 2 ? (factors.ovNorm[g2] as number) : (factors.qkNorm[g2] as number));
          const num = Math.sqrt(Math.max(0, acc[h1 * cols + mode * H + h2] as number));
          out[mode]![h1 * L * H + g2] = denom > 0 ? Math.min(1, num / denom) : 0;
        }
      }
    }
  });
  return { q: out[0]!, k: out[1]!, v: out[2]! };
}

/**
 * ‖E(g) R_c‖_F² for every writing head g (layer < l2) and reading column c = (mode, head) of each
 * layer l2 ≥ 1, via packed d_model Grams (see compositionScores). `write` [L·H, Dh, D];
 * `read` per layer [D, 3·H·Dh] in the HeadFactors column order. `each(l2, acc)` receives
 * acc [l2·H, 3·H] (row = writer l1·H + h1, column = mode·H + h2), float64.
 */
export async function pairGramProducts(
  cfg: ModelConfig,
  write: Float32Array,
  read: readonly Float32Array[],
  backend: MatmulBackend,
  each: (l2: number, acc: Float64Array) => void,
): Promise<void> {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = cfg;
  if (L < 2) return;
  const S = (D * (D + 1)) / 2;
  const chunks = Math.ceil(S / PACK_CHUNK);
  const writers = (L - 1) * H;
  const packedWriters = new Float32Array(chunks * writers * PACK_CHUNK);
  for (let g = 0; g < writers; g++) {
    const e = write.subarray(g * Dh * D, (g + 1) * Dh * D);
    const gram = await backendGramColumns(backend, e, Dh, D);
    packUpper(gram, D, packedWriters, g, writers, true);
  }
  const W3 = 3 * H * Dh;
  const cols = 3 * H; // (mode, head) of the reading layer
  const packedReaders = new Float32Array(chunks * cols * PACK_CHUNK);
  const r = new Float32Array(D * Dh);
  for (let l2 = 1; l2 < L; l2++) {
    const readLayer = read[l2]!;
    for (let col = 0; col < cols; col++) {
      for (let i = 0; i < D; i++) r.set(readLayer.subarray(i * W3 + col * Dh, i * W3 + (col + 1) * Dh), i * Dh);
      const gram = await backendMatmulTransB(backend, r, r, D, Dh, D);
      packUpper(gram, D, packedReaders, col, cols, false);
    }
    const rows = l2 * H;
    const acc = new Float64Array(rows * cols);
    for (let c = 0; c < chunks; c++) {
      const a = packedWriters.subarray(c * writers * PACK_CHUNK, (c * writers + rows) * PACK_CHUNK);
      const bt = packedReaders.subarray(c * cols * PACK_CHUNK, (c + 1) * cols * PACK_CHUNK);
      const part = await backendMatmulTransB(backend, a, bt, rows, PACK_CHUNK, cols);
      for (let i = 0; i < rows * cols; i++) acc[i] = (acc[i] as number) + (part[i] as number);
    }
    each(l2, acc);
  }
}

/**
 * Mean composition score of random Gaussian pairs of the same shapes (A = X₁Y₁, B = X₂Y₂ with
 * X [D, Dh], Y [Dh, D]): what an unrelated pair scores, so users can tell signal from noise.
 */
export function compositionBaseline(dModel: number, dHead: number, seed: number, samples = 8): number {
  const rng = new SeededRandom(seed ^ 0x5eed);
  let total = 0;
  for (let s = 0; s < samples; s++) {
    const x1 = rng.gaussianArray(dModel * dHead);
    const y1 = rng.gaussianArray(dHead * dModel);
    const x2 = rng.gaussianArray(dModel * dHead);
    const y2 = rng.gaussianArray(dHead * dModel);
    total += lowRankPairScore(x1, y1, x2, y2, dModel, dHead);
  }
  return total / samples;
}

/** ‖X₁Y₁X₂Y₂‖ / (‖X₁Y₁‖ ‖X₂Y₂‖) through d_head cores. X [D, Dh], Y [Dh, D]. */
export function lowRankPairScore(x1: Float32Array, y1: Float32Array, x2: Float32Array, y2: Float32Array, D: number, Dh: number): number {
  const f1 = psdFactor(gramColumns(x1, D, Dh), Dh);
  const e = matmul64(f1, y1, Dh, Dh, D); // [Dh, D]
  const f2 = psdFactor(gramRows(y2, Dh, D), Dh);
  const r = matmul64(x2, transpose(f2, Dh, Dh), D, Dh, Dh); // [D, Dh]
  const core = matmul64(e, r, Dh, D, Dh);
  const denom = Math.sqrt(sumSquares(e) * sumSquares(r));
  return denom > 0 ? Math.sqrt(sumSquares(core)) / denom : 0;
}
