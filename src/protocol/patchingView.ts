/**
 * The webview messages of causal experiments: the patching panel (Compare Prompts) and the
 * interventions row of the trace panel (Ablate LxHy). Part of the webview protocol
 * (src/protocol/webview.ts), kept here so the experiments' shapes live in one module.
 *
 * Messages from a page are untrusted: `parseExperimentMessage` validates them (the host checks
 * ranges against the current session / trace). Shapes use the axis glossary of src/engine/types.ts.
 */
import type { ComponentLabel } from '../engine/types';
import { PATCH_TARGETS, type HeadRef, type PatchTarget } from './patching';
import type { SavedSource, TokenPayload, VocabEntries } from './webview';

/**
 * The maps the patching view shows are the engine's patch targets (src/protocol/patching.ts), with
 * these shapes:
 *   resid_pre / attn_out / mlp_out  [L, T]        blocks.{l}.hook_* at one position
 *   heads                           [L, H]        blocks.{l}.attn.hook_z of one head, every position
 *   patterns                        [L, H]        blocks.{l}.attn.hook_pattern of one head, every query
 *   heads_by_pos                    [heads, T]    hook_z of one chosen head at one position
 */
export type PatchMapKind = PatchTarget;
export const PATCH_MAP_KINDS: readonly PatchMapKind[] = PATCH_TARGETS;

/** Top-k of one run at the metric's position: [k] ids and probabilities. */
export interface RunTopK {
  readonly ids: Int32Array;
  readonly probs: Float32Array;
}

/** One of the two prompts of a comparison. */
export interface PromptRunPayload {
  readonly text: string;
  readonly tokens: readonly TokenPayload[];
  /** The metric of the unedited run; NaN when it could not be computed. */
  readonly metric: number;
  readonly top: RunTopK;
}

/** A map the sweep fills: [rows, cols] (see PatchMapKind). */
export interface PatchMapSpec {
  readonly kind: PatchMapKind;
  readonly rows: number;
  readonly cols: number;
  /** heads_by_pos: the head of each row. */
  readonly heads?: readonly HeadRef[];
}

/** Everything the patching panel shows before the first row arrives. */
export interface PatchSessionPayload {
  readonly sessionId: number;
  readonly model: string;
  readonly nLayer: number;
  readonly nHead: number;
  /** "logit( Mary) − logit( John) at pos 14". */
  readonly metricLabel: string;
  /** Position the metric and the top-k read. */
  readonly pos: number;
  readonly clean: PromptRunPayload;
  readonly corrupted: PromptRunPayload;
  /** The maps the sweep will fill, in order; empty when the prompts do not line up. */
  readonly maps: readonly PatchMapSpec[];
  readonly vocab: VocabEntries;
  /** What the page saves (setState) so that a reloaded window can run the comparison again. */
  readonly state: PatchingPanelState;
}

/**
 * What the patching panel keeps with getState/setState, and what its serializer receives on reload:
 * the two prompts and the two answers, enough to run the comparison again without asking.
 */
export interface PatchingPanelState {
  readonly clean: string;
  readonly corrupted: string;
  /** The answer whose logit counts +, and the one whose logit counts −. */
  readonly correct: SavedAnswer;
  readonly wrong: SavedAnswer;
  /** Where each prompt sat, when it was document text (found again on reload; absent: typed). */
  readonly cleanSource?: SavedSource;
  readonly corruptedSource?: SavedSource;
}

export interface SavedAnswer {
  readonly id: number;
  /** As shown ("␣Mary"). */
  readonly text: string;
}

/** A patched run's own top-k, shown when its cell is clicked. */
export interface PatchCellPayload {
  readonly sessionId: number;
  readonly kind: PatchMapKind;
  readonly row: number;
  readonly col: number;
  readonly metric: number;
  readonly top: RunTopK;
  readonly vocab: VocabEntries;
}

/**
 * Logit-difference attribution of both runs (alignment-free): each component's direct contribution
 * to logit[correct] − logit[wrong] at the metric position; Σ + bias term = the run's metric.
 */
export interface PatchAttributionPayload {
  readonly sessionId: number;
  /** Canonical order: embed, pos_embed, per layer heads, attn_bias, mlp. */
  readonly components: readonly ComponentLabel[];
  /** [C] */ readonly clean: Float32Array;
  /** [C] */ readonly corrupted: Float32Array;
  readonly cleanBias: number;
  readonly corruptedBias: number;
}

/** Ablation modes offered from the views (TransformerLens zero / mean ablation of a head's hook_z). */
export type AblationMode = 'zero' | 'mean';

/** The trace panel's row of active interventions and what they did to the current trace. */
export interface InterventionsPayload {
  readonly traceId: number;
  /** "Zero-ablate L1H0", in the order applied. */
  readonly items: readonly string[];
  /** Position the top-k and metric read (the last). */
  readonly pos: number;
  /** "log p(·the)" — the unedited run's top-1 token. */
  readonly metricLabel: string;
  readonly baseMetric: number;
  /** Undefined while the edited run is computing or after an error. */
  readonly editedMetric?: number;
  readonly base: RunTopK;
  readonly edited?: RunTopK;
  readonly vocab: VocabEntries;
  /** "Running…" / an error, one line. */
  readonly status?: string;
}

export type ExperimentHostMessage =
  | { readonly type: 'patchSession'; readonly session: PatchSessionPayload }
  /** Completed rows of one map: [n, cols] patched metric starting at row `row0`. */
  | { readonly type: 'patchRows'; readonly sessionId: number; readonly kind: PatchMapKind; readonly row0: number; readonly metric: Float32Array }
  | { readonly type: 'patchStatus'; readonly sessionId: number; readonly text: string; readonly running: boolean; readonly done: number; readonly total: number }
  /** The results no longer match the editor or the model (they stay on screen, marked). */
  | { readonly type: 'patchStale'; readonly sessionId: number; readonly reason: string }
  | { readonly type: 'patchCell'; readonly cell: PatchCellPayload }
  | { readonly type: 'patchAttribution'; readonly attribution: PatchAttributionPayload }
  | { readonly type: 'interventions'; readonly interventions: InterventionsPayload | undefined };

export type ExperimentPageMessage =
  | { readonly type: 'patchPick'; readonly sessionId: number; readonly kind: PatchMapKind; readonly row: number; readonly col: number }
  | { readonly type: 'patchCancel'; readonly sessionId: number }
  | { readonly type: 'patchExportCsv'; readonly sessionId: number }
  /** Sweep this head over every position too (added to the by-position map). */
  | { readonly type: 'patchAddHead'; readonly sessionId: number; readonly layer: number; readonly head: number }
  | { readonly type: 'ablate'; readonly layer: number; readonly head: number; readonly mode: AblationMode }
  | { readonly type: 'removeIntervention'; readonly index: number };

export type ExperimentParse = { readonly ok: true; readonly value: ExperimentPageMessage } | { readonly ok: false; readonly error: string } | undefined;

type Fields = Readonly<Record<string, unknown>>;

const isIndex = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const badIndex = (m: Fields, names: readonly string[]): string | undefined => names.find((n) => !isIndex(m[n]));
const isMapKind = (x: unknown): x is PatchMapKind => typeof x === 'string' && (PATCH_MAP_KINDS as readonly string[]).includes(x);

/**
 * Validates an experiment message (fields only; unknown fields are dropped). `undefined` when
 * `type` is not an experiment message, so the caller reports it as unknown.
 */
export function parseExperimentMessage(raw: Fields, type: unknown): ExperimentParse {
  const fail = (error: string): ExperimentParse => ({ ok: false, error });
  let bad: string | undefined;
  switch (type) {
    case 'patchPick':
      if ((bad = badIndex(raw, ['sessionId', 'row', 'col']))) return fail(`patchPick: ${bad} must be a non-negative integer`);
      if (!isMapKind(raw.kind)) return fail('patchPick: unknown map kind');
      return { ok: true, value: { type, sessionId: raw.sessionId as number, kind: raw.kind, row: raw.row as number, col: raw.col as number } };
    case 'patchCancel':
    case 'patchExportCsv':
      if ((bad = badIndex(raw, ['sessionId']))) return fail(`${type}: ${bad} must be a non-negative integer`);
      return { ok: true, value: { type, sessionId: raw.sessionId as number } };
    case 'patchAddHead':
      if ((bad = badIndex(raw, ['sessionId', 'layer', 'head']))) return fail(`patchAddHead: ${bad} must be a non-negative integer`);
      return { ok: true, value: { type, sessionId: raw.sessionId as number, layer: raw.layer as number, head: raw.head as number } };
    case 'ablate':
      if ((bad = badIndex(raw, ['layer', 'head']))) return fail(`ablate: ${bad} must be a non-negative integer`);
      if (raw.mode !== 'zero' && raw.mode !== 'mean') return fail('ablate: mode must be zero or mean');
      return { ok: true, value: { type, layer: raw.layer as number, head: raw.head as number, mode: raw.mode } };
    case 'removeIntervention':
      if ((bad = badIndex(raw, ['index']))) return fail(`removeIntervention: ${bad} must be a non-negative integer`);
      return { ok: true, value: { type, index: raw.index as number } };
    default:
      return undefined;
  }
}

/** The argument of `residualLens.ablateHead` (hover links, the circuits panel, keybindings). */
export interface AblateHeadArg {
  readonly layer: number;
  readonly head: number;
  readonly mode: AblationMode;
}

/** Validates the command argument: {layer, head, mode?} (mode defaults to zero); undefined asks the user. */
export function parseAblateHeadArg(raw: unknown): { readonly ok: true; readonly value: AblateHeadArg | undefined } | { readonly ok: false; readonly error: string } {
  if (raw === undefined) return { ok: true, value: undefined };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: 'ablateHead: the argument must be {layer, head, mode}' };
  const m = raw as Fields;
  const bad = badIndex(m, ['layer', 'head']);
  if (bad) return { ok: false, error: `ablateHead: ${bad} must be a non-negative integer` };
  if (m.mode !== undefined && m.mode !== 'zero' && m.mode !== 'mean') return { ok: false, error: 'ablateHead: mode must be zero or mean' };
  return { ok: true, value: { layer: m.layer as number, head: m.head as number, mode: (m.mode as AblationMode | undefined) ?? 'zero' } };
}
