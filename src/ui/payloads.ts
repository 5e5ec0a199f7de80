/**
 * Turns engine results into what the webviews receive: the few derived arrays each view needs
 * (norms and pooled patterns are computed by the engine worker, so the extension host never
 * holds the big tensors), token texts for every id shown (the webview has no tokenizer), and
 * typed arrays copied only when they are views on a larger buffer.
 */
import { tokenText } from '../viewModels/tokenText';
import type { Attribution, LensTable, PatternThumbs, PatternView, TopK, TraceForwardSummary, TraceSummary } from '../engine/types';
import type { HeadPairReport } from '../analysis/circuitTypes';
import type { AttributionPayload, HeadSourcesPayload, LensPayload, PatternPayload, PatternThumbsPayload, PredictionsPayload, SavedSource, TracePayload, VocabEntries } from '../protocol/webview';
import type { TracedRange } from '../viewModels/tracedRange';
import type { HeadSourcesResult } from '../protocol/engine';

/** The array itself when it owns its whole buffer, else a compact copy (postMessage clones whole buffers). */
function compact<A extends Float32Array | Int32Array>(a: A): A {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as A);
}

/** Where a panel's text sits now, for its saved state; undefined for text from no document. */
export function savedSource(source: { readonly uri?: string; readonly range?: TracedRange } | undefined): SavedSource | undefined {
  return source?.uri !== undefined && source.range ? { uri: source.uri, offset: source.range.start } : undefined;
}

/** `payload` with where its text sits (a reloaded window finds it there again). */
export function withSource(payload: TracePayload, source: { readonly uri: string; readonly range: TracedRange } | undefined): TracePayload {
  const saved = savedSource(source);
  return saved ? { ...payload, source: saved } : payload;
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

export function tracePayload(summary: TraceSummary, elapsedMs: number): TracePayload {
  return { ...forwardPayload(summary, elapsedMs), ...predictionsPayload(summary.logitsTop, elapsedMs) };
}

/** A trace's forward part (TraceForwardSummary) as the panel's payload, no predictions yet (predK 0). */
export function forwardPayload(forward: TraceForwardSummary, elapsedMs: number): TracePayload {
  const { nLayer: L, nHead: H } = forward.model.config;
  return {
    traceId: forward.traceId,
    model: forward.model.name,
    text: forward.text,
    nLayer: L,
    nHead: H,
    tokens: forward.tokens.map((t) => ({ id: t.id, text: t.text, partial: t.partial, special: t.special })),
    residNorms: compact(forward.residNorms),
    attnNorms: compact(forward.attnOutNorms),
    mlpNorms: compact(forward.mlpOutNorms),
    predK: 0,
    predIds: new Int32Array(0),
    predProbs: new Float32Array(0),
    vocab: [],
    elapsedMs,
  };
}

/** The final logits' top-k of a trace, and the whole trace's time, for a payload painted without them. */
export function predictionsPayload(top: TopK, elapsedMs: number): PredictionsPayload {
  return { predK: top.k, predIds: compact(top.ids), predProbs: compact(top.probs), vocab: vocabFor(top.ids), elapsedMs };
}

/** The engine's pooled layer patterns ([H, S, S], S = min(T, PATTERN_MAX_SIZE) asked by the caller) as the panel's payload. */
export function patternPayload(view: PatternView): PatternPayload {
  return { traceId: view.traceId, layer: view.layer, size: view.size, values: compact(view.values) };
}

/** The engine's pooled thumbnails of every head ([L, H, S, S], S = min(T, THUMB_MAX_SIZE) asked by the caller). */
export function thumbsPayload(thumbs: PatternThumbs): PatternThumbsPayload {
  return { traceId: thumbs.traceId, size: thumbs.size, values: compact(thumbs.values) };
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

export function headSourcesPayload(r: HeadSourcesResult): HeadSourcesPayload {
  return {
    traceId: r.traceId, layer: r.layer, head: r.head, pos: r.pos, tokenId: r.tokenId, tokenText: tokenText(r.tokenId),
    // Only the sources up to pos exist (causal); plain numbers, a few per source.
    attention: Array.from(r.attention.subarray(0, r.pos + 1)),
    norm: Array.from(r.norm.subarray(0, r.pos + 1)),
    dla: Array.from(r.dla.subarray(0, r.pos + 1)),
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
