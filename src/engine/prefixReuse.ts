/**
 * Prefix reuse for re-traces (the live lens re-traces the edited text after each pause in typing).
 *
 * The model is causal: when a new trace's token ids start with the same P ids as the newest stored
 * trace, every hook at positions 0..P−1 is unchanged. The instrumented graph then runs only
 * positions P..T−1, with the keys and values of the earlier positions computed from the stored
 * hook_resid_pre rows (graph.ts, input `prefix`), and the new trace's arrays are the stored prefix
 * rows followed by the new rows. The final unembedding (top-k, ln_final scale) likewise runs only
 * for the new rows when the top-k size is the same.
 *
 * The decision looks only at token ids (whatever produced them: BOS, special tokens) and at the
 * model that made the stored trace. At least MIN_COMPUTED_ROWS positions are computed, even for an
 * identical text: with one row, ORT's products sum in another order than a full forward's (seen:
 * differences up to 5e-7 in the new row, top-k logits in the last bit; presumably a matrix-vector
 * kernel); with two or more, the spliced trace is bitwise equal to a full trace (tested on random
 * checkpoints, the demo model and GPT-2-small shapes).
 * Shapes: see FORWARD_OUTPUTS in graph.ts and the axis glossary in types.ts.
 */
import type * as ort from 'onnxruntime-node';
import { FORWARD_OUTPUTS, INPUTS, type ForwardArray } from './graph';
import { floatTensor, int64Tensor } from './session';
import type { ModelConfig, ModelInfo, TopK, Trace } from './types';

const FORWARD_ARRAYS = Object.keys(FORWARD_OUTPUTS) as ForwardArray[];
/** Positions always computed (see above); a trace shorter than this plus one runs in full. */
export const MIN_COMPUTED_ROWS = 2;

/**
 * The fewest shared positions worth reusing for a trace of T: the splice copies every array, which
 * grows with T, and saves only the shared positions' compute. `node --import tsx bench/prefixReuse.ts`
 * (bosOnly128): sharing only BOS at T = 128 took 201 vs 184 ms (minimums 188 vs 179); at T = 32
 * (bosOnly) it is within noise of a full trace.
 */
export function minReusedPositions(T: number): number {
  return Math.max(4, Math.ceil(T / 8));
}

/** The final unembedding of trace rows: top-k per row and ln_final.hook_scale. */
export interface HeadRows {
  /** [T, k] */ readonly top: TopK;
  /** [T] */ readonly scale: Float32Array;
}

/** What the newest stored trace keeps so that the next trace can start from its prefix. */
export interface ReusableTrace {
  readonly traceId: number;
  /** The loaded model that made it (compared by identity: a new load makes a new ModelInfo). */
  readonly model: ModelInfo;
  /** [T] */ readonly ids: Int32Array;
  readonly forward: Readonly<Record<ForwardArray, Float32Array>>;
  readonly head: HeadRows;
}

/** Positions 0..P−1 of `from` are reused; positions P..T−1 are computed. */
export interface ReusePlan {
  readonly from: ReusableTrace;
  readonly P: number;
}

/** Element count of each ForwardArray at T positions. */
function forwardSizes(c: ModelConfig, T: number): Record<ForwardArray, number> {
  const { nLayer: L, nHead: H, dModel: D } = c;
  return {
    embed: T * D, posEmbed: T * D, resid: (L + 1) * T * D, residMid: L * T * D, ln1Scale: L * T, ln2Scale: L * T,
    pattern: L * H * T * T, z: L * T * D, attnOut: L * T * D, mlpOut: L * T * D,
  };
}

/** The trace's arrays, kept by reference (the engine never modifies a trace's arrays). */
export function reusableTrace(trace: Trace): ReusableTrace {
  const forward = Object.fromEntries(FORWARD_ARRAYS.map((key) => [key, trace[key]])) as Record<ForwardArray, Float32Array>;
  return { traceId: trace.traceId, model: trace.model, ids: Int32Array.from(trace.tokens, (t) => t.id), forward, head: { top: trace.logitsTop, scale: trace.lnFinalScale } };
}

/**
 * The plan for tracing `ids` with `model`, or undefined for a full forward: another model, fewer
 * than `minShared` common first ids (default minReusedPositions), or arrays no longer whole (a worker transfers the arrays it returns, which
 * leaves them empty here).
 */
export function planReuse(from: ReusableTrace | undefined, model: ModelInfo, ids: readonly number[], minShared: number = minReusedPositions(ids.length)): ReusePlan | undefined {
  if (!from || from.model !== model) return undefined;
  let common = 0;
  const limit = Math.min(from.ids.length, ids.length - MIN_COMPUTED_ROWS);
  while (common < limit && from.ids[common] === ids[common]) common++;
  if (common < Math.max(1, minShared) || !forwardIntact(from)) return undefined;
  return { from, P: common };
}

function forwardIntact(t: ReusableTrace): boolean {
  const sizes = forwardSizes(t.model.config, t.ids.length);
  return FORWARD_ARRAYS.every((key) => t.forward[key].length === sizes[key]);
}

/** The instrumented graph's feeds: ids [S] of positions P..P+S−1 and the prefix [L, P, D] (P = 0: a full forward). */
export function forwardFeeds(c: Pick<ModelConfig, 'nLayer' | 'dModel'>, ids: ArrayLike<number>, plan?: ReusePlan): Record<string, ort.Tensor> {
  const { nLayer: L, dModel: D } = c;
  const P = plan?.P ?? 0;
  const prefix = new Float32Array(L * P * D);
  if (plan) {
    const resid = plan.from.forward.resid;
    const Tp = plan.from.ids.length;
    for (let l = 0; l < L; l++) prefix.set(resid.subarray(l * Tp * D, (l * Tp + P) * D), l * P * D);
  }
  return { [INPUTS.ids]: int64Tensor(ids, [ids.length]), [INPUTS.prefix]: floatTensor(prefix, [L, P, D]) };
}

/**
 * The new trace's forward arrays at T positions: rows 0..P−1 from the stored trace, rows P..T−1
 * from `suffix` (the graph's outputs for them). Patterns: the stored rows' first P keys (later
 * keys of those rows are zero, as the causal mask makes them), then the new rows over all T keys.
 */
export function spliceForward(plan: ReusePlan, suffix: Readonly<Record<ForwardArray, Float32Array>>, T: number): Record<ForwardArray, Float32Array> {
  const c = plan.from.model.config;
  const { nLayer: L, nHead: H, dModel: D } = c;
  const { P, from } = plan;
  const Tp = from.ids.length;
  const S = T - P;
  /** [G, T, R] from the stored [G, Tp, R] and the suffix [G, S, R]. */
  const rows = (prev: Float32Array, next: Float32Array, G: number, R: number): Float32Array => {
    const out = new Float32Array(G * T * R);
    for (let g = 0; g < G; g++) {
      out.set(prev.subarray(g * Tp * R, (g * Tp + P) * R), g * T * R);
      out.set(next.subarray(g * S * R, (g + 1) * S * R), (g * T + P) * R);
    }
    return out;
  };
  const f = from.forward;
  const pattern = new Float32Array(L * H * T * T);
  for (let g = 0; g < L * H; g++) {
    for (let q = 0; q < P; q++) pattern.set(f.pattern.subarray((g * Tp + q) * Tp, (g * Tp + q) * Tp + P), (g * T + q) * T);
    pattern.set(suffix.pattern.subarray(g * S * T, (g + 1) * S * T), (g * T + P) * T);
  }
  return {
    embed: rows(f.embed, suffix.embed, 1, D),
    posEmbed: rows(f.posEmbed, suffix.posEmbed, 1, D),
    resid: rows(f.resid, suffix.resid, L + 1, D),
    residMid: rows(f.residMid, suffix.residMid, L, D),
    ln1Scale: rows(f.ln1Scale, suffix.ln1Scale, L, 1),
    ln2Scale: rows(f.ln2Scale, suffix.ln2Scale, L, 1),
    pattern,
    z: rows(f.z, suffix.z, L, D),
    attnOut: rows(f.attnOut, suffix.attnOut, L, D),
    mlpOut: rows(f.mlpOut, suffix.mlpOut, L, D),
  };
}

/** Whether the stored head's rows can be copied for top-k size k (same k, arrays whole). */
export function headReusable(plan: ReusePlan | undefined, k: number): plan is ReusePlan {
  if (!plan || plan.from.head.top.k !== k) return false;
  const { top, scale } = plan.from.head;
  const T = plan.from.ids.length;
  return scale.length === T && top.ids.length === T * k && top.logits.length === T * k && top.probs.length === T * k;
}

/** The head at T positions: the stored rows 0..P−1, then `suffix` (rows P..T−1). */
export function spliceHead(plan: ReusePlan, suffix: HeadRows, T: number): HeadRows {
  const { P, from } = plan;
  const k = suffix.top.k;
  const join = <A extends Float32Array | Int32Array>(prev: A, next: A, out: A, width: number): A => {
    out.set(prev.subarray(0, P * width));
    out.set(next, P * width);
    return out;
  };
  const top = from.head.top;
  return {
    top: {
      k,
      ids: join(top.ids, suffix.top.ids, new Int32Array(T * k), k),
      logits: join(top.logits, suffix.top.logits, new Float32Array(T * k), k),
      probs: join(top.probs, suffix.top.probs, new Float32Array(T * k), k),
    },
    scale: join(from.head.scale, suffix.scale, new Float32Array(T), 1),
  };
}

/** Bytes a reusable trace holds beyond what the stored trace keeps (`withPattern`: the patterns are kept anyway). */
export function extraBytes(t: ReusableTrace, withPattern: boolean): number {
  const f = t.forward;
  return f.residMid.byteLength + f.ln1Scale.byteLength + f.ln2Scale.byteLength + f.attnOut.byteLength
    + (withPattern ? 0 : f.pattern.byteLength) + t.head.top.logits.byteLength + t.head.top.probs.byteLength;
}
