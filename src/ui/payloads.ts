/**
 * Turns engine results into what the webviews receive: the few derived arrays each view needs
 * (norms computed once here, not per repaint), token texts for every id shown (the webview has
 * no tokenizer), and typed arrays copied only when they are views on a larger buffer.
 */
import { residualNorms } from '../analysis/residual';
import { tokenText } from '../viewModels/tokenText';
import type { Attribution, LensTable, Trace } from '../engine/types';
import type { HeadPairReport } from '../analysis/circuitTypes';
import { THUMB_MAX_SIZE, type AttributionPayload, type LensPayload, type PatternPayload, type PatternThumbsPayload, type TracePayload, type VocabEntries } from '../protocol/webview';
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

export function tracePayload(trace: Trace, elapsedMs: number): TracePayload {
  const { nLayer: L, nHead: H, dModel: D } = trace.model.config;
  const T = trace.tokens.length;
  return {
    traceId: trace.traceId,
    model: trace.model.name,
    text: trace.text,
    nLayer: L,
    nHead: H,
    tokens: trace.tokens.map((t) => ({ id: t.id, text: t.text, partial: t.partial, special: t.special })),
    residNorms: residualNorms(trace.resid, L + 1, T, D),
    attnNorms: residualNorms(trace.attnOut, L, T, D),
    mlpNorms: residualNorms(trace.mlpOut, L, T, D),
    predK: trace.logitsTop.k,
    predIds: compact(trace.logitsTop.ids),
    predProbs: compact(trace.logitsTop.probs),
    vocab: vocabFor(trace.logitsTop.ids),
    elapsedMs,
  };
}

/** Layer `layer` of the trace's [L, H, T, T] patterns: a copy of [H, T, T]. */
export function patternPayload(trace: Trace, layer: number): PatternPayload {
  const { nHead: H } = trace.model.config;
  const T = trace.tokens.length;
  const size = H * T * T;
  return { traceId: trace.traceId, layer, values: trace.pattern.slice(layer * size, (layer + 1) * size) };
}

/**
 * Thumbnails of every head. Pooling a long trace's [L, H, T, T] is ~L·H·T² work (150 M for GPT-2
 * small at 1024 tokens), so it yields to the event loop after each layer.
 */
export async function thumbsPayload(trace: Trace): Promise<PatternThumbsPayload> {
  const { nLayer: L, nHead: H } = trace.model.config;
  const T = trace.tokens.length;
  if (T <= THUMB_MAX_SIZE) return { traceId: trace.traceId, size: T, values: trace.pattern.slice() };
  const S = THUMB_MAX_SIZE;
  const values = new Float32Array(L * H * S * S);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) maxPoolPattern(trace.pattern, (l * H + h) * T * T, T, values, (l * H + h) * S * S, S);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { traceId: trace.traceId, size: S, values };
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
