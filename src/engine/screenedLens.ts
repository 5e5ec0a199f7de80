/**
 * The exact logit lens, screened in int8 (docs/screened-lens.md has the proof).
 *
 * The float32 lens (lens.ts) multiplies every residual row's ln_final output y [D] by all of W_U
 * [D, V]. Here every token is first scored in int8 (MatMulIntegerToFloat: y quantized per chunk by
 * DynamicQuantizeLinear, W_U per token, symmetric), and only the tokens whose score could still
 * reach the top-k under a per-token error bound are re-scored in float32 with the same
 * LayerNormalization and the same MLAS dot products as the float32 table. The top-k ids and logits
 * are then those of the float32 table; a row whose bound does not separate (the K'-th int8 score
 * could still reach the top-k) is computed by the float32 lens instead.
 *
 * What is exact and what is not: top-k ids and logits (proven, see docs); the rank of the next
 * token when it is within reach of the top-k (proven), else counted on the int8 scores (`rankExact`
 * false); probabilities use logsumexp over the exact candidates plus the int8 scores of the rest, so
 * they are within the bound of docs/screened-lens.md, not bit-equal.
 */
import type * as ort from 'onnxruntime-node';
import type { WeightLocator } from './graph';
import { LensRunner, type LensRows } from './lens';
import { DataType, GraphBuilder } from './onnx/model';
import { createSession, floatOutput, floatTensor, int64Tensor, intOutput, type SessionSettings } from './session';
import type { ModelConfig } from './types';

/** Unit roundoff of float32. */
const U = 2 ** -24;
/** About this many int8 scores per ORT call (32 MiB of float32), as in lens.ts. */
const CHUNK_SCORES = 8 * 1024 * 1024;
/** Int8 scores kept per row (TopK) as the candidate pool; rows whose pool is too small fall back. */
export const DEFAULT_POOL = 128;

/** W_U quantized per token (column of [D, V]) with the norms the bound needs. */
export interface QuantizedUnembed {
  /** [D, V] int8: q[i, j] = round(W_E[j, i] / scale[j]), in [-127, 127]. */
  readonly q: Int8Array;
  /** [V] per-token scale, max|w_j| / 127. */
  readonly scale: Float32Array;
  /** [V] ‖w_j‖₂, rounded up. */
  readonly norm: Float64Array;
  /** [V] ‖w_j − scale_j·q_j‖₂ (the quantization error), rounded up. */
  readonly errNorm: Float64Array;
  readonly maxNorm: number;
  readonly maxErrNorm: number;
}

/** Rounds a non-negative float64 bound up by a margin far above float64's own rounding. */
const up = (x: number): number => x * (1 + 1e-12) + 1e-300;

/** wte [V, D] (row j = token j's embedding = W_U[:, j]) → QuantizedUnembed. */
export function quantizeUnembed(wte: Float32Array, V: number, D: number): QuantizedUnembed {
  if (wte.length !== V * D) throw new Error(`quantizeUnembed: ${wte.length} values are not [${V}, ${D}]`);
  const q = new Int8Array(D * V);
  const scale = new Float32Array(V);
  const norm = new Float64Array(V);
  const errNorm = new Float64Array(V);
  let maxNorm = 0;
  let maxErrNorm = 0;
  for (let j = 0; j < V; j++) {
    const row = j * D;
    let max = 0;
    for (let i = 0; i < D; i++) max = Math.max(max, Math.abs(wte[row + i]));
    const s = max > 0 ? Math.fround(max / 127) : 1;
    scale[j] = s;
    let n2 = 0;
    let e2 = 0;
    for (let i = 0; i < D; i++) {
      const w = wte[row + i];
      const qi = Math.max(-127, Math.min(127, Math.round(w / s)));
      q[i * V + j] = qi;
      n2 += w * w;
      const e = w - s * qi; // exact in float64: s·qi has ≤ 24 + 7 significant bits
      e2 += e * e;
    }
    norm[j] = up(Math.sqrt(n2));
    errNorm[j] = up(Math.sqrt(e2));
    maxNorm = Math.max(maxNorm, norm[j]);
    maxErrNorm = Math.max(maxErrNorm, errNorm[j]);
  }
  return { q, scale, norm, errNorm, maxNorm, maxErrNorm };
}

const SCREEN = {
  rows: 'rows',
  target: 'target',
  pool: 'pool',
  y: 'y',
  yq: 'y_q',
  yScale: 'y_scale',
  yZero: 'y_zero',
  scale: 'ln_final_scale',
  poolScores: 'pool_scores',
  poolIds: 'pool_ids',
  lse: 'lse_int8',
  rank: 'rank_int8',
} as const;

/**
 * rows [n, D], target [n], pool [1] → y = ln_final(rows) [n, D] and its uint8 quantization
 * (y_q, y_scale, y_zero), ln_final_scale [n], the `pool` best int8 scores and ids [n, pool],
 * logsumexp of the int8 scores [n], and the int8 rank of each target [n].
 */
export function buildScreenGraph(config: ModelConfig, locate: WeightLocator, qu: QuantizedUnembed): Uint8Array {
  const { dModel: D, dVocab: V, layerNormEps } = config;
  const g = new GraphBuilder('residual_lens_screen', 17);
  const rows = g.input(SCREEN.rows, DataType.FLOAT, ['n', D]);
  const target = g.input(SCREEN.target, DataType.INT64, ['n']);
  const pool = g.input(SCREEN.pool, DataType.INT64, [1]);
  const gain = g.external('ln_f.weight', [D], locate('ln_f.weight', [D]));
  const bias = g.external('ln_f.bias', [D], locate('ln_f.bias', [D]));
  const [y, , invStd] = g.node('LayerNormalization', [rows, gain, bias], 3, { axis: { i: -1 }, epsilon: { f: layerNormEps } }, [SCREEN.y, 'ln_mean', 'ln_inv_std']);
  g.op('Reshape', [g.op('Reciprocal', [invStd]), g.constInts([-1])], {}, SCREEN.scale);
  g.node('DynamicQuantizeLinear', [y], 3, {}, [SCREEN.yq, SCREEN.yScale, SCREEN.yZero]);
  const wq = g.raw('w_u_int8', [D, V], DataType.INT8, new Uint8Array(qu.q.buffer, qu.q.byteOffset, qu.q.byteLength));
  const ws = g.floats('w_u_scale', [V], qu.scale);
  const [scores] = g.node('MatMulIntegerToFloat', [SCREEN.yq, wq, SCREEN.yScale, ws, SCREEN.yZero], 1, {}, undefined, 'com.microsoft'); // [n, V]
  g.node('TopK', [scores, pool], 2, { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, [SCREEN.poolScores, SCREEN.poolIds]);
  g.op('ReduceLogSumExp', [scores], { axes: { ints: [1] }, keepdims: { i: 0 } }, SCREEN.lse);
  const targetScore = g.op('GatherElements', [scores, g.op('Unsqueeze', [target, g.constInts([1])])], { axis: { i: 1 } });
  const above = g.op('Cast', [g.op('Greater', [scores, targetScore])], { to: { i: DataType.FLOAT } });
  g.op('Cast', [g.op('ReduceSum', [above, g.constInts([1])], { keepdims: { i: 0 } })], { to: { i: DataType.INT32 } }, SCREEN.rank);
  g.output(SCREEN.y, DataType.FLOAT, ['n', D]);
  g.output(SCREEN.yq, DataType.UINT8, ['n', D]);
  g.output(SCREEN.yScale, DataType.FLOAT, []);
  g.output(SCREEN.yZero, DataType.UINT8, []);
  g.output(SCREEN.scale, DataType.FLOAT, ['n']);
  g.output(SCREEN.poolScores, DataType.FLOAT, ['n', 'pool']);
  g.output(SCREEN.poolIds, DataType.INT64, ['n', 'pool']);
  g.output(SCREEN.lse, DataType.FLOAT, ['n']);
  g.output(SCREEN.rank, DataType.INT32, ['n']);
  return g.build();
}

/** Columns per re-scoring product: at most 64 keeps MLAS's K stride at ≥ 256 (see buildRescoreGraph). */
export const RESCORE_COLUMNS = 64;
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
  const g = new GraphBuilder('residual_lens_rescore', 17);
  const y = g.input('y2', DataType.FLOAT, ['b', 2, D]);
  const ids = g.input('ids', DataType.INT64, ['b', RESCORE_COLUMNS]);
  const wte = g.external('wte.weight', [V, D], locate('wte.weight', [V, D]));
  const w = g.op('Gather', [wte, ids], { axis: { i: 0 } }); // [B, 64, D]
  const axis = g.constInts([2]);
  let sum = '';
  for (let k0 = 0; k0 < D; k0 += PACKED_STRIDE_K) {
    const from = g.constInts([k0]);
    const to = g.constInts([Math.min(D, k0 + PACKED_STRIDE_K)]);
    const wt = g.op('Transpose', [g.op('Slice', [w, from, to, axis])], { perm: { ints: [0, 2, 1] } }); // [B, s, 64]
    const part = g.op('MatMul', [g.op('Slice', [y, from, to, axis]), wt]); // [B, 2, 64]
    sum = k0 === 0 ? part : g.op('Add', [sum, part]);
  }
  g.op('Identity', [sum], {}, 'logits');
  g.output('logits', DataType.FLOAT, ['b', 2, RESCORE_COLUMNS]);
  return g.build();
}

export interface ScreenedLensStats {
  readonly rows: number;
  /** Tokens re-scored in float32, all rows together (targets included). */
  readonly candidates: number;
  /** Most candidates of one row. */
  readonly maxCandidates: number;
  /** Rows the bound did not separate within the pool: computed by the float32 lens. */
  readonly fallbackRows: number;
  /** Rows whose next-token rank is exact (target within reach, or a fallback row, or no target). */
  readonly exactRankRows: number;
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
    private readonly rescore: ort.InferenceSession,
    private readonly exact: LensRunner,
    private readonly config: ModelConfig,
    private readonly qu: QuantizedUnembed,
    private readonly poolSize: number,
  ) {}

  /**
   * Sessions for the screen and the re-scoring; `exact` (the float32 lens) serves fallback rows.
   * `wte` [V, D] is read once to quantize W_U and may be dropped afterwards.
   */
  static async create(config: ModelConfig, locate: WeightLocator, weightsFolder: string | undefined, wte: Float32Array, exact: LensRunner, settings?: SessionSettings, poolSize = DEFAULT_POOL): Promise<ScreenedLensRunner> {
    const qu = quantizeUnembed(wte, config.dVocab, config.dModel);
    const screen = await createSession(buildScreenGraph(config, locate, qu), weightsFolder, settings);
    try {
      const rescore = await createSession(buildRescoreGraph(config, locate), weightsFolder, settings);
      const runner = new ScreenedLensRunner(screen, rescore, exact, config, qu, Math.min(poolSize, config.dVocab));
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
    if (k > this.poolSize) throw new Error(`screened lens: top-${k} is more than its pool of ${this.poolSize}`);
    if (!this.reproduces) {
      const exact = await this.exact.run(rows, targets, k, between);
      return { ...exact, rankExact: new Uint8Array(N).fill(1), stats: { rows: N, candidates: 0, maxCandidates: 0, fallbackRows: N, exactRankRows: N } };
    }
    const plans: (RowPlan | undefined)[] = new Array<RowPlan | undefined>(N);
    const ms = { screen: 0, plan: 0, rescore: 0, fallback: 0 };
    const scale = new Float32Array(N);
    const pool = int64Tensor([this.poolSize], [1]);
    const P = this.poolSize;
    for (let start = 0; start < N; start += this.chunkRows) {
      if (start > 0 && between) await between();
      const n = Math.min(this.chunkRows, N - start);
      const t = targets.subarray(start, start + n);
      const t0 = performance.now();
      const out = await this.screen.run({
        [SCREEN.rows]: floatTensor(rows.subarray(start * D, (start + n) * D), [n, D]),
        [SCREEN.target]: int64Tensor(Array.from(t, (id) => (id < 0 ? 0 : id)), [n]),
        [SCREEN.pool]: pool,
      });
      const y = floatOutput(out, SCREEN.y);
      const yq = out[SCREEN.yq].data as Uint8Array;
      const yScale = (out[SCREEN.yScale].data as Float32Array)[0];
      const yZero = (out[SCREEN.yZero].data as Uint8Array)[0];
      const poolScores = floatOutput(out, SCREEN.poolScores);
      const poolIds = intOutput(out, SCREEN.poolIds);
      const lse = floatOutput(out, SCREEN.lse);
      const rankInt8 = intOutput(out, SCREEN.rank);
      scale.set(floatOutput(out, SCREEN.scale), start);
      const t1 = performance.now();
      ms.screen += t1 - t0;
      for (let r = 0; r < n; r++) {
        plans[start + r] = this.plan(
          y.subarray(r * D, (r + 1) * D), yq.subarray(r * D, (r + 1) * D), yScale, yZero,
          poolScores.subarray(r * P, (r + 1) * P), poolIds.subarray(r * P, (r + 1) * P), lse[r], t[r], rankInt8[r], k,
        );
      }
      ms.plan += performance.now() - t1;
    }
    const t2 = performance.now();
    await this.rescoreAll(plans, between);
    ms.rescore = performance.now() - t2;

    const ids = new Int32Array(N * k);
    const logits = new Float32Array(N * k);
    const probs = new Float32Array(N * k);
    const rank = new Int32Array(N);
    const rankExact = new Uint8Array(N);
    const fallback: number[] = [];
    let candidates = 0;
    let maxCandidates = 0;
    for (let row = 0; row < N; row++) {
      const plan = plans[row];
      if (!plan) {
        fallback.push(row);
        continue;
      }
      candidates += plan.ids.length;
      maxCandidates = Math.max(maxCandidates, plan.ids.length);
      const done = finishRow(plan, k);
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
      stats: { rows: N, candidates, maxCandidates, fallbackRows: fallback.length, exactRankRows, ms },
    };
  }

  /**
   * One row's screen: the bound, L (a lower bound on the float32 table's k-th logit) and the
   * candidates; undefined when the pool may miss a token that could reach the top-k.
   */
  private plan(
    y: Float32Array, yq: Uint8Array, yScale: number, yZero: number,
    poolScores: Float32Array, poolIds: Int32Array, lseInt8: number, target: number, rankInt8: number, k: number,
  ): RowPlan | undefined {
    const D = this.config.dModel;
    const qu = this.qu;
    // ŷ = (y_q − zero)·scale exactly (float64); ‖ŷ‖, ‖y − ŷ‖, ‖y‖ rounded up.
    let yHat2 = 0;
    let dy2 = 0;
    let y2 = 0;
    for (let i = 0; i < D; i++) {
      const yh = (yq[i] - yZero) * yScale;
      const d = y[i] - yh;
      yHat2 += yh * yh;
      dy2 += d * d;
      y2 += y[i] * y[i];
    }
    const yHatNorm = up(Math.sqrt(yHat2));
    const dyNorm = up(Math.sqrt(dy2));
    // γ_D = D·u / (1 − D·u) bounds the float32 table's own rounding of a D-term dot product.
    const gy = up(((D * U) / (1 - D * U)) * Math.sqrt(y2));
    const bound = (score: number, j: number): number => up(yHatNorm * qu.errNorm[j] + dyNorm * qu.norm[j] + gy * qu.norm[j] + 8 * U * Math.abs(score));
    const P = poolScores.length;
    const lower = new Float64Array(P);
    for (let i = 0; i < P; i++) lower[i] = poolScores[i] - bound(poolScores[i], poolIds[i]);
    const L = kthLargest(lower, k);
    // Tokens this close below L are re-scored too, so LogSoftmax's rounding cannot tie one with the k-th.
    const margin = 1e-5 * (1 + Math.abs(L) + Math.abs(poolScores[0]));
    const last = poolScores[P - 1];
    const outsideUpper = up(last + 8 * U * Math.abs(last) + yHatNorm * qu.maxErrNorm + dyNorm * qu.maxNorm + gy * qu.maxNorm);
    if (P < this.config.dVocab && !(outsideUpper < L - margin)) return undefined;
    const ids: number[] = [];
    const int8: number[] = [];
    for (let i = 0; i < P; i++) {
      if (poolScores[i] + bound(poolScores[i], poolIds[i]) >= L - margin) {
        ids.push(poolIds[i]);
        int8.push(poolScores[i]);
      }
    }
    const candidates = ids.length;
    if (target >= 0 && !ids.includes(target)) ids.push(target);
    return { y, ids, int8, candidates, exact: new Float32Array(ids.length), lseInt8, threshold: L - margin, target, rankInt8 };
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
    const k = Math.min(8, V);
    const table = await this.exact.run(x, new Int32Array(rows).fill(-1), k);
    const screened = await this.run(x, new Int32Array(rows).fill(-1), k);
    for (let i = 0; i < table.top.ids.length; i++) {
      if (table.top.ids[i] !== screened.top.ids[i] || !Object.is(table.top.logits[i], screened.top.logits[i])) return false;
    }
    return true;
  }
}

/** Re-scoring items per ORT call (each gathers 64 rows of W_E: 12 MiB at d_model 768 for 64 items). */
const RESCORE_BATCH = 256;

/** One screened row on its way through re-scoring. */
interface RowPlan {
  /** [D] ln_final output (a view into the screen's output). */
  readonly y: Float32Array;
  /** Candidates (tokens that may reach the top-k), then the target if it is not one of them. */
  readonly ids: number[];
  /** Int8 scores of the candidates (same order). */
  readonly int8: number[];
  /** How many of `ids` are candidates. */
  readonly candidates: number;
  /** Float32 logits of `ids`, filled by rescoreAll. */
  readonly exact: Float32Array;
  readonly lseInt8: number;
  /** Every token outside the candidates has a float32 logit below this. */
  readonly threshold: number;
  readonly target: number;
  readonly rankInt8: number;
}

/** A re-scored row → its top-k in the float32 table's order, probabilities and the target's rank. */
function finishRow(plan: RowPlan, k: number): { ids: Int32Array; logits: Float32Array; probs: Float32Array; rank: number; rankExact: boolean } {
  const n = plan.candidates;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, plan.exact[i]);
  // log Σ exp(v − max): the int8 sum with the candidates' int8 terms swapped for their float32 ones.
  let sum = Math.exp(plan.lseInt8 - max);
  for (let i = 0; i < n; i++) sum += Math.exp(plan.exact[i] - max) - Math.exp(plan.int8[i] - max);
  const logSum = Math.fround(Math.log(Math.max(sum, Number.MIN_VALUE)));
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

/** The k-th largest value (1-based k) of `xs`. */
function kthLargest(xs: Float64Array, k: number): number {
  const sorted = Float64Array.from(xs).sort();
  return sorted[sorted.length - k];
}
