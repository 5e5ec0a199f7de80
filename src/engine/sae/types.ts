/**
 * What the SAE requests return (src/protocol/engine.ts: loadSae, saeFeatures, saeFeature, saeScan).
 * Axes: T positions of a trace, k features kept per position, S = d_sae, D = d_in = d_model, V vocabulary.
 */
import type { PositionTopK } from '../../protocol/patching';

export interface SaeInfo {
  /** Folder name, for display. */
  readonly name: string;
  readonly folder: string;
  readonly hookName: string;
  readonly dIn: number;
  readonly dSae: number;
  readonly architecture: 'standard' | 'jumprelu' | 'topk';
  /** "relu", "jumprelu", "topk (k = 32)". */
  readonly activation: string;
  readonly normalizeActivations: string;
  readonly applyBDecToInput: boolean;
  readonly modelName: string | undefined;
  readonly tensorDtype: 'F32' | 'F16' | 'BF16';
  readonly fingerprint: string;
  /** True when the SAE reads the residual minus its per-token mean over d_model (TransformerLens's centred stream). */
  readonly centredInput: boolean;
  /** One line for the UI and JSON: which input the SAE reads and why. */
  readonly input: string;
  readonly neuronpediaId: string | undefined;
}

/** Top features of every position of a stored trace (sparse; never [T, S]). */
export interface SaeFeatures {
  readonly schema: 1;
  readonly traceId: number;
  readonly sae: SaeInfo;
  readonly positions: number;
  readonly k: number;
  /** [T, k] feature ids by activation (descending; ties by lower id); −1 pads positions with fewer than k active features. */
  readonly ids: Int32Array;
  /** [T, k] activations (0 where ids is −1). */
  readonly values: Float32Array;
  /** [T] features with activation > 0. */
  readonly l0: Int32Array;
  /**
   * [T] 1 − ‖x − x̂‖² / ‖x − mean_d(x)‖² per position (x: the SAE input, x̂: its reconstruction);
   * NaN where x is constant over d_model.
   */
  readonly varianceExplained: Float64Array;
  /** [T] cos(x, x̂); NaN where either is zero. */
  readonly cosine: Float64Array;
  /**
   * Over the whole trace, as SAELens's evals: 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖², x̄ the mean over positions;
   * null for a single position.
   */
  readonly varianceExplainedTrace: number | null;
}

export interface TokenValue {
  readonly id: number;
  readonly value: number;
}

/** One feature: its decoder direction through the unembedding, its DLA at a position, the tokens that excite it. */
export interface SaeFeatureDetail {
  readonly feature: number;
  /**
   * Direct logit effect of the decoder row per unit activation: ((W_dec[f] − mean) ⊙ γ_ln_final) · W_U,
   * the final LayerNorm's gain applied and its (per-position, positive) scale left out.
   * Top promoted (largest) and suppressed (smallest) tokens, ties by lower id.
   */
  readonly promoted: readonly TokenValue[];
  readonly suppressed: readonly TokenValue[];
  /**
   * Pre-activation of the feature on each token's embedding alone (W_E[t] as the SAE's input:
   * centred / normalised as the SAE's input is); the largest, ties by lower id.
   */
  readonly topEmbeddingTokens: readonly TokenValue[];
  /** When a trace and position are named: the feature's direct logit attribution there. */
  readonly dla?: {
    readonly traceId: number;
    readonly pos: number;
    readonly tokenId: number;
    readonly activation: number;
    /** activation · denorm · ((W_dec[f] − mean) ⊙ γ) · W_U[:, token] / ln_final scale (frozen) */
    readonly value: number;
  };
}

/** One window of the workspace scan: each feature's maximum over the window's positions (only those > 0). */
export interface SaeScanWindow {
  /** [n] features active somewhere in the window, ascending. */
  readonly features: Int32Array;
  /** [n] their maximum activation. */
  readonly max: Float32Array;
  /** [n] the first position of that maximum (in the window, fromPos included). */
  readonly argmax: Int32Array;
  readonly positions: number;
}

export interface LoadSaeParams {
  /** Absolute SAE folder (cfg.json + sae_weights.safetensors). */
  readonly folder: string;
}

export interface SaeFeaturesParams {
  readonly traceId: number;
  /** Features kept per position. Default 10. */
  readonly k?: number;
}

export interface SaeFeatureParams {
  readonly feature: number;
  /** Tokens listed for each top list. Default 10. */
  readonly n?: number;
  /** With pos: the feature's DLA there, to tokenId (default: the top-1 prediction). */
  readonly traceId?: number;
  readonly pos?: number;
  readonly tokenId?: number;
}

export interface SaeScanParams {
  /** Token ids of one window (BOS first when the scan prepends it). */
  readonly ids: readonly number[];
  /** Positions before this one (e.g. BOS) run through the model but not the SAE. Default 0. */
  readonly fromPos?: number;
}

export interface SaeReconstructionParams {
  readonly traceId: number;
}

/**
 * The SAE's reconstruction of a stored trace's hook activation, in the hook's own space (the
 * per-token mean added back when the SAE reads the centred stream): what splicing the SAE in
 * writes at the hook (an intervention of kind 'set' at `hook`, issue 11's runInterventions).
 */
export interface SaeReconstruction {
  readonly traceId: number;
  readonly hook: string;
  readonly positions: number;
  /** [T, D] */
  readonly values: Float32Array;
}

export interface SaeSpliceParams {
  readonly traceId: number;
  /** Position scored; default the last. */
  readonly pos?: number;
  /** Top-k returned with and without the SAE; default 5. */
  readonly topK?: number;
}

/**
 * The SAE spliced into the model: the stored trace run again with the SAE's hook activation
 * replaced, at every position, by the SAE's reconstruction (SAELens's `run_with_saes`; a 'set'
 * intervention), scored at one position against the unedited run.
 */
export interface SaeSpliceResult {
  readonly traceId: number;
  readonly hook: string;
  readonly pos: number;
  /** KL(unedited ‖ spliced) of the next-token distributions at `pos`, in nats. */
  readonly kl: number;
  /** The unedited run's top-1 token at `pos`, and its log-probability without and with the SAE. */
  readonly tokenId: number;
  readonly logprobBefore: number;
  readonly logprobAfter: number;
  /** Top-k at `pos` without and with the SAE. */
  readonly baseTop: PositionTopK;
  readonly top: PositionTopK;
}
