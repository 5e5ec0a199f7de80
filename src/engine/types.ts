/**
 * The engine's data model: what a checkpoint holds and what a trace returns.
 *
 * Axis glossary (used in every shape comment in this project):
 *   layer  L   transformer blocks                 head   H   attention heads per layer
 *   pos    T   token positions (BOS included)     d_model D  residual stream width
 *   d_head Dh  per-head width (D / H)             d_mlp  M   MLP hidden width (4D for GPT-2)
 *   d_vocab V  vocabulary size (50257)            n_ctx      maximum positions
 * Every tensor is a row-major Float32Array; its shape is written as [A, B, ...] in the doc comment.
 */

/** Sizes read from a checkpoint's config.json (never hard-coded). */
export interface ModelConfig {
  readonly nLayer: number;
  readonly nHead: number;
  readonly dModel: number;
  readonly dHead: number;
  readonly dMlp: number;
  readonly nCtx: number;
  readonly dVocab: number;
  readonly layerNormEps: number;
}

/** What the user sees of a loaded model. */
export interface ModelInfo {
  /** Display name: manifest name ("gpt2"), "demo", or the folder's base name. */
  readonly name: string;
  /** Absolute folder holding config.json + model.safetensors. */
  readonly folder: string;
  readonly config: ModelConfig;
  /** Dtype of the weights on disk. */
  readonly dtype: 'F32' | 'F16' | 'BF16';
  /** Stable identity of the weights file (size + mtime, or sha256 when known); keys caches. */
  readonly fingerprint: string;
  /** How the weights are stored (absent: one model.safetensors). */
  readonly format?: 'safetensors' | 'sharded-safetensors' | 'pytorch-bin' | 'sharded-pytorch-bin';
  /** 'lm_head' when a stored, untied lm_head.weight is the unembedding; absent or 'tied': W_U = W_Eᵀ. */
  readonly unembedding?: 'tied' | 'lm_head';
  /** One-line remarks from loading (ignored extra tensors, the untied head). */
  readonly notes?: readonly string[];
  /** Where the graphs run (setting residualLens.executionProvider); absent means the CPU. */
  readonly executionProvider?: 'cpu' | 'webgpu';
  /** One line when WebGPU was wanted but (some of) the graphs run on the CPU: why. */
  readonly executionProviderNote?: string;
  /** WebGPU runs, but on a software device (executionProvider.ts SOFTWARE_DEVICE_WARNING). */
  readonly executionProviderWarning?: string;
}

/** One block's weights exactly as GPT-2 stores them (Conv1D weights are [in, out]). */
export interface LayerWeights {
  /** [D] */ readonly ln1Weight: Float32Array;
  /** [D] */ readonly ln1Bias: Float32Array;
  /** [D, 3D] columns: q | k | v, each split into H heads of Dh. */ readonly attnWeight: Float32Array;
  /** [3D] */ readonly attnBias: Float32Array;
  /** [D, D] rows: H heads of Dh (the z side), columns: the stream. */ readonly attnProjWeight: Float32Array;
  /** [D] */ readonly attnProjBias: Float32Array;
  /** [D] */ readonly ln2Weight: Float32Array;
  /** [D] */ readonly ln2Bias: Float32Array;
  /** [D, M] */ readonly fcWeight: Float32Array;
  /** [M] */ readonly fcBias: Float32Array;
  /** [M, D] */ readonly mlpProjWeight: Float32Array;
  /** [D] */ readonly mlpProjBias: Float32Array;
}

/** A whole checkpoint in memory, as F32. W_U is wte transposed (tied unembedding) unless lmHead is given. */
export interface ModelWeights {
  readonly config: ModelConfig;
  /** [V, D] token embedding W_E (row t is token t; also the unembedding column t). */
  readonly wte: Float32Array;
  /** [n_ctx, D] positional embedding W_pos. */
  readonly wpe: Float32Array;
  readonly layers: readonly LayerWeights[];
  /** [D] */ readonly lnFinalWeight: Float32Array;
  /** [D] */ readonly lnFinalBias: Float32Array;
  /** [V, D] an untied lm_head.weight (fine-tunes): row t is W_U[:, t]. Absent when tied to wte. */
  readonly lmHead?: Float32Array;
}

/** A token of the traced text, with its place in the JS string. */
export interface TokenInfo {
  readonly id: number;
  /** Decoded text of this token alone (U+FFFD where it splits a character). */
  readonly text: string;
  /** [start, end) UTF-16 offsets into the traced text; BOS has start = end = 0. */
  readonly start: number;
  readonly end: number;
  /** True when the token's bytes split a multi-byte character. */
  readonly partial: boolean;
  /** True for the prepended BOS and for <|endoftext|> read as the special id. */
  readonly special: boolean;
}

export interface TokenizeOptions {
  /** Prepend <|endoftext|> (50256) as BOS, as TransformerLens does. Default true. */
  readonly prependBos?: boolean;
  /** Read "<|endoftext|>" in the text as the special id 50256 (else as plain text). Default false. */
  readonly allowSpecial?: boolean;
  /** Stop after this many tokens (BOS included) and report `exceeded`; keeps huge inputs cheap. */
  readonly maxTokens?: number;
}

export interface Tokenized {
  readonly tokens: TokenInfo[];
  /** True when the text has more tokens than `maxTokens`; `tokens` then holds only the first maxTokens. */
  readonly exceeded: boolean;
}

/** Top-k entries are stored as parallel typed arrays so they can be transferred. */
export interface TopK {
  readonly k: number;
  /** [..., k] token ids, best first. */ readonly ids: Int32Array;
  /** [..., k] raw logits. */ readonly logits: Float32Array;
  /** [..., k] softmax probabilities over the full vocabulary. */ readonly probs: Float32Array;
}

export interface TraceOptions extends TokenizeOptions {
  /** Number of top tokens per position. Default 10. */
  readonly topK?: number;
  /** Also return mlp.hook_post ([L, T, M]); off by default (heavy). */
  readonly withMlpPost?: boolean;
}

/**
 * One forward pass with every hook point (TransformerLens names in brackets).
 * Per-head writes (attn.hook_result) are not stored: they are z · W_O per head, computed on demand.
 */
export interface Trace {
  readonly schema: 1;
  /** Unique per trace; follow-up requests (lens, attribution) name it. */
  readonly traceId: number;
  readonly model: ModelInfo;
  readonly text: string;
  readonly tokens: TokenInfo[];
  /** [T, D] hook_embed */ readonly embed: Float32Array;
  /** [T, D] hook_pos_embed */ readonly posEmbed: Float32Array;
  /** [L+1, T, D] blocks.{l}.hook_resid_pre for l < L, then blocks.{L-1}.hook_resid_post. */
  readonly resid: Float32Array;
  /** [L, T, D] blocks.{l}.hook_resid_mid */ readonly residMid: Float32Array;
  /** [L, T] blocks.{l}.ln1.hook_scale (the divisor sqrt(var + eps)) */ readonly ln1Scale: Float32Array;
  /** [L, T] blocks.{l}.ln2.hook_scale */ readonly ln2Scale: Float32Array;
  /** [L, H, T, T] blocks.{l}.attn.hook_pattern [layer, head, query_pos, key_pos] */ readonly pattern: Float32Array;
  /** [L, T, H, Dh] blocks.{l}.attn.hook_z */ readonly z: Float32Array;
  /** [L, T, D] blocks.{l}.hook_attn_out */ readonly attnOut: Float32Array;
  /** [L, T, D] blocks.{l}.hook_mlp_out */ readonly mlpOut: Float32Array;
  /** [L, T, M] blocks.{l}.mlp.hook_post, only with withMlpPost. */ readonly mlpPost?: Float32Array;
  /** [T] ln_final.hook_scale */ readonly lnFinalScale: Float32Array;
  /** [T, k] the model's own next-token predictions (the final logits). */
  readonly logitsTop: TopK;
  /** Milliseconds spent in ORT for the forward pass. */
  readonly forwardMs: number;
}

/**
 * What the extension host keeps of a trace: the engine holds the big tensors and answers
 * follow-ups (lens, attribution, patterns) by traceId, so the host never receives them.
 */
export interface TraceSummary {
  readonly schema: 1;
  readonly traceId: number;
  readonly model: ModelInfo;
  readonly text: string;
  readonly tokens: TokenInfo[];
  /** [T, k] the model's own next-token predictions (the final logits). */
  readonly logitsTop: TopK;
  /** Milliseconds spent in ORT for the forward pass. */
  readonly forwardMs: number;
  /** [L+1, T] ‖resid‖ (residualNorms of Trace.resid). */ readonly residNorms: Float32Array;
  /** [L, T] ‖hook_attn_out‖ */ readonly attnOutNorms: Float32Array;
  /** [L, T] ‖hook_mlp_out‖ */ readonly mlpOutNorms: Float32Array;
}

/**
 * A trace's forward part, before the final unembedding: TraceSummary without the predictions.
 * traceSummary sends it ahead of the head (a progress payload), so the panel can paint while the
 * [T, d_model] × [d_model, d_vocab] product runs.
 */
export type TraceForwardSummary = Omit<TraceSummary, 'logitsTop' | 'forwardMs'>;

/** One layer's attention patterns of a stored trace, max-pooled to S = min(T, maxSize) a side. */
export interface PatternView {
  readonly traceId: number;
  readonly layer: number;
  readonly size: number;
  /** [H, S, S] blocks.{layer}.attn.hook_pattern [head, query_pos, key_pos] (pooled when S < T). */
  readonly values: Float32Array;
}

/** Every head's pattern of a stored trace, max-pooled to S = min(T, maxSize) a side. */
export interface PatternThumbs {
  readonly traceId: number;
  readonly size: number;
  /** [L, H, S, S] */
  readonly values: Float32Array;
}

/**
 * The logit lens: the residual before each layer and after the last, through ln_final and W_U.
 * Row r < L is blocks.r.hook_resid_pre; row L is the final residual (equals the model's logits).
 */
export interface LensTable {
  readonly traceId: number;
  readonly rows: number; // L + 1
  readonly positions: number; // T
  /** [L+1, T, k] */ readonly top: TopK;
  /** [L+1, T] rank (0 = top-1) of the actual next token; -1 at the last position (no next token). */
  readonly nextTokenRank: Int32Array;
}

/** Kinds of components whose writes sum to the final residual. */
export type ComponentKind = 'embed' | 'pos_embed' | 'head' | 'attn_bias' | 'mlp';

export interface ComponentLabel {
  readonly kind: ComponentKind;
  /** Layer for head / attn_bias / mlp; -1 otherwise. */
  readonly layer: number;
  /** Head index for head; -1 otherwise. */
  readonly head: number;
  /** Short label as shown: "embed", "pos_embed", "L1H0", "L1 attn bias", "MLP 1". */
  readonly name: string;
}

/** Direct logit attribution at one position to one token. */
export interface Attribution {
  readonly traceId: number;
  readonly pos: number;
  readonly tokenId: number;
  /** Component labels in canonical order: embed, pos_embed, then per layer: heads 0..H-1, attn_bias, mlp. */
  readonly components: readonly ComponentLabel[];
  /** [C] each component's contribution to the token's logit, final LayerNorm scale frozen. */
  readonly values: Float32Array;
  /** [L, H] the head entries of `values` as a grid. */
  readonly headGrid: Float32Array;
  /** The model's logit for the token at this position. */
  readonly logit: number;
  /** b_lnf · W_U[:, token]: logit = sum(values) + lnBiasTerm exactly (each write is centred, then divided by the frozen scale and multiplied by w_lnf). */
  readonly lnBiasTerm: number;
}

/**
 * Direct logit attribution at every position of a trace to that position's top-1 prediction,
 * computed once per trace so hovers and the panel's default DLA need no further engine call.
 * Row p equals Attribution(pos = p, default token): same components, values, logit and lnBiasTerm.
 */
export interface AttributionTable {
  readonly traceId: number;
  readonly positions: number; // T
  /** Component labels in canonical order (as Attribution.components); C entries. */
  readonly components: readonly ComponentLabel[];
  /** [T] the attributed token per position: the model's top-1 prediction. */
  readonly tokenIds: Int32Array;
  /** [T, C] each component's contribution to that token's logit, final LayerNorm scale frozen. */
  readonly values: Float32Array;
  /** [T] the model's logit for tokenIds[p]. */
  readonly logit: Float64Array;
  /** [T] b_lnf · W_U[:, tokenIds[p]]: logit = Σ values[p, :] + lnBiasTerm[p]. */
  readonly lnBiasTerm: Float64Array;
}
