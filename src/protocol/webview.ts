/**
 * The typed, versioned message protocol between the extension host and its webviews
 * (trace panel, side view, circuits panel). Tensors travel as typed arrays: postMessage's
 * structured clone keeps them, so nothing is turned into JSON number lists.
 *
 * Every message a webview sends is untrusted input: the host runs it through
 * `parseWebviewMessage` before use, and the webview checks host messages with `isHostMessage`.
 * Shapes use the axis glossary of src/engine/types.ts.
 */
import type { FeatureHeatmap } from '../viewModels/features';
import type { Attribution, ComponentLabel } from '../engine/types';
import type { CircuitsReport, HeadPairReport, MlpPairReport } from '../analysis/circuitTypes';
import { parseExperimentMessage, type ExperimentHostMessage, type ExperimentPageMessage, type PatchingPanelState, type SavedAnswer } from './patchingView';

/** Bumped whenever a message shape changes; both ends ignore a mismatch. */
export const WEBVIEW_PROTOCOL_VERSION = 1;

export type WebviewKind = 'trace' | 'side' | 'circuits' | 'patching';

/** Token ids → display text, for every id a payload mentions (the webview has no tokenizer). */
export type VocabEntries = readonly (readonly [id: number, text: string])[];

export interface TokenPayload {
  readonly id: number;
  readonly text: string;
  readonly partial: boolean;
  readonly special: boolean;
}

/** What the views need of one trace (from the engine's TraceSummary: the host never holds the big tensors). */
export interface TracePayload {
  readonly traceId: number;
  readonly model: string;
  readonly text: string;
  readonly nLayer: number;
  readonly nHead: number;
  readonly tokens: readonly TokenPayload[];
  /** [L+1, T] ‖resid_pre‖ per layer, last row ‖resid_post‖ of the final block. */
  readonly residNorms: Float32Array;
  /** [L, T] ‖hook_attn_out‖ */ readonly attnNorms: Float32Array;
  /** [L, T] ‖hook_mlp_out‖ */ readonly mlpNorms: Float32Array;
  /** Top-k of the final logits: [T, k] ids and probabilities. */
  readonly predK: number;
  readonly predIds: Int32Array;
  readonly predProbs: Float32Array;
  readonly vocab: VocabEntries;
  /** Host-measured time of the trace request, ms. */
  readonly elapsedMs: number;
  /** Where the traced text sat when it was traced; absent for text from no document (a restored panel's). */
  readonly source?: SavedSource;
}

/**
 * Where a panel's text sat in its document, kept in the panel's saved state so that a reloaded
 * window can find the text again (the nearest occurrence: edits may have moved it) and link the
 * restored results to it: decorations, hovers, cells that select their position.
 */
export interface SavedSource {
  /** The document's URI, as vscode.Uri.toString() gives it. */
  readonly uri: string;
  /** UTF-16 offset of the text's first character in the document. */
  readonly offset: number;
}

/** What a trace painted ahead of its predictions (TracePayload with predK 0) receives once they come. */
export type PredictionsPayload = Pick<TracePayload, 'predK' | 'predIds' | 'predProbs' | 'vocab' | 'elapsedMs'>;

/**
 * One layer's attention patterns. Only the selected layer travels (the whole [L, H, T, T] is
 * 600 MB for GPT-2 small at 1024 tokens); another layer is sent when the selection moves there.
 * Longer traces are max-pooled to S = PATTERN_MAX_SIZE cells a side (block i covers positions
 * ⌊iT/S⌋ … ⌊(i+1)T/S⌋ − 1).
 */
export interface PatternPayload {
  readonly traceId: number;
  readonly layer: number;
  /** S = min(T, PATTERN_MAX_SIZE). */
  readonly size: number;
  /** [H, S, S] blocks.{layer}.attn.hook_pattern [head, query_pos, key_pos] (pooled when S < T). */
  readonly values: Float32Array;
}

/** The attention heatmap is at most this many cells a side. */
export const PATTERN_MAX_SIZE = 256;

/** Every head's pattern as a small thumbnail, max-pooled when T is larger than `size`. */
export interface PatternThumbsPayload {
  readonly traceId: number;
  /** S = min(T, THUMB_MAX_SIZE). */
  readonly size: number;
  /** [L, H, S, S] */
  readonly values: Float32Array;
}

/** Thumbnails are at most this many cells across. */
export const THUMB_MAX_SIZE = 32;

export interface LensPayload {
  readonly traceId: number;
  readonly rows: number; // L + 1
  readonly positions: number; // T
  readonly k: number;
  /** [L+1, T, k] */ readonly ids: Int32Array;
  /** [L+1, T, k] */ readonly probs: Float32Array;
  /** [L+1, T] rank of the actual next token, -1 at the last position. */ readonly nextTokenRank: Int32Array;
  readonly vocab: VocabEntries;
}

export interface AttributionPayload extends Pick<Attribution, 'traceId' | 'pos' | 'tokenId' | 'logit' | 'lnBiasTerm'> {
  readonly tokenText: string;
  readonly components: readonly ComponentLabel[];
  /** [C] */ readonly values: Float32Array;
  /** [L, H] */ readonly headGrid: Float32Array;
}

/** Which source positions fed one head's write at a query position (engine headSources). */
export interface HeadSourcesPayload {
  readonly traceId: number;
  readonly layer: number;
  readonly head: number;
  readonly pos: number;
  readonly tokenId: number;
  readonly tokenText: string;
  /** [T] A[pos, s] */ readonly attention: readonly number[];
  /** [T] ‖A[pos, s] · f(s)‖, f(s) the OV-mapped value of source s */ readonly norm: readonly number[];
  /** [T] DLA of A[pos, s] · f(s) to tokenId */ readonly dla: readonly number[];
}

export interface CircuitsPayload {
  readonly model: string;
  readonly report: CircuitsReport;
}

export interface HeadPairPayload {
  readonly report: HeadPairReport;
  readonly vocab: VocabEntries;
}

export interface MlpPairPayload {
  readonly report: MlpPairReport;
}

/** The position / head the user is looking at, shared by every view. */
export interface SelectionState {
  readonly pos: number;
  readonly layer: number;
  readonly head: number;
}

/** SAE features of a trace as a feature × position heatmap (src/viewModels/features.ts). */
export type FeaturesPayload = FeatureHeatmap;

/** One SAE feature's card: logit effects, embedding tokens, DLA at a position, its activation across the trace. */
export interface FeatureCardPayload {
  readonly traceId: number;
  readonly feature: number;
  readonly label: string;
  /** [T] activation at each position (from the top-k lists; 0 where absent). */
  readonly activations: readonly number[];
  readonly promoted: readonly { readonly text: string; readonly value: number }[];
  readonly suppressed: readonly { readonly text: string; readonly value: number }[];
  readonly embeddingTokens: readonly { readonly text: string; readonly value: number }[];
  readonly dla?: { readonly pos: number; readonly token: string; readonly activation: number; readonly value: number };
}

type Versioned<T> = T & { readonly v: typeof WEBVIEW_PROTOCOL_VERSION };

export type HostToWebview = Versioned<
  | { readonly type: 'trace'; readonly trace: TracePayload; readonly selection: SelectionState }
  /** The predictions of the trace on show, when it was sent without them (predK 0) so the panel could paint sooner. */
  | { readonly type: 'predictions'; readonly traceId: number; readonly predictions: PredictionsPayload }
  | { readonly type: 'pattern'; readonly pattern: PatternPayload }
  | { readonly type: 'thumbs'; readonly thumbs: PatternThumbsPayload }
  | { readonly type: 'lens'; readonly lens: LensPayload }
  | { readonly type: 'attribution'; readonly attribution: AttributionPayload }
  | { readonly type: 'select'; readonly selection: SelectionState }
  /** `stale`: the trace on show is no longer the latest (the newer one failed, was refused or cancelled); `text` says why. */
  | { readonly type: 'status'; readonly text: string; readonly busy: boolean; readonly stale?: boolean }
  | { readonly type: 'clear'; readonly text: string }
  | { readonly type: 'circuits'; readonly circuits: CircuitsPayload }
  | { readonly type: 'headPair'; readonly pair: HeadPairPayload }
  | { readonly type: 'mlpPair'; readonly pair: MlpPairPayload }
  | { readonly type: 'focusHead'; readonly layer: number; readonly head: number }
  | { readonly type: 'headSources'; readonly sources: HeadSourcesPayload }
  | ExperimentHostMessage
  | { readonly type: 'features'; readonly features: FeaturesPayload }
  | { readonly type: 'featureCard'; readonly card: FeatureCardPayload }
>;

export type ExportFormat = 'csv' | 'markdown';

/** Longest text the DLA's "type a token" box sends (a GPT-2 token is at most 128 bytes). */
export const MAX_TOKEN_TEXT_CHARS = 256;
export type CompositionKind = 'q' | 'k' | 'v';

/** The trace panel's own share of a paint, as it measures it: building its DOM and charts; the message's arrival → after the paint (render + frames). */
/** The parts of the trace panel's first render, timed separately (bench/panel.ts reports them). */
export const RENDER_PARTS = ['status', 'tokens', 'thumbs', 'lens', 'chart', 'dla', 'attention', 'features', 'interventions'] as const;
export type RenderPart = (typeof RENDER_PARTS)[number];

export interface PageTimes {
  readonly renderMs?: number;
  readonly webviewMs?: number;
  /** renderMs split by part (ms each). */
  readonly renderParts?: Readonly<Partial<Record<RenderPart, number>>>;
  /**
   * When the page had painted, on its own clock as Unix epoch ms (performance.timeOrigin + now()).
   * With the page on the host's machine (code-server and a local browser, the bench) this times the
   * paint itself, without the "painted" message's way back.
   */
  readonly paintedAtMs?: number;
}

export type WebviewToHost = Versioned<
  | { readonly type: 'ready'; readonly view: WebviewKind }
  /** The trace panel painted a trace; its times let the host tell the page's share from the transit. */
  | ({ readonly type: 'painted'; readonly traceId: number } & PageTimes)
  | { readonly type: 'select'; readonly pos: number; readonly layer?: number; readonly head?: number; readonly reveal: boolean }
  | { readonly type: 'pickToken'; readonly pos: number; readonly tokenId: number }
  | { readonly type: 'exportLens'; readonly format: ExportFormat }
  /** Save the current trace as the CLI's `trace --json` (a save dialog on the host). */
  | { readonly type: 'exportTrace' }
  /** Which sources fed head (layer, head)'s write at pos (the attention pattern's hover). */
  | { readonly type: 'headSources'; readonly layer: number; readonly head: number; readonly pos: number }
  /** Attribute the logit of a token the user typed (one GPT-2 token, or `#id`). */
  | { readonly type: 'pickTokenText'; readonly pos: number; readonly text: string }
  | { readonly type: 'savePng'; readonly name: string; readonly dataUrl: string }
  | { readonly type: 'openHead'; readonly layer: number; readonly head: number }
  | { readonly type: 'headPair'; readonly layer1: number; readonly head1: number; readonly layer2: number; readonly head2: number; readonly kind: CompositionKind }
  | { readonly type: 'mlpPair'; readonly writer: number; readonly reader: number }
  | { readonly type: 'computeCircuits' }
  /** The "Trace again" button: the trace on show traced again where it sits, keeping the selection. */
  | { readonly type: 'retrace' }
  | { readonly type: 'log'; readonly message: string }
  | ExperimentPageMessage
  | { readonly type: 'featureCard'; readonly feature: number; readonly pos: number }
  | { readonly type: 'labelFeature'; readonly feature: number; readonly label: string }
>;

/** What the trace panel keeps with getState/setState, and what the serializer receives on reload. */
export interface TracePanelState {
  readonly text: string;
  readonly model: string;
  readonly selection: SelectionState;
  readonly source?: SavedSource;
}

/** PNG data URLs larger than this are refused (a 4k canvas is ~10 MB). */
export const MAX_PNG_DATA_URL_CHARS = 32 * 1024 * 1024;
/** Log lines from a webview are cut to this length. */
export const MAX_LOG_CHARS = 2000;
/** Saved text larger than this is not restored (the engine would refuse it anyway). */
export const MAX_STATE_TEXT_CHARS = 1024 * 1024;
/** A saved document URI longer than this is refused. */
export const MAX_STATE_URI_CHARS = 8192;

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

type Fields = Readonly<Record<string, unknown>>;

function isObject(x: unknown): x is Fields {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** A measured time in ms: finite, non-negative, under a day. */
function isDuration(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0 && x < 86_400_000;
}

const PNG_PREFIX = 'data:image/png;base64,';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** File-name stem for a saved chart: letters, digits, dash, underscore, dot; no path separators. */
const FILE_STEM = /^[A-Za-z0-9_.-]{1,80}$/;

/** Checks the listed fields are non-negative integers; returns the first bad name. */
function badIndex(m: Fields, names: readonly string[]): string | undefined {
  return names.find((n) => !isIndex(m[n]));
}

/**
 * A webview-sent value for an error message. Never throws (String() does on { toString: 1 }),
 * short, and on one line.
 */
function describe(x: unknown): string {
  let text: string;
  if (typeof x === 'string') text = x;
  else if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint' || x === null || x === undefined) text = String(x);
  else text = Array.isArray(x) ? 'an array' : `a ${typeof x}`;
  return text.replace(/\p{Cc}|[\u2028\u2029]/gu, ' ').slice(0, 40);
}

function fail<T>(error: string): ParseResult<T> {
  return { ok: false, error };
}

/**
 * Validates a message received from a webview. Unknown types, a wrong version, missing or
 * ill-typed fields, oversized payloads → `{ ok: false, error }` naming the problem.
 * Range checks against the current trace (pos < T, layer < L) are the host's job.
 */
export function parseWebviewMessage(raw: unknown): ParseResult<WebviewToHost> {
  if (!isObject(raw)) return fail('message is not an object');
  if (raw.v !== WEBVIEW_PROTOCOL_VERSION) return fail(`message version ${describe(raw.v)} is not ${WEBVIEW_PROTOCOL_VERSION}`);
  const type = raw.type;
  const ok = (value: WebviewToHost): ParseResult<WebviewToHost> => ({ ok: true, value });
  const v = WEBVIEW_PROTOCOL_VERSION;
  let bad: string | undefined;
  switch (type) {
    case 'ready':
      if (raw.view !== 'trace' && raw.view !== 'side' && raw.view !== 'circuits' && raw.view !== 'patching') return fail(`ready: unknown view ${describe(raw.view)}`);
      return ok({ v, type, view: raw.view });
    case 'painted':
      if ((bad = badIndex(raw, ['traceId']))) return fail(`painted: ${bad} must be a non-negative integer`);
      if ((bad = ['renderMs', 'webviewMs'].find((n) => raw[n] !== undefined && !isDuration(raw[n])))) return fail(`painted: ${bad} must be a duration in ms`);
      if (raw.paintedAtMs !== undefined && !(typeof raw.paintedAtMs === 'number' && Number.isFinite(raw.paintedAtMs) && raw.paintedAtMs > 0)) return fail('painted: paintedAtMs must be a time in epoch ms');
      if (raw.renderParts !== undefined && !(isObject(raw.renderParts) && Object.entries(raw.renderParts).every(([k, x]) => (RENDER_PARTS as readonly string[]).includes(k) && isDuration(x)))) {
        return fail(`painted: renderParts must map ${RENDER_PARTS.join(', ')} to durations in ms`);
      }
      return ok({
        v, type, traceId: raw.traceId as number,
        ...(raw.renderMs !== undefined && { renderMs: raw.renderMs as number }),
        ...(raw.webviewMs !== undefined && { webviewMs: raw.webviewMs as number }),
        ...(raw.renderParts !== undefined && { renderParts: raw.renderParts as Partial<Record<RenderPart, number>> }),
        ...(raw.paintedAtMs !== undefined && { paintedAtMs: raw.paintedAtMs as number }),
      });
    case 'select': {
      if ((bad = badIndex(raw, ['pos']))) return fail(`select: ${bad} must be a non-negative integer`);
      if (raw.layer !== undefined && !isIndex(raw.layer)) return fail('select: layer must be a non-negative integer');
      if (raw.head !== undefined && !isIndex(raw.head)) return fail('select: head must be a non-negative integer');
      if (typeof raw.reveal !== 'boolean') return fail('select: reveal must be a boolean');
      return ok({ v, type, pos: raw.pos as number, ...(raw.layer !== undefined && { layer: raw.layer as number }), ...(raw.head !== undefined && { head: raw.head as number }), reveal: raw.reveal });
    }
    case 'featureCard':
      if ((bad = badIndex(raw, ['feature', 'pos']))) return fail(`featureCard: ${bad} must be a non-negative integer`);
      return ok({ v, type, feature: raw.feature as number, pos: raw.pos as number });
    case 'labelFeature':
      if ((bad = badIndex(raw, ['feature']))) return fail(`labelFeature: ${bad} must be a non-negative integer`);
      if (typeof raw.label !== 'string' || raw.label.length > 500) return fail('labelFeature: label must be a string of at most 500 characters');
      return ok({ v, type, feature: raw.feature as number, label: raw.label });
    case 'pickToken':
      if ((bad = badIndex(raw, ['pos', 'tokenId']))) return fail(`pickToken: ${bad} must be a non-negative integer`);
      return ok({ v, type, pos: raw.pos as number, tokenId: raw.tokenId as number });
    case 'exportLens':
      if (raw.format !== 'csv' && raw.format !== 'markdown') return fail(`exportLens: unknown format ${describe(raw.format)}`);
      return ok({ v, type, format: raw.format });
    case 'savePng': {
      if (typeof raw.name !== 'string' || !FILE_STEM.test(raw.name)) return fail('savePng: name must be 1–80 characters of letters, digits, ".", "_" or "-"');
      const url = raw.dataUrl;
      if (typeof url !== 'string' || !url.startsWith(PNG_PREFIX)) return fail('savePng: dataUrl must be a data:image/png;base64 URL');
      if (url.length > MAX_PNG_DATA_URL_CHARS) return fail(`savePng: image larger than ${MAX_PNG_DATA_URL_CHARS} characters`);
      if (!BASE64.test(url.slice(PNG_PREFIX.length))) return fail('savePng: dataUrl is not valid base64');
      return ok({ v, type, name: raw.name, dataUrl: url });
    }
    case 'openHead':
      if ((bad = badIndex(raw, ['layer', 'head']))) return fail(`openHead: ${bad} must be a non-negative integer`);
      return ok({ v, type, layer: raw.layer as number, head: raw.head as number });
    case 'headPair': {
      if ((bad = badIndex(raw, ['layer1', 'head1', 'layer2', 'head2']))) return fail(`headPair: ${bad} must be a non-negative integer`);
      if (raw.kind !== 'q' && raw.kind !== 'k' && raw.kind !== 'v') return fail(`headPair: kind must be q, k or v`);
      if ((raw.layer1 as number) >= (raw.layer2 as number)) return fail('headPair: layer1 must be before layer2');
      return ok({ v, type, layer1: raw.layer1 as number, head1: raw.head1 as number, layer2: raw.layer2 as number, head2: raw.head2 as number, kind: raw.kind });
    }
    case 'mlpPair':
      if ((bad = badIndex(raw, ['writer', 'reader']))) return fail(`mlpPair: ${bad} must be a non-negative integer`);
      if ((raw.writer as number) >= (raw.reader as number)) return fail('mlpPair: writer must be before reader');
      return ok({ v, type, writer: raw.writer as number, reader: raw.reader as number });
    case 'computeCircuits':
    case 'retrace':
    case 'exportTrace':
      return ok({ v, type });
    case 'headSources':
      if ((bad = badIndex(raw, ['layer', 'head', 'pos']))) return fail(`headSources: ${bad} must be a non-negative integer`);
      return ok({ v, type, layer: raw.layer as number, head: raw.head as number, pos: raw.pos as number });
    case 'pickTokenText':
      if ((bad = badIndex(raw, ['pos']))) return fail(`pickTokenText: ${bad} must be a non-negative integer`);
      if (typeof raw.text !== 'string' || raw.text.length === 0 || raw.text.length > MAX_TOKEN_TEXT_CHARS) return fail(`pickTokenText: text must be a string of 1 to ${MAX_TOKEN_TEXT_CHARS} characters`);
      return ok({ v, type, pos: raw.pos as number, text: raw.text });
    case 'log':
      if (typeof raw.message !== 'string') return fail('log: message must be a string');
      return ok({ v, type, message: raw.message.slice(0, MAX_LOG_CHARS) });
    default: {
      const experiment = parseExperimentMessage(raw, type);
      if (experiment) return experiment.ok ? ok({ v, ...experiment.value }) : fail(experiment.error);
      return fail(`unknown message type ${JSON.stringify(describe(type))}`);
    }
  }
}

/** The argument of `residualLens.showCircuits`: the head to focus (webview links, hover links, other extensions). */
export interface HeadRef {
  readonly layer: number;
  readonly head: number;
}

/**
 * Validates the argument of `residualLens.showCircuits`: undefined (palette: no focus) or {layer, head}
 * with non-negative integers; extra fields are dropped. Range checks against the model are the host's job.
 */
export function parseShowCircuitsArg(raw: unknown): ParseResult<HeadRef | undefined> {
  if (raw === undefined) return { ok: true, value: undefined };
  if (!isObject(raw)) return fail('showCircuits: the argument must be {layer, head}');
  const bad = badIndex(raw, ['layer', 'head']);
  if (bad) return fail(`showCircuits: ${bad} must be a non-negative integer`);
  return { ok: true, value: { layer: raw.layer as number, head: raw.head as number } };
}

/** Validates a saved trace-panel state (it comes back from the webview on reload). */
export function parseTracePanelState(raw: unknown): ParseResult<TracePanelState> {
  if (!isObject(raw)) return fail('state is not an object');
  if (typeof raw.text !== 'string' || raw.text.length === 0) return fail('state: text must be a non-empty string');
  if (raw.text.length > MAX_STATE_TEXT_CHARS) return fail('state: text too long');
  if (typeof raw.model !== 'string') return fail('state: model must be a string');
  const sel = raw.selection;
  if (!isObject(sel) || badIndex(sel, ['pos', 'layer', 'head']) !== undefined) return fail('state: selection must hold pos, layer, head');
  const source = parseSavedSource(raw.source, 'source');
  if (!source.ok) return source;
  return { ok: true, value: { text: raw.text, model: raw.model, selection: { pos: sel.pos as number, layer: sel.layer as number, head: sel.head as number }, ...(source.value ? { source: source.value } : {}) } };
}

/**
 * The last trace a workspace remembers (workspaceState), for a restored trace panel whose own state
 * is unusable: `{ text, source? }`, or a bare string (what versions before the saved source wrote).
 */
export interface RememberedTrace {
  readonly text: string;
  readonly source?: SavedSource;
}

/** Validates a RememberedTrace read back from the workspace state. */
export function parseRememberedTrace(raw: unknown): ParseResult<RememberedTrace> {
  if (typeof raw === 'string') return raw.length > 0 && raw.length <= MAX_STATE_TEXT_CHARS ? { ok: true, value: { text: raw } } : fail('remembered trace: bad text');
  if (!isObject(raw) || typeof raw.text !== 'string' || raw.text.length === 0 || raw.text.length > MAX_STATE_TEXT_CHARS) return fail('remembered trace: text must be a non-empty string');
  const source = parseSavedSource(raw.source, 'source');
  if (!source.ok) return source;
  return { ok: true, value: { text: raw.text, ...(source.value ? { source: source.value } : {}) } };
}

/** An optional SavedSource of a saved state: absent is fine; present, a URI string and an offset. */
function parseSavedSource(raw: unknown, key: string): ParseResult<SavedSource | undefined> {
  if (raw === undefined) return { ok: true, value: undefined };
  if (!isObject(raw) || typeof raw.uri !== 'string' || raw.uri.length === 0 || raw.uri.length > MAX_STATE_URI_CHARS || !isIndex(raw.offset)) {
    return fail(`state: ${key} must hold a document URI and an offset`);
  }
  return { ok: true, value: { uri: raw.uri, offset: raw.offset } };
}

/** The webview's cheap check on what the host sends (the host is trusted; this catches version skew). */
export function isHostMessage(raw: unknown): raw is HostToWebview {
  return isObject(raw) && raw.v === WEBVIEW_PROTOCOL_VERSION && typeof raw.type === 'string';
}

/** Longest answer text restored (a token's text is a few characters). */
const MAX_ANSWER_TEXT_CHARS = 200;

/**
 * Validates a saved patching-panel state (it comes back from the webview on reload): two non-empty
 * prompts and two different answers, each a token id (a non-negative integer; the model checks the
 * range) with its text; optionally where each prompt sat in its document.
 */
export function parsePatchingPanelState(raw: unknown): ParseResult<PatchingPanelState> {
  if (!isObject(raw)) return fail('state is not an object');
  for (const key of ['clean', 'corrupted'] as const) {
    const text = raw[key];
    if (typeof text !== 'string' || text.length === 0) return fail(`state: ${key} must be a non-empty string`);
    if (text.length > MAX_STATE_TEXT_CHARS) return fail(`state: ${key} too long`);
  }
  const answer = (key: 'correct' | 'wrong'): ParseResult<SavedAnswer> => {
    const a = raw[key];
    if (!isObject(a) || badIndex(a, ['id']) !== undefined) return fail(`state: ${key} must hold a token id`);
    if (typeof a.text !== 'string' || a.text.length > MAX_ANSWER_TEXT_CHARS) return fail(`state: ${key} must hold its text`);
    return { ok: true, value: { id: a.id as number, text: a.text } };
  };
  const correct = answer('correct');
  if (!correct.ok) return correct;
  const wrong = answer('wrong');
  if (!wrong.ok) return wrong;
  if (correct.value.id === wrong.value.id) return fail('state: the two answers are the same token');
  const cleanSource = parseSavedSource(raw.cleanSource, 'cleanSource');
  if (!cleanSource.ok) return cleanSource;
  const corruptedSource = parseSavedSource(raw.corruptedSource, 'corruptedSource');
  if (!corruptedSource.ok) return corruptedSource;
  return {
    ok: true,
    value: {
      clean: raw.clean as string,
      corrupted: raw.corrupted as string,
      correct: correct.value,
      wrong: wrong.value,
      ...(cleanSource.value ? { cleanSource: cleanSource.value } : {}),
      ...(corruptedSource.value ? { corruptedSource: corruptedSource.value } : {}),
    },
  };
}
