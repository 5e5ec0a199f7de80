/**
 * Turns engine results into what the webviews receive: the few derived arrays each view needs
 * (norms computed once here, not per repaint), token texts for every id shown (the webview has
 * no tokenizer), and typed arrays copied only when they are views on a larger buffer.
 */
import { residualNorms } from '../analysis/residual';
import { tokenText } from '../viewModels/tokenText';
import type { Attribution, LensTable, Trace } from '../engine/types';
import type { HeadPairReport } from '../analysis/circuitTypes';
import { PATTERN_MAX_SIZE, THUMB_MAX_SIZE, type AttributionPayload, type LensPayload, type PatternPayload, type PatternThumbsPayload, type TracePayload, type VocabEntries } from '../protocol/webview';
import { maxPoolPattern } from '../viewModels/residual';

/** The array itself when it owns its whole buffer, else a compact copy (postMessage clones whole buffers). */
function compact<A extends Float32Array | Int32Array>(a: A): A {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as A);
}

export function vocabFor(ids: Iterable<number>): VocabEntries {
  const seen = new Set<number>();
  const out: [number, string][] = [];
  for (const id of ids) {
    if (seen.has(id) || id < 0) continue;
    seen.add(id);
    out.push([id, tokenText(id)]);
  }
  return out;
}

/** Lets the extension host's event loop run between slices of work sized by the trace (T up to n_ctx). */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** ‖row‖ of every [T, D] block of a [rows, T, D] tensor → [rows, T], yielding after each block. */
async function blockNorms(x: Float32Array, rows: number, positions: number, d: number): Promise<Float32Array> {
  const out = new Float32Array(rows * positions);
  for (let r = 0; r < rows; r++) {
    out.set(residualNorms(x.subarray(r * positions * d, (r + 1) * positions * d), 1, positions, d), r * positions);
    await yieldToEventLoop();
  }
  return out;
}

export async function tracePayload(trace: Trace, elapsedMs: number): Promise<TracePayload> {
  const { nLayer: L, nHead: H, dModel: D } = trace.model.config;
  const T = trace.tokens.length;
  return {
    traceId: trace.traceId,
    model: trace.model.name,
    text: trace.text,
    nLayer: L,
    nHead: H,
    tokens: trace.tokens.map((t) => ({ id: t.id, text: t.text, partial: t.partial, special: t.special })),
    residNorms: await blockNorms(trace.resid, L + 1, T, D),
    attnNorms: await blockNorms(trace.attnOut, L, T, D),
    mlpNorms: await blockNorms(trace.mlpOut, L, T, D),
    predK: trace.logitsTop.k,
    predIds: compact(trace.logitsTop.ids),
    predProbs: compact(trace.logitsTop.probs),
    vocab: vocabFor(trace.logitsTop.ids),
    elapsedMs,
  };
}

/**
 * Max-pools every head's [T, T] of `layer` (or of all layers) into [S, S] blocks, yielding after
 * each head; a copy when S = T.
 * @returns [heads, S, S] for heads = H (one layer) or L·H (all layers from layer 0)
 */
async function pooledPatterns(trace: Trace, firstHead: number, heads: number, size: number): Promise<Float32Array> {
  const T = trace.tokens.length;
  if (size === T) return trace.pattern.slice(firstHead * T * T, (firstHead + heads) * T * T);
  const out = new Float32Array(heads * size * size);
  for (let i = 0; i < heads; i++) {
    maxPoolPattern(trace.pattern, (firstHead + i) * T * T, T, out, i * size * size, size);
    await yieldToEventLoop();
  }
  return out;
}

/** Layer `layer` of the trace's [L, H, T, T] patterns as [H, S, S], S = min(T, PATTERN_MAX_SIZE). */
export async function patternPayload(trace: Trace, layer: number): Promise<PatternPayload> {
  const H = trace.model.config.nHead;
  const size = Math.min(trace.tokens.length, PATTERN_MAX_SIZE);
  return { traceId: trace.traceId, layer, size, values: await pooledPatterns(trace, layer * H, H, size) };
}

/** Thumbnails of every head: [L, H, S, S], S = min(T, THUMB_MAX_SIZE). */
export async function thumbsPayload(trace: Trace): Promise<PatternThumbsPayload> {
  const { nLayer: L, nHead: H } = trace.model.config;
  const size = Math.min(trace.tokens.length, THUMB_MAX_SIZE);
  return { traceId: trace.traceId, size, values: await pooledPatterns(trace, 0, L * H, size) };
}

export function lensPayload(lens: LensTable): LensPayload {
  return {
    traceId: lens.traceId,
    rows: lens.rows,
    positions: lens.positions,
    k: lens.top.k,
    ids: compact(lens.top.ids),
    probs: compact(lens.top.probs),
    nextTokenRank: compact(lens.nextTokenRank),
    vocab: vocabFor(lens.top.ids),
  };
}

export function attributionPayload(a: Attribution): AttributionPayload {
  return {
    traceId: a.traceId,
    pos: a.pos,
    tokenId: a.tokenId,
    tokenText: tokenText(a.tokenId),
    logit: a.logit,
    lnBiasTerm: a.lnBiasTerm,
    components: a.components,
    values: compact(a.values),
    headGrid: compact(a.headGrid),
  };
}

export function headPairVocab(report: HeadPairReport): VocabEntries {
  return vocabFor(report.directions.flatMap((d) => d.topTokens.map((t) => t.id)));
}
