/**
 * Engine requests for causal experiments: runs with interventions, activation-patching sweeps and
 * metrics of stored traces. Shapes use the intervention / metric types of ./interventions.ts.
 *
 * Patching follows TransformerLens's `patching` module and IOI demo ("denoising"): the corrupted
 * trace is run with one activation at a time patched in from the clean trace; each cell is the
 * metric of that run, and the normalised score is (patched − corrupted) / (clean − corrupted), so
 * 1 = the patch restores the clean behaviour, 0 = no effect.
 *
 * Axis glossary: see src/engine/types.ts.
 */
import type { InterventionRun, Metric } from './interventions';
import type { TraceForwardSummary } from '../engine/types';
import { INTERVENTIONS_SCHEMA_VERSION } from './interventions';

export { INTERVENTIONS_SCHEMA_VERSION };

/** Top-k of one position: ids, raw logits and probabilities, best first. */
export interface PositionTopK {
  readonly ids: Int32Array;
  readonly logits: Float32Array;
  readonly probs: Float32Array;
}

/** `runInterventions`: several runs of one stored trace, each with its own interventions. */
export interface RunInterventionsParams {
  /** INTERVENTIONS_SCHEMA_VERSION; the engine refuses another. */
  readonly schema: number;
  /** The stored trace every run starts from (its tokens, and the activations no edit can change). */
  readonly traceId: number;
  readonly runs: readonly InterventionRun[];
  readonly metric: Metric;
  /** Also return the top-k tokens at the metric position of every run (and of the base trace). */
  readonly topK?: number;
  /**
   * minimal (default): recompute only the layers and positions an edit can change, reading the
   * rest from the stored trace. full: every layer at every position, one run at a time (the naive
   * TransformerLens-style loop; for tests and the bench).
   */
  readonly recompute?: 'minimal' | 'full';
}

export interface RunInterventionsResult {
  readonly traceId: number;
  /** The metric position (resolved default: the last). */
  readonly pos: number;
  /** The metric of the unedited trace. */
  readonly baseline: number;
  /** [R] the metric of each run, in request order. */
  readonly metrics: Float64Array;
  /** [R] top-k at the metric position per run, when topK was asked for. */
  readonly top?: readonly PositionTopK[];
  /** Top-k of the unedited trace at the metric position, when topK was asked for. */
  readonly baseTop?: PositionTopK;
}

/** `traceMetric`: the metric of a stored trace, no edits (clean / corrupted baselines). */
export interface TraceMetricParams {
  readonly schema: number;
  readonly traceId: number;
  readonly metric: Metric;
  readonly topK?: number;
}

export interface TraceMetricResult {
  readonly traceId: number;
  readonly pos: number;
  readonly value: number;
  readonly top?: PositionTopK;
}

/**
 * What a patching sweep patches (clean → corrupted), and the grid it fills:
 *   resid_pre / attn_out / mlp_out  rows = layers, cols = positions (one position patched per cell)
 *   heads         rows = layers, cols = heads: attn.hook_z of one head at every position
 *   heads_by_pos  rows = the chosen heads, cols = positions: hook_z of one head at one position
 *   patterns      rows = layers, cols = heads: attn.hook_pattern of one head, every query position
 */
export type PatchTarget = 'resid_pre' | 'attn_out' | 'mlp_out' | 'heads' | 'heads_by_pos' | 'patterns';

export const PATCH_TARGETS: readonly PatchTarget[] = ['resid_pre', 'attn_out', 'mlp_out', 'heads', 'heads_by_pos', 'patterns'];

export interface HeadRef {
  readonly layer: number;
  readonly head: number;
}

export interface PatchSweepParams {
  readonly schema: number;
  /** Source of the patched activations. */
  readonly cleanTraceId: number;
  /** The run that is patched; must have the same number of tokens as the clean trace. */
  readonly corruptedTraceId: number;
  readonly metric: Metric;
  readonly what: PatchTarget;
  /** heads_by_pos: the heads to sweep over positions (at least one). */
  readonly heads?: readonly HeadRef[];
}

/** How the normalised score is formed, and why it is missing when it is. */
export interface PatchNormalisation {
  /** Metric of the clean trace. */
  readonly clean: number;
  /** Metric of the corrupted trace. */
  readonly corrupted: number;
  /**
   * False when |clean − corrupted| is too small to divide by (≤ 1e-6 · max(1, |clean|, |corrupted|)):
   * then `scores` are absent and `message` says so, instead of NaN or ±Infinity.
   */
  readonly ok: boolean;
  readonly message?: string;
}

/** One completed row of a sweep: sent as progress while the sweep runs, and in the final grid. */
export interface PatchRow {
  readonly what: PatchTarget;
  /** Row index into the grid (a layer, or an index into `heads` for heads_by_pos). */
  readonly row: number;
  /** [cols] metric of each patched run. */
  readonly values: Float64Array;
  /** [cols] normalised scores; absent when the normalisation is not ok. */
  readonly scores?: Float64Array;
}

export interface PatchSweepResult {
  readonly what: PatchTarget;
  readonly rows: number;
  readonly cols: number;
  /** Row labels: "L3" for layers, "L1H0" for heads. */
  readonly rowLabels: readonly string[];
  /** Column labels: "pos 4" or "H2". */
  readonly colLabels: readonly string[];
  /** The metric position. */
  readonly pos: number;
  readonly normalisation: PatchNormalisation;
  /** [rows, cols] metric of each patched run. */
  readonly values: Float64Array;
  /** [rows, cols] normalised scores; absent when the normalisation is not ok. */
  readonly scores?: Float64Array;
  /** Engine milliseconds for the sweep. */
  readonly ms: number;
}

/**
 * Typed payloads carried by EngineProgress besides the stage line: a patching sweep's completed
 * row, or a traceSummary's forward part ahead of its predictions.
 */
export type ProgressPayload = { readonly kind: 'patch-row'; readonly row: PatchRow } | { readonly kind: 'trace-forward'; readonly forward: TraceForwardSummary };
