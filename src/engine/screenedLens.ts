/**
 * The exact logit lens, screened in int8 (docs/screened-lens.md has the steps and the proof).
 *
 * The float32 lens (lens.ts) multiplies every residual row's ln_final output y [D] by all of W_U
 * [D, V]. Here every token is first scored in int8 (1–3 MatMulIntegerToFloat products, 2 by default:
 * y quantized per chunk by DynamicQuantizeLinear, W_U per token in two int8 halves); the scores are
 * searched through the maxima of blocks of ~29 tokens (TopK, NonZero and the normaliser's bound run
 * on [n, V/29]); only the tokens whose score could still reach the top-k under a per-token error
 * bound are re-scored in float32, a group of rows at a time against the union of their candidates,
 * with the same LayerNormalization and the same MLAS summation as the float32 table. The top-k ids
 * and logits are then the float32 table's, bit for bit. A row falls back to the float32 lens when
 * the bound does not separate (the graph's threshold is not proven low enough) or when its
 * probabilities cannot be certified within 5e-7.
 *
 * Exact: top-k ids and logits; the next token's rank when it is within reach of the top-k, else
 * counted on the int8 scores (`rankExact` 0). Probabilities: within the certified bound.
 * Measured at about 0.55× the float32 table's CPU time on the bench checkpoint (bench/screenedLens.ts,
 * docs/screened-lens.md); the engine does not use it yet.
 */
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ensureF32Weights, openCheckpoint, readTensor } from './checkpoint';
import { buildLensGraph, countAbove, onesColumn, type WeightLocator } from './graph';
import { LensRunner, type LensRows } from './lens';
import { DataType, GraphBuilder } from './onnx/model';
import { createSession, floatOutput, floatTensor, int64Tensor, intOutput, type SessionSettings } from './session';
import type { ModelConfig } from './types';

/** Unit roundoff of float32. */
const U = 2 ** -24;
/**
 * How many int8 products score the tokens: 1 (ŷ·ŵ_hi), 2 (+ ŷ·ŵ_lo: W's error ~256× smaller) or 3
 * (+ ŷ₂·ŵ_hi, ŷ₂ = y − ŷ quantized again: y's error ~255× smaller). More products cost more int8
 * work and narrow the bound, so fewer tokens are re-scored in float32.
 */
export type ScreenProducts = 1 | 2 | 3;
/** Two products with dense re-scoring measured fastest (docs/screened-lens.md): one leaves a bound so wide that planning and re-scoring ~260 tokens a row cost more than the second product. */
export const DEFAULT_PRODUCTS: ScreenProducts = 2;

/** How the candidates are re-scored in float32 (docs/screened-lens.md). */
export type RescoreMode =
  /** Per chunk of rows, the union of their candidates in one dense product (rows × union), in MLAS's summation order. */
  | 'dense'
  /** Each row's own candidates, 16 at a time (the first version; slower when rows have many candidates). */
  | 'perRow';

/** About this many int8 scores per ORT call (32 MiB of float32), as in lens.ts. */
const CHUNK_SCORES = 8 * 1024 * 1024;

/**
 * W_U in two int8 halves per token (column of [D, V]): w ≈ scale·q + (scale/256)·qLo, with the norms
 * the bound needs. The low half makes the int8 error of W about 256× smaller for one more int8 product.
 */
export interface QuantizedUnembed {
  /** [D, V] int8: q[i, j] = round(W_E[j, i] / scale[j]), in [-127, 127]. */
  readonly q: Int8Array;
  /** [D, V] int8: qLo[i, j] = round((W_E[j, i] − scale[j]·q[i, j]) / loScale[j]), in [-127, 127]. */
  readonly qLo: Int8Array;
  /** [V] per-token scale, max|w_j| / 127. */
  readonly scale: Float32Array;
  /** [V] scale / 256 (exact: a power of two apart). */
  readonly loScale: Float32Array;
  /** [V] ‖w_j‖₂, rounded up. */
  readonly norm: Float64Array;
  /** [V] ‖scale_j·q_j‖₂ and ‖loScale_j·qLo_j‖₂, rounded up. */
  readonly hiNorm: Float64Array;
  readonly loNorm: Float64Array;
  /** [V] ‖w_j − scale_j·q_j − loScale_j·qLo_j‖₂ (what both halves miss), rounded up. */
  readonly errNorm: Float64Array;
  /** [V] ‖w_j − scale_j·q_j‖₂ (what the high half alone misses), rounded up. */
  readonly hiErrNorm: Float64Array;
  readonly maxHiErrNorm: number;
  readonly maxNorm: number;
  readonly maxHiNorm: number;
  readonly maxLoNorm: number;
  readonly maxErrNorm: number;
}

/** Rounds a non-negative float64 bound up by a margin far above float64's own rounding. */
const up = (x: number): number => x * (1 + 1e-12) + 1e-300;

/** wte [V, D] (row j = token j's embedding = W_U[:, j]) → QuantizedUnembed. */
export function quantizeUnembed(wte: Float32Array, V: number, D: number): QuantizedUnembed {
  if (wte.length !== V * D) throw new Error(`quantizeUnembed: ${wte.length} values are not [${V}, ${D}]`);
  const q = new Int8Array(D * V);
  const qLo = new Int8Array(D * V);
  const scale = new Float32Array(V);
  const loScale = new Float32Array(V);
  const norm = new Float64Array(V);
  const hiNorm = new Float64Array(V);
  const loNorm = new Float64Array(V);
  const errNorm = new Float64Array(V);
  const hiErrNorm = new Float64Array(V);
  let maxHiErrNorm = 0;
  let maxNorm = 0;
  let maxHiNorm = 0;
  let maxLoNorm = 0;
  let maxErrNorm = 0;
  const clamp = (x: number): number => Math.max(-127, Math.min(127, Math.round(x)));
  for (let j = 0; j < V; j++) {
    const row = j * D;
    let max = 0;
    for (let i = 0; i < D; i++) max = Math.max(max, Math.abs(wte[row + i]));
    const s = max > 0 ? Math.fround(max / 127) : 1;
    const sLo = s / 256;
    scale[j] = s;
    loScale[j] = sLo;
    let n2 = 0;
    let h2 = 0;
    let l2 = 0;
    let e2 = 0;
    let he2 = 0;
    for (let i = 0; i < D; i++) {
      const w = wte[row + i];
      const hi = clamp(w / s);
      const lo = clamp((w - s * hi) / sLo);
      q[i * V + j] = hi;
      qLo[i * V + j] = lo;
      n2 += w * w;
      h2 += (s * hi) ** 2;
      l2 += (sLo * lo) ** 2;
      // Exact in float64: w, s·hi and sLo·lo each have ≤ 31 significant bits within a few binades.
      const e = w - s * hi - sLo * lo;
      e2 += e * e;
      he2 += (w - s * hi) ** 2;
    }
    norm[j] = up(Math.sqrt(n2));
    hiNorm[j] = up(Math.sqrt(h2));
    loNorm[j] = up(Math.sqrt(l2));
    errNorm[j] = up(Math.sqrt(e2));
    hiErrNorm[j] = up(Math.sqrt(he2));
    maxHiErrNorm = Math.max(maxHiErrNorm, hiErrNorm[j]);
    maxNorm = Math.max(maxNorm, norm[j]);
    maxHiNorm = Math.max(maxHiNorm, hiNorm[j]);
    maxLoNorm = Math.max(maxLoNorm, loNorm[j]);
    maxErrNorm = Math.max(maxErrNorm, errNorm[j]);
  }
  return { q, qLo, scale, loScale, norm, hiNorm, loNorm, errNorm, hiErrNorm, maxNorm, maxHiNorm, maxLoNorm, maxErrNorm, maxHiErrNorm };
}

const SCREEN = {
  rows: 'rows',
  target: 'target',
  k: 'k',
  y: 'y',
  yq: 'y_q',
  yScale: 'y_scale',
  yZero: 'y_zero',
  dq: 'dy_q',
  dScale: 'dy_scale',
  dZero: 'dy_zero',
  scale: 'ln_final_scale',
  top: 'top_score',
  blockMass: 'block_mass',
  threshold: 'threshold',
  candidates: 'candidates',
  candidateScores: 'candidate_scores',
  rank: 'rank_int8',
} as const;

/**
 * rows [n, D], target [n], k [1] → y = ln_final(rows) [n, D] and its uint8 quantization (y_q,
 * y_scale, y_zero), ln_final_scale [n], the int8 scores' top-k [n, k], log Σ exp(s − max s) [n],
 * the screening threshold [n] and every (row, token) whose int8 score reaches it (candidates
 * [M, 2], candidate_scores [M]), and the int8 rank of each target [n].
 *
 * The threshold is the k-th int8 score minus twice the row's largest error bound (with slack):
 * a token below it cannot be a candidate of ScreenedLensRunner.plan, which re-checks this in JS.
 */
export function buildScreenGraph(config: ModelConfig, locate: WeightLocator, qu: QuantizedUnembed, products: ScreenProducts = 3): Uint8Array {
  const { dModel: D, dVocab: V, layerNormEps } = config;
  const g = new GraphBuilder('residual_lens_screen', 17);
  const rows = g.input(SCREEN.rows, DataType.FLOAT, ['n', D]);
  const target = g.input(SCREEN.target, DataType.INT64, ['n']);
  const k = g.input(SCREEN.k, DataType.INT64, [1]);
  const gain = g.external('ln_f.weight', [D], locate('ln_f.weight', [D]));
  const bias = g.external('ln_f.bias', [D], locate('ln_f.bias', [D]));
  const [y, , invStd] = g.node('LayerNormalization', [rows, gain, bias], 3, { axis: { i: -1 }, epsilon: { f: layerNormEps } }, [SCREEN.y, 'ln_mean', 'ln_inv_std']);
  g.op('Reshape', [g.op('Reciprocal', [invStd]), g.constInts([-1])], {}, SCREEN.scale);
  g.node('DynamicQuantizeLinear', [y], 3, {}, [SCREEN.yq, SCREEN.yScale, SCREEN.yZero]);
  // y − ŷ, quantized again (its own scale, about 1/255 of y's), so δy·w is mostly scored too.
  const yHat = g.op('DequantizeLinear', [SCREEN.yq, SCREEN.yScale, SCREEN.yZero]);
  const dy = g.op('Sub', [y, yHat]);
  g.node('DynamicQuantizeLinear', [dy], 3, {}, [SCREEN.dq, SCREEN.dScale, SCREEN.dZero]);
  const int8 = (name: string, q: Int8Array): string => g.raw(name, [D, V], DataType.INT8, new Uint8Array(q.buffer, q.byteOffset, q.byteLength));
  const wHi = int8('w_u_int8', qu.q);
  const wLo = int8('w_u_int8_low', qu.qLo);
  const sHi = g.floats('w_u_scale', [V], qu.scale);
  const sLo = g.floats('w_u_scale_low', [V], qu.loScale);
  const product = (a: string, aScale: string, aZero: string, w: string, wScale: string): string =>
    g.node('MatMulIntegerToFloat', [a, w, aScale, wScale, aZero], 1, {}, undefined, 'com.microsoft')[0]; // [n, V]
  // s = ŷ·ŵ_hi (+ ŷ·ŵ_lo) (+ ŷ₂·ŵ_hi): one to three int8 products; what they leave out goes to the bound.
  let scores = product(SCREEN.yq, SCREEN.yScale, SCREEN.yZero, wHi, sHi);
  if (products >= 2) scores = g.op('Add', [scores, product(SCREEN.yq, SCREEN.yScale, SCREEN.yZero, wLo, sLo)]);
  if (products >= 3) scores = g.op('Add', [scores, product(SCREEN.dq, SCREEN.dScale, SCREEN.dZero, wHi, sHi)]);
  // Blocks of B tokens and their maxima [n, V/B] (V padded with −FLT_MAX when B does not divide it):
  // one cheap pass, after which every search runs on the maxima instead of on [n, V]. The k-th
  // largest block maximum is ≤ the k-th largest score (k blocks, k distinct tokens at least that
  // high), so the threshold below stays a valid one (JS proves the row's separation anyway); the
  // largest is the largest score; and B·Σ exp(max_b − top) bounds the mass of the tokens in blocks
  // JS never sees. This replaced TopK, NonZero and LogSoftmax over [n, V] (measured in the bench).
  const B = screenBlock(V);
  const blocks = Math.ceil(V / B);
  const padded = blocks * B === V ? scores : g.op('Pad', [scores, g.constInts([0, 0, 0, blocks * B - V]), g.constFloat(-3.4028234663852886e38)]);
  const blocked = g.op('Reshape', [padded, g.constInts([0, blocks, B])]); // [n, blocks, B]
  const blockMax = g.op('ReduceMax', [blocked], { axes: { ints: [2] }, keepdims: { i: 0 } }); // [n, blocks]
  const [topScores] = g.node('TopK', [blockMax, k], 2, { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }); // [n, k]
  const top1 = g.op('Slice', [topScores, g.constInts([0]), g.constInts([1]), g.constInts([1])]); // [n, 1]
  g.op('Reshape', [top1, g.constInts([-1])], {}, SCREEN.top);
  g.op('ReduceSum', [g.op('Exp', [g.op('Sub', [blockMax, top1])]), g.constInts([1])], { keepdims: { i: 0 } }, SCREEN.blockMass); // [n]
  // Largest error bound of the row (float32 here, with slack; the exact bound is in JS).
  const axes = g.constInts([1]);
  const norm = (x: string): string => g.op('ReduceL2', [x], { axes: { ints: [1] }, keepdims: { i: 1 } });
  const times = (x: string, c: number): string => g.op('Mul', [norm(x), g.constFloat(c)]);
  const yHat2 = g.op('DequantizeLinear', [SCREEN.dq, SCREEN.dScale, SCREEN.dZero]);
  const gamma = (D * U) / (1 - D * U);
  const rounding = 8 * U;
  // The same terms as boundTerms() in ScreenedLensRunner.plan, with every token's norms at their maximum.
  const eMax = (products === 3
    ? [
        times(g.op('Add', [yHat, yHat2]), qu.maxErrNorm),
        times(g.op('Sub', [dy, yHat2]), qu.maxNorm),
        times(yHat2, qu.maxLoNorm + rounding * qu.maxHiNorm),
        times(y, gamma * qu.maxNorm),
        times(yHat, rounding * (qu.maxHiNorm + qu.maxLoNorm)),
      ]
    : [
        times(yHat, (products === 2 ? qu.maxErrNorm : qu.maxHiErrNorm) + rounding * (qu.maxHiNorm + (products === 2 ? qu.maxLoNorm : 0))),
        times(dy, qu.maxNorm),
        times(y, gamma * qu.maxNorm),
      ]
  ).reduce((a, b) => g.op('Add', [a, b])); // [n, 1]
  const kth = g.op('Slice', [topScores, g.op('Sub', [k, g.constInts([1])]), k, axes]); // [n, 1]
  const slack = g.op('Add', [g.op('Mul', [g.op('Abs', [kth]), g.constFloat(1e-3)]), g.constFloat(1e-3)]);
  const threshold = g.op('Sub', [g.op('Sub', [kth, g.op('Mul', [eMax, g.constFloat(2.01)])]), slack]); // [n, 1]
  g.op('Reshape', [threshold, g.constInts([-1])], {}, SCREEN.threshold);
  // The tokens at or above the threshold, block by block (NonZero is single-threaded; over [n, V] it
  // was the screen's largest cost): every block whose maximum reaches the threshold is returned whole
  // (JS keeps its tokens ≥ threshold and sums the others); a block that does not has no such token.
  const where = g.op('NonZero', [g.op('GreaterOrEqual', [blockMax, threshold])]); // [2, M]
  const pairs = g.op('Transpose', [where], { perm: { ints: [1, 0] } }); // [M, 2] (row, block)
  g.op('GatherND', [blocked, pairs], {}, SCREEN.candidateScores); // [M, B]
  // int32 for JS: reading int64 goes through one BigInt per value.
  g.op('Cast', [pairs], { to: { i: DataType.INT32 } }, SCREEN.candidates);
  const targetScore = g.op('GatherElements', [scores, g.op('Unsqueeze', [target, axes])], { axis: { i: 1 } });
  g.op('Identity', [countAbove(g, scores, targetScore, onesColumn(g, V))], {}, SCREEN.rank);
  g.output(SCREEN.y, DataType.FLOAT, ['n', D]);
  g.output(SCREEN.yq, DataType.UINT8, ['n', D]);
  g.output(SCREEN.yScale, DataType.FLOAT, []);
  g.output(SCREEN.yZero, DataType.UINT8, []);
  g.output(SCREEN.dq, DataType.UINT8, ['n', D]);
  g.output(SCREEN.dScale, DataType.FLOAT, []);
  g.output(SCREEN.dZero, DataType.UINT8, []);
  g.output(SCREEN.scale, DataType.FLOAT, ['n']);
  g.output(SCREEN.top, DataType.FLOAT, ['n']);
  g.output(SCREEN.blockMass, DataType.FLOAT, ['n']);
  g.output(SCREEN.threshold, DataType.FLOAT, ['n']);
  g.output(SCREEN.candidates, DataType.INT32, ['m', 2]);
  g.output(SCREEN.candidateScores, DataType.FLOAT, ['m', screenBlock(V)]);
  g.output(SCREEN.rank, DataType.INT32, ['n']);
  return g.build();
}

/** Tokens per block of the screen's threshold search: a divisor of V near 32 when there is one (GPT-2: 29), else 32. */
export function screenBlock(V: number): number {
  for (let d = 0; d <= 16; d++) {
    if (V % (32 + d) === 0) return 32 + d;
    if (V % (32 - d) === 0) return 32 - d;
  }
  return 32;
}

/** Columns per re-scoring product: at most 64 keeps MLAS's K stride at ≥ 256 (see buildRescoreGraph); 16 wastes less padding. */
export const RESCORE_COLUMNS = 16;
/** MLAS's K block for a prepacked B (MLAS_SGEMM_PACKED_STRIDEK in ORT 1.30). */
const PACKED_STRIDE_K = 256;

/**
 * y2 [B, 2, D] (each item's y row, twice) and ids [B, 64] → their float32 logits [B, 2, 64], bit-equal
 * to the float32 lens's Gemm against the prepacked W_E. That Gemm sums each logit in K blocks of 256
 * (one FMA chain per block, blocks added in order); here each 256-slice is its own product with at
 * most 64 columns (so MLAS does not split the slice) and two rows (one row takes MLAS's M = 1 path,
 * which sums differently), and the slices are added in the same order. The runner checks the
 * equality at creation and falls back to the float32 lens if a build of ORT sums otherwise.
 */
export function buildRescoreGraph(config: ModelConfig, locate: WeightLocator): Uint8Array {
  const { dModel: D, dVocab: V } = config;
  const blocks = Math.ceil(D / PACKED_STRIDE_K);
  const padded = blocks * PACKED_STRIDE_K;
  const C = RESCORE_COLUMNS;
  const g = new GraphBuilder('residual_lens_rescore', 17);
  const y = g.input('y2', DataType.FLOAT, ['b', 2, D]);
  const ids = g.input('ids', DataType.INT64, ['b', C]);
  const wte = g.external('wte.weight', [V, D], locate('wte.weight', [V, D]));
  let w = g.op('Gather', [wte, ids], { axis: { i: 0 } }); // [B, 64, D]
  let yy = y;
  if (padded !== D) {
    // Zero-pad the last block: adding exact zeros after the last product leaves every FMA chain unchanged.
    const pad = (x: string, rank: number): string => g.op('Pad', [x, g.constInts([...new Array<number>(2 * rank).fill(0).map((_, i) => (i === 2 * rank - 1 ? padded - D : 0))])]);
    w = pad(w, 3);
    yy = pad(yy, 3);
  }
  // [B, 64, blocks, 256] → [B, blocks, 256, 64] (one copy); y → [B, blocks, 2, 256].
  const wt = g.op('Transpose', [g.op('Reshape', [w, g.constInts([0, C, blocks, PACKED_STRIDE_K])])], { perm: { ints: [0, 2, 3, 1] } });
  const yb = g.op('Transpose', [g.op('Reshape', [yy, g.constInts([0, 2, blocks, PACKED_STRIDE_K])])], { perm: { ints: [0, 2, 1, 3] } });
  const parts = g.op('MatMul', [yb, wt]); // [B, blocks, 2, 64]
  if (blocks === 1) {
    g.op('Reshape', [parts, g.constInts([0, 2, C])], {}, 'logits');
  } else {
    // Block sums added in order, as MLAS adds each K block's result to C.
    const split = g.node('Split', [parts, g.constInts(new Array<number>(blocks).fill(1))], blocks, { axis: { i: 1 } });
    let sum = split[0];
    for (let i = 1; i < blocks; i++) sum = g.op('Add', [sum, split[i]]);
    g.op('Reshape', [sum, g.constInts([0, 2, C])], {}, 'logits');
  }
  g.output('logits', DataType.FLOAT, ['b', 2, C]);
  return g.build();
}

/** Columns per dense re-scoring product: at most 64 keeps MLAS's K stride at ≥ 256 (see buildRescoreGraph). */
export const DENSE_COLUMNS = 64;

/**
 * y [n, D] (ln_final outputs, n ≥ 2) and ids [G, 64] → logits [G, n, 64]: every row's float32 logit
 * of every listed token, bit-equal to the float32 lens's Gemm (same reasoning as buildRescoreGraph:
 * each 256-slice of K is its own product with ≤ 64 columns, so MLAS sums it in one FMA chain, and
 * the slices are added in order). One product for a chunk's union of candidates replaces hundreds
 * of single-row gathers when rows share candidates.
 */
export function buildDenseRescoreGraph(config: ModelConfig, locate: WeightLocator): Uint8Array {
  const { dModel: D, dVocab: V } = config;
  const blocks = Math.ceil(D / PACKED_STRIDE_K);
  const padded = blocks * PACKED_STRIDE_K;
  const C = DENSE_COLUMNS;
  const g = new GraphBuilder('residual_lens_rescore_dense', 17);
  const y = g.input('y', DataType.FLOAT, ['n', D]);
  const ids = g.input('ids', DataType.INT64, ['g', C]);
  const wte = g.external('wte.weight', [V, D], locate('wte.weight', [V, D]));
  let w = g.op('Gather', [wte, ids], { axis: { i: 0 } }); // [G, 64, D]
  let yy = y;
  if (padded !== D) {
    // Zero-pad the last block: adding exact zeros after the last product leaves every FMA chain unchanged.
    w = g.op('Pad', [w, g.constInts([0, 0, 0, 0, 0, padded - D])]);
    yy = g.op('Pad', [yy, g.constInts([0, 0, 0, padded - D])]);
  }
  const wt = g.op('Transpose', [g.op('Reshape', [w, g.constInts([0, C, blocks, PACKED_STRIDE_K])])], { perm: { ints: [0, 2, 3, 1] } }); // [G, blocks, 256, 64]
  const yb = g.op('Transpose', [g.op('Reshape', [yy, g.constInts([0, blocks, PACKED_STRIDE_K])])], { perm: { ints: [1, 0, 2] } }); // [blocks, n, 256]
  const parts = g.op('MatMul', [yb, wt]); // [G, blocks, n, 64] (yb broadcast over G)
  if (blocks === 1) {
    g.op('Squeeze', [parts, g.constInts([1])], {}, 'logits');
  } else {
    const split = g.node('Split', [parts, g.constInts(new Array<number>(blocks).fill(1))], blocks, { axis: { i: 1 } });
    let sum = split[0];
    for (let i = 1; i < blocks; i++) sum = g.op('Add', [sum, split[i]]);
    g.op('Squeeze', [sum, g.constInts([1])], {}, 'logits');
  }
  g.output('logits', DataType.FLOAT, ['g', 'n', C]);
  return g.build();
}

export interface ScreenedLensStats {
  readonly rows: number;
  /** Tokens re-scored in float32, all rows together (targets included). */
  readonly candidates: number;
  /** Most candidates of one row. */
  readonly maxCandidates: number;
  /** Rows computed by the float32 lens instead: the JS check of the graph's threshold did not pass, or the probabilities could not be certified. */
  readonly fallbackRows: number;
  /** Of those, rows whose top-k ids and logits were separated but whose probabilities were not certified within PROB_BOUND (flat rows: the other tokens' mass is known only to a factor e^±bound). */
  readonly probabilityFallbackRows?: number;
  /** Median over the screened rows of the bound on |float32 logit − int8 score| of the tokens outside the candidates, nats. */
  readonly medianBound?: number;
  /** Rows whose next-token rank is exact (target within reach, or a fallback row, or no target). */
  readonly exactRankRows: number;
  /** Dense re-scoring: float32 logits computed (rows × padded union, all groups), and the unions' sizes summed. */
  readonly denseCells?: number;
  readonly unionTokens?: number;
  /** Time split, ms: the int8 screen (ORT), the bound and candidates (JS), re-scoring (ORT), fallback rows. */
  readonly ms?: { readonly screen: number; readonly plan: number; readonly rescore: number; readonly fallback: number };
}

export interface ScreenedLensRows extends LensRows {
  /** [N] 1 where `rank` is exact, 0 where it was counted on the int8 scores. */
  readonly rankExact: Uint8Array;
  readonly stats: ScreenedLensStats;
}

export class ScreenedLensRunner {
  private constructor(
    private readonly screen: ort.InferenceSession,
    /** Per-row re-scoring ('perRow') or the dense one ('dense'), as `rescoreMode` says. */
    private readonly rescore: ort.InferenceSession,
    private readonly exact: LensRunner,
    private readonly config: ModelConfig,
    private readonly qu: QuantizedUnembed,
    /** How many int8 products score the tokens (ScreenProducts). */
    readonly products: ScreenProducts,
    /** How candidates are re-scored (RescoreMode). */
    readonly rescoreMode: RescoreMode,
  ) {}

  /**
   * Sessions for the screen and the re-scoring; `exact` (the float32 lens) serves fallback rows.
   * `wte` [V, D] is read once to quantize W_U and may be dropped afterwards.
   */
  static async create(config: ModelConfig, locate: WeightLocator, weightsFolder: string | undefined, wte: Float32Array, exact: LensRunner, settings?: SessionSettings, products: ScreenProducts = DEFAULT_PRODUCTS, rescoreMode: RescoreMode = 'dense'): Promise<ScreenedLensRunner> {
    const qu = quantizeUnembed(wte, config.dVocab, config.dModel);
    const screen = await createSession(buildScreenGraph(config, locate, qu, products), weightsFolder, settings);
    try {
      const rescore = await createSession(rescoreMode === 'dense' ? buildDenseRescoreGraph(config, locate) : buildRescoreGraph(config, locate), weightsFolder, settings);
      const runner = new ScreenedLensRunner(screen, rescore, exact, config, qu, products, rescoreMode);
      runner.reproduces = await runner.reproducesTable();
      return runner;
    } catch (err) {
      await screen.release();
      throw err;
    }
  }

  async release(): Promise<void> {
    await Promise.all([this.screen.release(), this.rescore.release()].map((p) => p.catch(() => undefined)));
  }

  /**
   * Whether re-scoring reproduced the float32 lens bit for bit at creation (it relies on how MLAS
   * blocks a prepacked Gemm). When not, run() is the float32 lens and every row counts as a fallback.
   */
  reproduces = true;

  get chunkRows(): number {
    return Math.max(1, Math.floor(CHUNK_SCORES / this.config.dVocab));
  }

  /** rows [N, D] → the float32 lens's top-k and ranks (LensRunner.run), screened in int8. */
  async run(rows: Float32Array, targets: Int32Array, k: number, between?: () => Promise<void>): Promise<ScreenedLensRows> {
    const { dModel: D } = this.config;
    const N = rows.length / D;
    if (!Number.isInteger(N) || targets.length !== N) throw new Error(`lens: ${rows.length} values and ${targets.length} targets do not make rows of ${D}`);
    if (!Number.isInteger(k) || k < 1 || k > this.config.dVocab) throw new Error(`screened lens: top-${k} is not within 1..${this.config.dVocab}`);
    // The screen's TopK runs over the V/B block maxima: a larger k (hundreds at GPT-2 sizes) takes the float32 lens.
    if (!this.reproduces || k > Math.ceil(this.config.dVocab / screenBlock(this.config.dVocab))) {
      const exact = await this.exact.run(rows, targets, k, between);
      return { ...exact, rankExact: new Uint8Array(N).fill(1), stats: { rows: N, candidates: 0, maxCandidates: 0, fallbackRows: N, exactRankRows: N } };
    }
    const plans: (RowPlan | undefined)[] = new Array<RowPlan | undefined>(N);
    const ms = { screen: 0, plan: 0, rescore: 0, fallback: 0 };
    let denseCells = 0;
    let unionTokens = 0;
    const scale = new Float32Array(N);
    const kTensor = int64Tensor([k], [1]);
    for (let start = 0; start < N; start += this.chunkRows) {
      if (start > 0 && between) await between();
      const n = Math.min(this.chunkRows, N - start);
      const t = targets.subarray(start, start + n);
      const t0 = performance.now();
      const out = await this.screen.run({
        [SCREEN.rows]: floatTensor(rows.subarray(start * D, (start + n) * D), [n, D]),
        [SCREEN.target]: int64Tensor(Array.from(t, (id) => (id < 0 ? 0 : id)), [n]),
        [SCREEN.k]: kTensor,
      });
      const y = floatOutput(out, SCREEN.y);
      const yq = out[SCREEN.yq].data as Uint8Array;
      const yScale = (out[SCREEN.yScale].data as Float32Array)[0];
      const yZero = (out[SCREEN.yZero].data as Uint8Array)[0];
      const dq = out[SCREEN.dq].data as Uint8Array;
      const dScale = (out[SCREEN.dScale].data as Float32Array)[0];
      const dZero = (out[SCREEN.dZero].data as Uint8Array)[0];
      const top = floatOutput(out, SCREEN.top);
      const threshold = floatOutput(out, SCREEN.threshold);
      const blockMass = floatOutput(out, SCREEN.blockMass);
      const pairs = intOutput(out, SCREEN.candidates); // [M, 2] (row, block), rows ascending
      const blockScores = floatOutput(out, SCREEN.candidateScores); // [M, B]
      const B = screenBlock(this.config.dVocab);
      const M = pairs.length / 2;
      const rankInt8 = intOutput(out, SCREEN.rank);
      scale.set(floatOutput(out, SCREEN.scale), start);
      const t1 = performance.now();
      ms.screen += t1 - t0;
      let at = 0;
      for (let r = 0; r < n; r++) {
        // The row's blocks → its tokens at or above the threshold (padding scores −FLT_MAX never are).
        const tau = threshold[r];
        const idList: number[] = [];
        const scoreList: number[] = [];
        // Σ exp(s − top) of the returned blocks' tokens below the threshold, and B·exp(max_b − top) of those blocks.
        // Tokens more than FAR below the top are only counted (each adds at most e^−FAR to the upper bound).
        const near = top[r] - FAR;
        let below = 0;
        let far = 0;
        let hitMass = 0;
        for (; at < M && pairs[2 * at] === r; at++) {
          const base = pairs[2 * at + 1] * B;
          let blockTop = -Infinity;
          for (let c = 0; c < B; c++) {
            const v = blockScores[at * B + c];
            if (v > blockTop) blockTop = v;
            if (v >= tau) {
              idList.push(base + c);
              scoreList.push(v);
            } else if (v > near) {
              below += Math.exp(v - top[r]);
            } else {
              far++;
            }
          }
          hitMass += B * Math.exp(blockTop - top[r]);
        }
        // The blocks JS did not get: at most B·Σ exp(max_b − top) over them. ORT's float32 Exp and sum
        // of ≤ 10⁵ terms are taken as accurate to 2e-3 relative (far looser than either can be), and
        // 1e-30 covers terms that underflowed to zero (each below 1.2e-38).
        const unseen = Math.max(0, B * blockMass[r] * (1 + 2e-3) - hitMass * (1 - 1e-12)) + far * Math.exp(-FAR) + 1e-30;
        const ids = Int32Array.from(idList);
        plans[start + r] = this.plan(
          y.subarray(r * D, (r + 1) * D),
          { q: yq.subarray(r * D, (r + 1) * D), scale: yScale, zero: yZero },
          { q: dq.subarray(r * D, (r + 1) * D), scale: dScale, zero: dZero },
          { ids, scores: Float32Array.from(scoreList), top: top[r], below, unseen, threshold: tau }, t[r], rankInt8[r], k,
        );
      }
      ms.plan += performance.now() - t1;
    }
    if (this.rescoreMode === 'dense') {
      const t2 = performance.now();
      // Rows with the same target (in a lens table: the same position at every layer) share most
      // candidates, so they are re-scored together; the order only affects speed.
      const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => targets[a] - targets[b] || a - b);
      const cells = await this.rescoreDense(order.map((i) => plans[i]), between);
      denseCells += cells.cells;
      unionTokens += cells.union;
      ms.rescore += performance.now() - t2;
    }
    if (this.rescoreMode === 'perRow') {
      const t2 = performance.now();
      await this.rescoreAll(plans, between);
      ms.rescore = performance.now() - t2;
    }

    const ids = new Int32Array(N * k);
    const logits = new Float32Array(N * k);
    const probs = new Float32Array(N * k);
    const rank = new Int32Array(N);
    const rankExact = new Uint8Array(N);
    const fallback: number[] = [];
    let probabilityFallbackRows = 0;
    const bounds: number[] = [];
    let candidates = 0;
    let maxCandidates = 0;
    for (let row = 0; row < N; row++) {
      const plan = plans[row];
      if (!plan) {
        fallback.push(row);
        continue;
      }
      bounds.push(plan.restBound);
      const done = finishRow(plan, k);
      if (!done) {
        fallback.push(row);
        probabilityFallbackRows++;
        continue;
      }
      candidates += plan.ids.length;
      maxCandidates = Math.max(maxCandidates, plan.ids.length);
      ids.set(done.ids, row * k);
      logits.set(done.logits, row * k);
      probs.set(done.probs, row * k);
      rank[row] = done.rank;
      rankExact[row] = done.rankExact ? 1 : 0;
    }
    const t3 = performance.now();
    if (fallback.length > 0) {
      // Rows the bound did not separate within the pool: the float32 lens, all of them in one call.
      const sub = new Float32Array(fallback.length * D);
      fallback.forEach((row, i) => sub.set(rows.subarray(row * D, (row + 1) * D), i * D));
      const exact = await this.exact.run(sub, Int32Array.from(fallback, (row) => targets[row]), k, between);
      fallback.forEach((row, i) => {
        ids.set(exact.top.ids.subarray(i * k, (i + 1) * k), row * k);
        logits.set(exact.top.logits.subarray(i * k, (i + 1) * k), row * k);
        probs.set(exact.top.probs.subarray(i * k, (i + 1) * k), row * k);
        rank[row] = exact.rank[i];
        rankExact[row] = 1;
      });
    }
    ms.fallback = performance.now() - t3;
    let exactRankRows = 0;
    for (const e of rankExact) exactRankRows += e;
    return {
      top: { k, ids, logits, probs },
      rank,
      scale,
      rankExact,
      stats: { rows: N, candidates, maxCandidates, fallbackRows: fallback.length, probabilityFallbackRows, ...(bounds.length > 0 ? { medianBound: median(bounds) } : {}), exactRankRows, denseCells, unionTokens, ms },
    };
  }

  /**
   * One row's screen: the bound, L (a lower bound on the float32 table's k-th logit) and the
   * candidates; undefined when the graph's threshold is not proven low enough (the row falls back).
   */
  private plan(y: Float32Array, yq: Quantized, dq: Quantized, screened: Screened, target: number, rankInt8: number, k: number): RowPlan | undefined {
    const D = this.config.dModel;
    const qu = this.qu;
    // ŷ = (y_q − zero)·scale and ŷ₂ = (dy_q − zero₂)·scale₂ exactly (float64), δ = y − ŷ − ŷ₂;
    // the norms of ŷ, ŷ₂, ŷ + ŷ₂, δ and y, rounded up.
    let a2 = 0;
    let b2 = 0;
    let ab2 = 0;
    let d2 = 0;
    let dy1 = 0;
    let y2 = 0;
    for (let i = 0; i < D; i++) {
      const a = (yq.q[i] - yq.zero) * yq.scale;
      const b = (dq.q[i] - dq.zero) * dq.scale;
      const d = y[i] - a - b;
      dy1 += (y[i] - a) ** 2;
      a2 += a * a;
      b2 += b * b;
      ab2 += (a + b) * (a + b);
      d2 += d * d;
      y2 += y[i] * y[i];
    }
    const nA = up(Math.sqrt(a2));
    const nB = up(Math.sqrt(b2));
    const nAB = up(Math.sqrt(ab2));
    const nD = up(Math.sqrt(d2));
    // γ_D = D·u / (1 − D·u) bounds the float32 table's own rounding of a D-term dot product.
    const gy = up(((D * U) / (1 - D * U)) * Math.sqrt(y2));
    const r8 = 8 * U;
    // |float32 logit − int8 score| of token j (docs/screened-lens.md): what the three products miss,
    // the float32 table's rounding, and the products' own float32 rounding.
    // With fewer products: y = ŷ + (y − ŷ); one product misses ŷ·(w − ŵ_hi), two miss ŷ·(w − ŵ_hi − ŵ_lo).
    const nDy = this.products === 3 ? nD : up(Math.sqrt(dy1));
    const p = this.products;
    const bound = (j: number): number =>
      p === 3
        ? up(nAB * qu.errNorm[j] + nD * qu.norm[j] + nB * qu.loNorm[j] + gy * qu.norm[j] + r8 * (nA * (qu.hiNorm[j] + qu.loNorm[j]) + nB * qu.hiNorm[j]))
        : up(nA * (p === 2 ? qu.errNorm[j] : qu.hiErrNorm[j]) + nDy * qu.norm[j] + gy * qu.norm[j] + r8 * nA * (qu.hiNorm[j] + (p === 2 ? qu.loNorm[j] : 0)));
    const restBound =
      p === 3
        ? up(nAB * qu.maxErrNorm + nD * qu.maxNorm + nB * qu.maxLoNorm + gy * qu.maxNorm + r8 * (nA * (qu.maxHiNorm + qu.maxLoNorm) + nB * qu.maxHiNorm))
        : up(nA * (p === 2 ? qu.maxErrNorm : qu.maxHiErrNorm) + nDy * qu.maxNorm + gy * qu.maxNorm + r8 * nA * (qu.maxHiNorm + (p === 2 ? qu.maxLoNorm : 0)));
    const { ids: sIds, scores } = screened;
    const S = sIds.length;
    if (S < k) return undefined;
    const lower = new Float64Array(S);
    for (let i = 0; i < S; i++) lower[i] = scores[i] - bound(sIds[i]);
    const L = kthLargest(lower, k);
    // Tokens this close below L are re-scored too, so LogSoftmax's rounding cannot tie one with the k-th.
    const margin = 1e-5 * (1 + Math.abs(L) + Math.abs(screened.top));
    // Every token the graph left out has an int8 score below its threshold, so a float32 logit below this:
    const t = screened.threshold;
    const outsideUpper = up(t + restBound);
    if (!(outsideUpper < L - margin)) return undefined;
    const ids: number[] = [];
    for (let i = 0; i < S; i++) if (scores[i] + bound(sIds[i]) >= L - margin) ids.push(sIds[i]);
    const candidates = ids.length;
    // Non-candidates at or above the threshold, and the tokens JS saw below it.
    let seenRest = screened.below;
    for (let i = 0; i < S; i++) if (!(scores[i] + bound(sIds[i]) >= L - margin)) seenRest += Math.exp(scores[i] - screened.top);
    if (target >= 0 && !ids.includes(target)) ids.push(target);
    return { y, ids, candidates, exact: new Float32Array(ids.length), top: screened.top, seenRest, unseen: screened.unseen, threshold: L - margin, restBound, vocab: this.config.dVocab, target, rankInt8 };
  }

  /**
   * Fills the plans' `exact` from dense products: the rows, in groups of DENSE_ROWS in the given
   * order, against the union of their ids. Returns the logits computed and the unions' sizes.
   */
  private async rescoreDense(plans: readonly (RowPlan | undefined)[], between?: () => Promise<void>): Promise<{ cells: number; union: number }> {
    const D = this.config.dModel;
    const C = DENSE_COLUMNS;
    const live = plans.filter((p): p is RowPlan => p !== undefined);
    let cells = 0;
    let unionSize = 0;
    for (let from = 0; from < live.length; from += DENSE_ROWS) {
      if (from > 0 && between) await between();
      const group = live.slice(from, from + DENSE_ROWS);
      const union = new Set<number>();
      for (const plan of group) for (const id of plan.ids) union.add(id);
      const tokens = Int32Array.from(union).sort();
      const G = Math.ceil(tokens.length / C);
      const ids = new Array<number>(G * C).fill(tokens[0]);
      tokens.forEach((id, i) => (ids[i] = id));
      const column = new Map<number, number>();
      tokens.forEach((id, i) => column.set(id, i));
      // Two rows at least: one row would take MLAS's M = 1 path, which sums differently.
      const n = Math.max(2, group.length);
      const y = new Float32Array(n * D);
      group.forEach((plan, r) => y.set(plan.y, r * D));
      if (group.length === 1) y.set(group[0].y, D);
      const out = floatOutput(await this.rescore.run({ y: floatTensor(y, [n, D]), ids: int64Tensor(ids, [G, C]) }), 'logits'); // [G, n, 64]
      group.forEach((plan, r) => {
        plan.ids.forEach((id, i) => {
          const c = column.get(id) as number;
          plan.exact[i] = out[(Math.floor(c / C) * n + r) * C + (c % C)];
        });
      });
      cells += n * G * C;
      unionSize += tokens.length;
    }
    return { cells, union: unionSize };
  }

  /** Fills every plan's `exact` with the float32 table's logits of its ids (RESCORE_COLUMNS per item). */
  private async rescoreAll(plans: readonly (RowPlan | undefined)[], between?: () => Promise<void>): Promise<void> {
    const D = this.config.dModel;
    const C = RESCORE_COLUMNS;
    const items: { plan: RowPlan; from: number }[] = [];
    for (const plan of plans) if (plan) for (let from = 0; from < plan.ids.length; from += C) items.push({ plan, from });
    for (let start = 0; start < items.length; start += RESCORE_BATCH) {
      if (start > 0 && between) await between();
      const batch = items.slice(start, start + RESCORE_BATCH);
      const y2 = new Float32Array(batch.length * 2 * D);
      const ids = new Array<number>(batch.length * C).fill(0);
      batch.forEach(({ plan, from }, b) => {
        y2.set(plan.y, 2 * b * D);
        y2.set(plan.y, (2 * b + 1) * D);
        for (let c = 0; c < C && from + c < plan.ids.length; c++) ids[b * C + c] = plan.ids[from + c];
      });
      const out = floatOutput(await this.rescore.run({ y2: floatTensor(y2, [batch.length, 2, D]), ids: int64Tensor(ids, [batch.length, C]) }), 'logits');
      batch.forEach(({ plan, from }, b) => {
        for (let c = 0; c < C && from + c < plan.ids.length; c++) plan.exact[from + c] = out[b * 2 * C + c];
      });
    }
  }

  /** Whether re-scoring reproduces this ORT build's float32 lens bit for bit (checked once at creation). */
  private async reproducesTable(): Promise<boolean> {
    const { dModel: D, dVocab: V } = this.config;
    const rows = 4;
    const x = new Float32Array(rows * D);
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 3 + Math.cos(i * 1.3);
    const none = new Int32Array(rows).fill(-1);
    // Directly: the re-scoring graph's logits of the table's top-64 tokens (whether or not the screen
    // would separate these rows), then end to end.
    const k = Math.min(64, V);
    const table = await this.exact.run(x, none, k);
    const out = await this.screen.run({
      [SCREEN.rows]: floatTensor(x, [rows, D]),
      [SCREEN.target]: int64Tensor(new Array<number>(rows).fill(0), [rows]),
      [SCREEN.k]: int64Tensor([1], [1]),
    });
    const y = floatOutput(out, SCREEN.y);
    const plans: RowPlan[] = Array.from({ length: rows }, (_, r) => ({
      y: y.subarray(r * D, (r + 1) * D),
      ids: Array.from(table.top.ids.subarray(r * k, (r + 1) * k)),
      candidates: k,
      exact: new Float32Array(k),
      top: 0,
      seenRest: 0,
      unseen: 0,
      threshold: 0,
      restBound: 0,
      vocab: V,
      target: -1,
      rankInt8: 0,
    }));
    if (this.rescoreMode === 'dense') await this.rescoreDense(plans);
    else await this.rescoreAll(plans);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < k; i++) if (!Object.is(plans[r].exact[i], table.top.logits[r * k + i])) return false;
    }
    const small = Math.min(8, V);
    const exact = await this.exact.run(x, none, small);
    const screened = await this.run(x, none, small);
    for (let i = 0; i < exact.top.ids.length; i++) {
      if (exact.top.ids[i] !== screened.top.ids[i] || !Object.is(exact.top.logits[i], screened.top.logits[i])) return false;
    }
    return true;
  }
}

/** Seen tokens further than this below a row's int8 top are counted, not summed (finishRow's bound takes e^−FAR each). */
const FAR = 30;

/** Rows per dense re-scoring product (their candidates' union is scored for all of them). */
const DENSE_ROWS = 32; // 16, 64 and 128 measured within noise of it (bench, GPT-2-small shapes)

/** Re-scoring items per ORT call (1024 items gather 16 Ki rows of W_E: 48 MiB at d_model 768). */
const RESCORE_BATCH = 1024;

/** One row's uint8 quantization as DynamicQuantizeLinear made it: value = (q − zero)·scale. */
interface Quantized {
  readonly q: Uint8Array;
  readonly scale: number;
  readonly zero: number;
}

/** What the screen graph kept of one row: tokens at or above its threshold, and its int8 summary. */
interface Screened {
  readonly ids: Int32Array;
  readonly scores: Float32Array;
  /** The largest int8 score. */
  readonly top: number;
  /** Σ exp(s − top) over the tokens JS saw below the threshold (in returned blocks). */
  readonly below: number;
  /** An upper bound on Σ exp(s − top) over the tokens JS did not see (blocks below the threshold). */
  readonly unseen: number;
  readonly threshold: number;
}

/** Largest probability error a screened row may carry (the target is 1e-6; the rest is left for float32 rounding). */
const PROB_BOUND = 5e-7;

/** One screened row on its way through re-scoring. */
interface RowPlan {
  /** [D] ln_final output (a view into the screen's output). */
  readonly y: Float32Array;
  /** Candidates (tokens that may reach the top-k), then the target if it is not one of them. */
  readonly ids: number[];
  /** How many of `ids` are candidates. */
  readonly candidates: number;
  /** Float32 logits of `ids`, filled by rescoreAll. */
  readonly exact: Float32Array;
  /** The largest int8 score; Σ exp(s − top) over the int8 scores s of every non-candidate JS saw; a bound on the rest's. */
  readonly top: number;
  readonly seenRest: number;
  readonly unseen: number;
  /** Every token outside the candidates has a float32 logit below this. */
  readonly threshold: number;
  /** |float32 − int8| of every token outside the candidates is at most this. */
  readonly restBound: number;
  readonly vocab: number;
  readonly target: number;
  readonly rankInt8: number;
}

/**
 * A re-scored row → its top-k in the float32 table's order, probabilities and the target's rank;
 * undefined when the mass of the tokens outside the candidates is too uncertain to give every
 * probability within PROB_BOUND (the row falls back to the float32 lens).
 */
function finishRow(plan: RowPlan, k: number): { ids: Int32Array; logits: Float32Array; probs: Float32Array; rank: number; rankExact: boolean } | undefined {
  const n = plan.candidates;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, plan.exact[i]);
  // log Σ exp(v − max): the candidates' float32 logits, plus the mass of every other token. Each of
  // those is within restBound of its int8 score (a factor e^±restBound) and below the threshold; the
  // int8 mass JS saw is known (seenRest), the rest's is between 0 and `unseen` (block maxima).
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(plan.exact[i] - max);
  const scale = Math.exp(plan.top - max);
  const upper = Math.min((plan.seenRest + plan.unseen) * scale * Math.exp(plan.restBound), (plan.vocab - n) * Math.exp(plan.threshold - max));
  const lower = Math.min(plan.seenRest * scale * Math.exp(-plan.restBound), upper);
  const rest = (upper + lower) / 2;
  const logSum = Math.fround(Math.log(sum + rest));
  const delta = (upper - lower) / 2;
  const shift = delta / Math.max(sum + rest - delta, Number.MIN_VALUE); // bounds |Δ log Σ| (log(1 + x) ≤ x)
  if (!(Math.exp(-logSum) * Math.expm1(shift) <= PROB_BOUND)) return undefined;
  // The float32 table takes the top-k of LogSoftmax = fl(fl(v − max) − log Σ), ties to the lower id.
  const order = Array.from({ length: n }, (_, i) => ({ id: plan.ids[i], v: plan.exact[i], lp: Math.fround(Math.fround(plan.exact[i] - max) - logSum) }));
  order.sort((a, b) => b.lp - a.lp || a.id - b.id);
  const ids = new Int32Array(k);
  const logits = new Float32Array(k);
  const probs = new Float32Array(k);
  for (let i = 0; i < k; i++) {
    ids[i] = order[i].id;
    logits[i] = order[i].v;
    probs[i] = Math.fround(Math.exp(order[i].lp));
  }
  if (plan.target < 0) return { ids, logits, probs, rank: -1, rankExact: true };
  const vt = plan.exact[plan.ids.indexOf(plan.target)];
  // Every token outside the candidates is below the threshold: if the target is not, none of them outranks it.
  if (!(vt >= plan.threshold)) return { ids, logits, probs, rank: plan.rankInt8, rankExact: false };
  let rank = 0;
  for (let i = 0; i < n; i++) if (plan.exact[i] > vt) rank++;
  return { ids, logits, probs, rank, rankExact: true };
}

/** The median of `xs` (not empty). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The k-th largest value (1-based k) of `xs`: the k largest kept sorted in a small array (k ≪ length). */
function kthLargest(xs: Float64Array, k: number): number {
  const top = new Float64Array(k).fill(-Infinity); // descending
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (Number.isNaN(x)) return NaN; // no proof holds: the row falls back
    if (!(x > top[k - 1])) continue;
    let j = k - 1;
    while (j > 0 && top[j - 1] < x) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = x;
  }
  return top[k - 1];
}

/**
 * The float32 lens and the screened lens of one checkpoint folder (F32 cache for F16 files under
 * `cacheDir`), for the bench and the tests; `release` frees both.
 */
export async function screenedLensForCheckpoint(folder: string, cacheDir: string, settings?: SessionSettings, products: ScreenProducts = DEFAULT_PRODUCTS, rescoreMode: RescoreMode = 'dense'): Promise<{ exact: LensRunner; screened: ScreenedLensRunner; config: ModelConfig; release: () => Promise<void> }> {
  const ckpt = openCheckpoint(folder);
  const f32 = ensureF32Weights(ckpt, cacheDir);
  const location = path.basename(f32.path);
  const locate: WeightLocator = (name, dims) => {
    const offset = f32.offsets.get(name);
    if (offset === undefined) throw new Error(`${ckpt.weightsPath}: tensor ${name} is missing`);
    return { location, offset, byteLength: dims.reduce((a, b) => a * b, 1) * 4 };
  };
  const weightsFolder = path.dirname(f32.path);
  const lensSession = await createSession(buildLensGraph(ckpt.config, locate), weightsFolder, settings);
  const exact = new LensRunner(lensSession, ckpt.config);
  try {
    const screened = await ScreenedLensRunner.create(ckpt.config, locate, weightsFolder, readTensor(ckpt, 'wte.weight'), exact, settings, products, rescoreMode);
    return {
      exact, screened, config: ckpt.config,
      release: async () => {
        await screened.release();
        await lensSession.release();
      },
    };
  } catch (err) {
    await lensSession.release();
    throw err;
  }
}
