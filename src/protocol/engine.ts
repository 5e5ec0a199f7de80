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
import type { LoadSaeParams, SaeFeatureDetail, SaeFeatureParams, SaeFeatures, SaeFeaturesParams, SaeInfo, SaeReconstruction, SaeReconstructionParams, SaeScanParams, SaeScanWindow } from '../engine/sae/types';
import type { CircuitsReport, CircuitsOptions, HeadPairReport, HeadPairParams, MlpPairReport, MlpPairParams } from '../analysis/circuitTypes';

/** Bumped whenever a message shape changes; both ends refuse a mismatch. */
export const ENGINE_PROTOCOL_VERSION = 1;

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
  /** Ends the worker's session; the worker then exits. */
  dispose: { params: Record<string, never>; result: null };
}

export type EngineMethod = keyof EngineMethods;

export interface EngineRequest<M extends EngineMethod = EngineMethod> {
  readonly v: typeof ENGINE_PROTOCOL_VERSION;
  readonly kind: 'request';
  readonly id: number;
  readonly method: M;
  readonly params: EngineMethods[M]['params'];
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
}

export type HostToWorker = EngineRequest | EngineCancel;
export type WorkerToHost = EngineResponse | EngineProgress;

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
