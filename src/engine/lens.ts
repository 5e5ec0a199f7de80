/**
 * Runs the lens graph (graph.ts buildLensGraph): residual rows through ln_final and W_U, reduced
 * in ORT to top-k, logsumexp-normalised probabilities, the rank of a target token (only for chunks
 * that name one: a trace's head skips that pass), and on request one row's full distribution.
 * Rows are sent in chunks so the [rows, d_vocab] logits stay small.
 */
import type * as ort from 'onnxruntime-node';
import type { ModelConfig, TopK } from './types';
import { INPUTS, LENS_OUTPUTS } from './graph';
import { boolScalar, floatOutput, floatTensor, int64Tensor, intOutput } from './session';

/** About this many logits per chunk (32 MiB of float32): big enough for full-speed Gemm, small enough for RSS. */
const CHUNK_LOGITS = 8 * 1024 * 1024;

export interface LensRows {
  /** [N, k] top-k per row. */
  readonly top: TopK;
  /** [N] rank of each row's target (0 = top-1); -1 where the target was -1. */
  readonly rank: Int32Array;
  /** [N] ln_final.hook_scale of each row. */
  readonly scale: Float32Array;
}

export class LensRunner {
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly config: ModelConfig,
  ) {}

  /** Rows per ORT call. */
  get chunkRows(): number {
    return Math.max(1, Math.floor(CHUNK_LOGITS / this.config.dVocab));
  }

  /**
   * rows [N, D] → top-k, ranks and scales. `targets` [N] holds the token whose rank is wanted per
   * row, or -1 for none. `between` runs between chunks (cancellation).
   */
  async run(rows: Float32Array, targets: Int32Array, k: number, between?: () => Promise<void>): Promise<LensRows> {
    const D = this.config.dModel;
    const N = rows.length / D;
    if (!Number.isInteger(N) || targets.length !== N) throw new Error(`lens: ${rows.length} values and ${targets.length} targets do not make rows of ${D}`);
    // Never run with no rows: onnxruntime 1.30's TopK over [0, V] raises SIGFPE, which ends the process.
    const ids = new Int32Array(N * k);
    const logits = new Float32Array(N * k);
    const probs = new Float32Array(N * k);
    const rank = new Int32Array(N);
    const scale = new Float32Array(N);
    const kTensor = int64Tensor([k], [1]);
    const noRows = int64Tensor([], [0]);
    for (let start = 0; start < N; start += this.chunkRows) {
      if (start > 0 && between) await between();
      const n = Math.min(this.chunkRows, N - start);
      const t = targets.subarray(start, start + n);
      const wantRank = t.some((id) => id >= 0);
      const out = await this.session.run({
        [INPUTS.rows]: floatTensor(rows.subarray(start * D, (start + n) * D), [n, D]),
        [INPUTS.target]: int64Tensor(Array.from(t, (id) => (id < 0 ? 0 : id)), [n]),
        [INPUTS.wantRank]: boolScalar(wantRank),
        [INPUTS.k]: kTensor,
        [INPUTS.distRows]: noRows,
      });
      ids.set(intOutput(out, LENS_OUTPUTS.topIds), start * k);
      logits.set(floatOutput(out, LENS_OUTPUTS.topLogits), start * k);
      probs.set(floatOutput(out, LENS_OUTPUTS.topProbs), start * k);
      scale.set(floatOutput(out, LENS_OUTPUTS.scale), start);
      if (wantRank) {
        const r = intOutput(out, LENS_OUTPUTS.rank);
        for (let i = 0; i < n; i++) rank[start + i] = t[i] < 0 ? -1 : r[i];
      } else {
        rank.fill(-1, start, start + n);
      }
    }
    return { top: { k, ids, logits, probs }, rank, scale };
  }

  /** One residual row [D] → its full distribution [V] (exp(logit − logsumexp)). */
  async distribution(row: Float32Array): Promise<Float32Array> {
    const D = this.config.dModel;
    if (row.length !== D) throw new Error(`lens: a row has ${D} values, got ${row.length}`);
    const out = await this.session.run({
      [INPUTS.rows]: floatTensor(row, [1, D]),
      [INPUTS.target]: int64Tensor([0], [1]),
      [INPUTS.wantRank]: boolScalar(false),
      [INPUTS.k]: int64Tensor([1], [1]),
      [INPUTS.distRows]: int64Tensor([0], [1]),
    });
    return floatOutput(out, LENS_OUTPUTS.dist);
  }
}

/**
 * Targets for the logit lens table: the actual next token at each position of every row,
 * -1 at the last position. [rows, T]
 */
export function nextTokenTargets(ids: readonly number[], rows: number): Int32Array {
  const T = ids.length;
  const targets = new Int32Array(rows * T);
  for (let r = 0; r < rows; r++) for (let t = 0; t < T; t++) targets[r * T + t] = t + 1 < T ? ids[t + 1] : -1;
  return targets;
}
