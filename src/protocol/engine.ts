/**
 * The typed, versioned message protocol between the engine client (extension host, CLI)
 * and the engine worker thread. One table (`EngineMethods`) links each request to its reply,
 * so the compiler checks both ends.
 */
import type {
  Attribution,
  AttributionTable,
  LensTable,
  ModelInfo,
  Tokenized,
  TokenizeOptions,
  PatternThumbs,
  PatternView,
  Trace,
  TraceOptions,
  TraceSummary,
} from '../engine/types';
import type { LoadSaeParams, SaeFeatureDetail, SaeFeatureParams, SaeFeatures, SaeFeaturesParams, SaeInfo, SaeReconstruction, SaeReconstructionParams, SaeSpliceParams, SaeSpliceResult, SaeScanParams, SaeScanWindow } from '../engine/sae/types';
import type { CircuitsReport, CircuitsOptions, HeadPairReport, HeadPairParams, MlpPairReport, MlpPairParams } from '../analysis/circuitTypes';
import type {
  PatchSweepParams,
  PatchSweepResult,
  ProgressPayload,
  RunInterventionsParams,
  RunInterventionsResult,
  TraceMetricParams,
  TraceMetricResult,
} from './patching';

/** Bumped whenever a message shape changes; both ends refuse a mismatch. */
export const ENGINE_PROTOCOL_VERSION = 2;

export interface LoadParams {
  /** Absolute folder holding config.json + model.safetensors. */
  readonly folder: string;
  /** Display name for ModelInfo.name. */
  readonly name: string;
  /** Writable folder for derived files (F16 → F32 cache, circuits cache). */
  readonly cacheDir?: string;
}

export interface TraceParams {
  readonly text: string;
  readonly options?: TraceOptions;
}

export interface LensParams {
  readonly traceId: number;
  /** Top-k per cell. Default 10. */
  readonly k?: number;
}

export interface LensDistributionParams {
  readonly traceId: number;
  /** 0..L: resid_pre of that layer, L = final residual. */
  readonly layer: number;
  readonly pos: number;
}

export interface AttributeParams {
  readonly traceId: number;
  readonly pos: number;
  /** Token whose logit is attributed; default: the model's top-1 prediction at pos. */
  readonly tokenId?: number;
}

/** One head's write at `pos` split by source position (src/analysis/headSources.ts). */
export interface HeadSourcesParams {
  readonly traceId: number;
  readonly layer: number;
  readonly head: number;
  readonly pos: number;
  /** Token for the per-source DLA; default: the model's top-1 prediction at pos. */
  readonly tokenId?: number;
}

export interface HeadSourcesResult extends HeadSourcesParams {
  readonly tokenId: number;
  /** [T] A[pos, s]; 0 after pos */ readonly attention: Float32Array;
  /** [T] ‖A[pos, s] · (LN1(x_s) W_V + b_V) W_O‖ */ readonly norm: Float32Array;
  /** [T] DLA of that write to tokenId (Σ = the head's DLA at pos) */ readonly dla: Float32Array;
}

export interface AttributeAllParams {
  readonly traceId: number;
}

export interface HeadResultsParams {
  readonly traceId: number;
  readonly layer: number;
}

export interface PatternViewParams {
  readonly traceId: number;
  readonly layer: number;
  /** S = min(T, maxSize) cells a side. */
  readonly maxSize: number;
}

export interface PatternThumbsParams {
  readonly traceId: number;
  /** S = min(T, maxSize) cells a side. */
  readonly maxSize: number;
}

export interface TokenizeParams {
  readonly text: string;
  readonly options?: TokenizeOptions;
}

export interface ForgetTraceParams {
  readonly traceId: number;
}

/** Request name → params and result. */
export interface EngineMethods {
  load: { params: LoadParams; result: ModelInfo };
  tokenize: { params: TokenizeParams; result: Tokenized };
  trace: { params: TraceParams; result: Trace };
  /** The same trace (stored for follow-ups), returning only what the extension host keeps. */
  traceSummary: { params: TraceParams; result: TraceSummary };
  /** One layer's patterns of a stored trace (traced with traceSummary), pooled in the worker. */
  patternView: { params: PatternViewParams; result: PatternView };
  /** Every head's pattern of a stored trace (traced with traceSummary), pooled in the worker. */
  patternThumbs: { params: PatternThumbsParams; result: PatternThumbs };
  lens: { params: LensParams; result: LensTable };
  /** [V] softmax probabilities of one lens cell. */
  lensDistribution: { params: LensDistributionParams; result: Float32Array };
  attribute: { params: AttributeParams; result: Attribution };
  /** DLA at every position to its top-1 prediction, in one request per trace. */
  attributeAll: { params: AttributeAllParams; result: AttributionTable };
  /** [T, H, D] blocks.{layer}.attn.hook_result of a stored trace. */
  headResults: { params: HeadResultsParams; result: Float32Array };
  circuits: { params: CircuitsOptions; result: CircuitsReport };
  headPair: { params: HeadPairParams; result: HeadPairReport };
  mlpPair: { params: MlpPairParams; result: MlpPairReport };
  /** Runs of a stored trace with interventions (batched): the metric of each, optional top-k. */
  runInterventions: { params: RunInterventionsParams; result: RunInterventionsResult };
  /** A patching sweep, clean → corrupted; each completed row also arrives as a progress payload. */
  patchSweep: { params: PatchSweepParams; result: PatchSweepResult };
  /** The metric of a stored trace without edits (clean / corrupted baselines). */
  traceMetric: { params: TraceMetricParams; result: TraceMetricResult };
  /** Loads an SAE folder (SAELens layout) for the loaded model; src/engine/sae/. */
  loadSae: { params: LoadSaeParams; result: SaeInfo };
  /** Top SAE features per position of a stored trace, L0, reconstruction quality. */
  saeFeatures: { params: SaeFeaturesParams; result: SaeFeatures };
  /** One feature: logit effects, embedding tokens, DLA at a position. */
  saeFeature: { params: SaeFeatureParams; result: SaeFeatureDetail };
  /** One scan window's per-feature maxima (nothing stored). */
  saeScan: { params: SaeScanParams; result: SaeScanWindow };
  /** [T, D] the SAE's reconstruction at its hook, in the hook's space: the values a 'set' intervention splices in. */
  saeReconstruction: { params: SaeReconstructionParams; result: SaeReconstruction };
  /** The SAE spliced into the model at its hook: KL from the unedited run and top-k with / without it (src/engine/sae/splice.ts). */
  saeSplice: { params: SaeSpliceParams; result: SaeSpliceResult };
  /**
   * Drops a stored trace no view will ask about (a live-lens trace started ahead of a pause in
   * typing and superseded by a newer edit), so it does not push out traces the user saw. Unknown
   * ids are ignored. The newest trace's arrays stay for prefix reuse.
   */
  forgetTrace: { params: ForgetTraceParams; result: null };
  /** Ends the worker's session; the worker then exits. */
  dispose: { params: Record<string, never>; result: null };
  /** Which source positions fed one head's write at a position, for a trace stored with its patterns (traceSummary). */
  headSources: { params: HeadSourcesParams; result: HeadSourcesResult };
  /** The CLI's `trace --json` (docs/cli-json.md) of a text, as UTF-8 bytes (src/engine/traceExport.ts). */
  traceJson: { params: TraceParams; result: Uint8Array };
}

export type EngineMethod = keyof EngineMethods;

export interface EngineRequest<M extends EngineMethod = EngineMethod> {
  readonly v: typeof ENGINE_PROTOCOL_VERSION;
  readonly kind: 'request';
  readonly id: number;
  readonly method: M;
  readonly params: EngineMethods[M]['params'];
  /** The caller listens to payloads (ProgressPayload: streamed patching rows, a trace's forward part); without it none is sent. */
  readonly payloads?: boolean;
}

/** Asks the worker to drop a queued or running request; it answers that request with code 'cancelled'. */
export interface EngineCancel {
  readonly v: typeof ENGINE_PROTOCOL_VERSION;
  readonly kind: 'cancel';
  readonly id: number;
}

export type EngineErrorCode =
  | 'cancelled'
  | 'bad-input' // text empty / too long, bad position, …
  | 'bad-checkpoint' // the model folder is unreadable or malformed
  | 'no-model' // a request needs a loaded model
  | 'unknown-trace' // the trace was evicted or never existed
  | 'protocol' // version mismatch, unknown method
  | 'crashed' // the worker died (set by the client)
  | 'internal'
  | 'bad-sae' // the SAE folder is unreadable, malformed or does not fit the model
  | 'no-sae'; // a request needs a loaded SAE

export interface EngineErrorPayload {
  readonly code: EngineErrorCode;
  /** One line, for the user: names the file / input and the problem. */
  readonly message: string;
  /** Stack or extra detail, for the output channel only. */
  readonly detail?: string;
}

export type EngineResponse<M extends EngineMethod = EngineMethod> =
  | { readonly v: typeof ENGINE_PROTOCOL_VERSION; readonly kind: 'response'; readonly id: number; readonly ok: true; readonly result: EngineMethods[M]['result'] }
  | { readonly v: typeof ENGINE_PROTOCOL_VERSION; readonly kind: 'response'; readonly id: number; readonly ok: false; readonly error: EngineErrorPayload };

/** Unsolicited progress, e.g. "building graph", "creating session" while loading. */
export interface EngineProgress {
  readonly v: typeof ENGINE_PROTOCOL_VERSION;
  readonly kind: 'progress';
  readonly id: number;
  readonly stage: string;
  /** Partial results of a long request (a patching sweep's completed row). */
  readonly payload?: ProgressPayload;
}

/** A line for the output channel that belongs to no request (e.g. the thread priority could not be lowered). */
export interface EngineNotice {
  readonly v: typeof ENGINE_PROTOCOL_VERSION;
  readonly kind: 'notice';
  readonly text: string;
  /** A graph that WebGPU could not run runs on the CPU (the status bar says WebGPU only in part). */
  readonly fallback?: true;
}

export type HostToWorker = EngineRequest | EngineCancel;
export type WorkerToHost = EngineResponse | EngineProgress | EngineNotice;

/** Error thrown by the client; `code` lets callers tell a cancel from a crash. */
export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}
