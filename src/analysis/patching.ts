/**
 * Pure pieces of causal experiments: metric checks and values from final residual rows, the
 * normalised patching score, and the layout of each patching sweep (which runs fill which cell).
 * Semantics follow TransformerLens (run_with_hooks, the patching module, the IOI demo).
 *
 * Axis glossary: see src/engine/types.ts.
 */
import type { ModelConfig } from '../engine/types';
import { EngineError } from '../protocol/engine';
import type { Intervention, Metric } from '../protocol/interventions';
import type { HeadRef, PatchNormalisation, PatchTarget } from '../protocol/patching';

/** A metric with its position resolved and its tokens checked against the vocabulary. */
export type ResolvedMetric =
  | { readonly kind: 'logit_diff'; readonly pos: number; readonly correct: number; readonly wrong: number }
  | { readonly kind: 'logprob' | 'prob'; readonly pos: number; readonly token: number }
  | { readonly kind: 'kl'; readonly pos: number; readonly referenceTraceId?: number };

/** Checks a metric against a trace of T tokens and a vocabulary of V; the default position is the last. */
export function resolveMetric(metric: Metric, T: number, V: number): ResolvedMetric {
  if (!metric || typeof metric !== 'object') throw new EngineError('bad-input', 'A metric is needed (logit_diff, logprob, prob or kl).');
  const pos = metric.pos ?? T - 1;
  if (!Number.isInteger(pos) || pos < 0 || pos >= T) throw new EngineError('bad-input', `Metric position ${String(pos)} is out of range 0..${T - 1}.`);
  const token = (what: string, id: unknown): number => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= V) throw new EngineError('bad-input', `The ${what} token id ${String(id)} is outside the vocabulary 0..${V - 1}.`);
    return id;
  };
  switch (metric.kind) {
    case 'logit_diff': {
      const correct = token('correct', metric.correct);
      const wrong = token('wrong', metric.wrong);
      if (correct === wrong) throw new EngineError('bad-input', `The correct and wrong answers are the same token (${correct}); a logit difference needs two different tokens.`);
      return { kind: 'logit_diff', pos, correct, wrong };
    }
    case 'logprob':
    case 'prob':
      return { kind: metric.kind, pos, token: token('scored', metric.token) };
    case 'kl':
      return { kind: 'kl', pos, ...(metric.referenceTraceId !== undefined ? { referenceTraceId: metric.referenceTraceId } : {}) };
    default:
      throw new EngineError('bad-input', `Unknown metric ${JSON.stringify((metric as { kind?: unknown }).kind)}: use logit_diff, logprob, prob or kl.`);
  }
}

/** ln_final of one residual row [D], in float64: (x − mean) / sqrt(var + eps) · w + b. */
export function lnFinal(x: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (x[i] - mean) ** 2;
  const scale = Math.sqrt(variance / n + eps);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((x[i] - mean) / scale) * weight[i] + bias[i];
  return out;
}

/** logit of one token: ln_final(x) · W_U[:, token] (the column is W_E[token], tied). */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** KL(p ‖ q) = Σ p (log p − log q), zero-probability terms of p dropped, q floored at the smallest float. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] > 0) kl += p[i] * (Math.log(p[i]) - Math.log(Math.max(q[i], 1e-45)));
  }
  return kl;
}

/** |clean − corrupted| at or below this (relative to the metric's size) cannot be divided by. */
export const NORMALISATION_TOLERANCE = 1e-6;

/**
 * (patched − corrupted) / (clean − corrupted), TransformerLens IOI demo's normalised patching
 * metric: 1 = the clean behaviour restored, 0 = unchanged. When clean and corrupted give the same
 * metric there is nothing to normalise by: no scores, and a message instead of NaN / ±Infinity.
 */
export function normalisation(clean: number, corrupted: number): PatchNormalisation {
  const gap = clean - corrupted;
  const size = Math.max(1, Math.abs(clean), Math.abs(corrupted));
  if (!Number.isFinite(gap)) return { clean, corrupted, ok: false, message: 'The clean or corrupted metric is not a finite number; only raw metric values are shown.' };
  if (Math.abs(gap) <= NORMALISATION_TOLERANCE * size) {
    return {
      clean, corrupted, ok: false,
      message: `The clean and corrupted prompts give the same metric (${clean.toPrecision(6)}), so there is no difference to restore: only raw metric values are shown.`,
    };
  }
  return { clean, corrupted, ok: true };
}

export function normalisedScores(values: Float64Array, n: PatchNormalisation): Float64Array | undefined {
  if (!n.ok) return undefined;
  const gap = n.clean - n.corrupted;
  return values.map((v) => (v - n.corrupted) / gap);
}

/** Which runs fill a sweep's grid: rows × cols cells, each one patched run. */
export interface SweepLayout {
  readonly rows: number;
  readonly cols: number;
  readonly rowLabels: string[];
  readonly colLabels: string[];
  /** The cols runs of one row, each a list of interventions patching from `cleanTraceId`. */
  readonly rowRuns: (row: number, cleanTraceId: number) => Intervention[][];
}

const RESID_HOOK: Readonly<Record<'resid_pre' | 'attn_out' | 'mlp_out', string>> = {
  resid_pre: 'hook_resid_pre',
  attn_out: 'hook_attn_out',
  mlp_out: 'hook_mlp_out',
};

/** The grid of a sweep over a model and a trace of T tokens; heads_by_pos needs `heads`. */
export function sweepLayout(what: PatchTarget, c: ModelConfig, T: number, heads: readonly HeadRef[] | undefined): SweepLayout {
  const { nLayer: L, nHead: H } = c;
  const layers = Array.from({ length: L }, (_, l) => `L${l}`);
  const posLabels = Array.from({ length: T }, (_, p) => `pos ${p}`);
  const headLabels = Array.from({ length: H }, (_, h) => `H${h}`);
  const patch = (source: number) => ({ kind: 'patch' as const, sourceTraceId: source });
  switch (what) {
    case 'resid_pre':
    case 'attn_out':
    case 'mlp_out':
      return {
        rows: L, cols: T, rowLabels: layers, colLabels: posLabels,
        rowRuns: (l, src) => posLabels.map((_, pos) => [{ site: { hook: `blocks.${l}.${RESID_HOOK[what]}`, positions: [pos] }, action: patch(src) }]),
      };
    case 'heads':
    case 'patterns': {
      const hook = what === 'heads' ? 'attn.hook_z' : 'attn.hook_pattern';
      return {
        rows: L, cols: H, rowLabels: layers, colLabels: headLabels,
        rowRuns: (l, src) => headLabels.map((_, head) => [{ site: { hook: `blocks.${l}.${hook}`, head }, action: patch(src) }]),
      };
    }
    case 'heads_by_pos': {
      if (!Array.isArray(heads) || heads.length === 0) throw new EngineError('bad-input', 'heads_by_pos needs at least one head (layer, head).');
      for (const h of heads) {
        if (!h || !Number.isInteger(h.layer) || h.layer < 0 || h.layer >= L || !Number.isInteger(h.head) || h.head < 0 || h.head >= H) {
          throw new EngineError('bad-input', `Head ${JSON.stringify(h)} is out of range: layers 0..${L - 1}, heads 0..${H - 1}.`);
        }
      }
      return {
        rows: heads.length, cols: T, rowLabels: heads.map((h) => `L${h.layer}H${h.head}`), colLabels: posLabels,
        rowRuns: (r, src) => posLabels.map((_, pos) => [{ site: { hook: `blocks.${heads[r].layer}.attn.hook_z`, head: heads[r].head, positions: [pos] }, action: patch(src) }]),
      };
    }
    default:
      throw new EngineError('bad-input', `Unknown patching target ${JSON.stringify(what)}: use resid_pre, attn_out, mlp_out, heads, heads_by_pos or patterns.`);
  }
}

/** A run's place in the batch plan: its first changed layer and position. */
export interface PlannedRun {
  readonly index: number;
  readonly startLayer: number;
  readonly firstPos: number;
}

export interface BatchGroup {
  readonly startLayer: number;
  /** First position recomputed (the smallest firstPos of its runs). */
  readonly p0: number;
  /** Indices into the runs, in the batch's order. */
  readonly runs: readonly number[];
}

/**
 * Groups runs into batches: runs starting at the same layer, split by first position so that the
 * rows recomputed (B · (T − p0) per layer) plus a fixed cost per ORT call stay small — a dynamic
 * program over the runs sorted by first position. `maxRows` caps B · (T − p0) per call.
 */
export function planBatches(runs: readonly PlannedRun[], T: number, nLayer: number, maxRows: number, callCostRows = 24): BatchGroup[] {
  const byLayer = new Map<number, PlannedRun[]>();
  for (const r of runs) {
    if (r.startLayer >= nLayer) continue; // nothing to recompute
    const list = byLayer.get(r.startLayer) ?? [];
    list.push(r);
    byLayer.set(r.startLayer, list);
  }
  const groups: BatchGroup[] = [];
  for (const layer of [...byLayer.keys()].sort((a, b) => a - b)) {
    const list = (byLayer.get(layer) as PlannedRun[]).sort((a, b) => a.firstPos - b.firstPos || a.index - b.index);
    const n = list.length;
    // best[i] = cost of batching list[i..n); a batch list[i..j) recomputes (j − i) · (T − firstPos_i) rows.
    const best = new Float64Array(n + 1);
    const cut = new Int32Array(n + 1);
    best[n] = 0;
    for (let i = n - 1; i >= 0; i--) {
      best[i] = Infinity;
      const S = T - list[i].firstPos;
      const most = Math.max(1, Math.floor(maxRows / S));
      for (let j = i + 1; j <= Math.min(n, i + most); j++) {
        const cost = (j - i) * S + callCostRows + best[j];
        if (cost < best[i]) {
          best[i] = cost;
          cut[i] = j;
        }
      }
    }
    for (let i = 0; i < n; i = cut[i]) {
      const members = list.slice(i, cut[i]);
      groups.push({ startLayer: layer, p0: members[0].firstPos, runs: members.map((m) => m.index) });
    }
  }
  return groups;
}
