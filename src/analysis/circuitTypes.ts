/**
 * Shapes of the weight-only circuit analyses (see composition.ts, virtualWeights.ts, …).
 * Weights are processed as TransformerLens does by default: fold_ln + center_writing_weights.
 */

export interface CircuitsOptions {
  /** Seed for token samples and detector sequences. Default 0. */
  readonly seed?: number;
  /** Tokens sampled for OV copying scores. Default 200. */
  readonly tokenSample?: number;
}

export interface HeadScores {
  readonly layer: number;
  readonly head: number;
  /** TransformerLens detect_head "mul" scores on repeated random sequences, in [0, 1]. */
  readonly previousToken: number;
  readonly duplicateToken: number;
  readonly induction: number;
  /** Fraction of the OV circuit's eigenvalue mass (on a token sample) that is positive, in [-1, 1] as Elhage et al. (sum λ / sum |λ|). */
  readonly copying: number;
  /** Effective rank of the head's write (W_O) subspace: exp(entropy of normalised singular values). */
  readonly writeEffectiveRank: number;
  /** Largest entries of the sampled full OV circuit W_E[s] W_OV W_U[:, t]: source token s raises target token t's logit by value (ANALYSIS, additive). */
  readonly ovTopTokens?: readonly { readonly source: number; readonly target: number; readonly value: number }[];
}

export interface DetectorCeilings {
  readonly previousToken: number;
  readonly duplicateToken: number;
  readonly induction: number;
}

export interface SubspaceCurve {
  /** Cumulative explained-variance fraction for 1..n principal directions. */
  readonly cumulative: Float32Array;
  /** Number of directions that explain 50 / 80 / 90 % of the variance. */
  readonly at50: number;
  readonly at80: number;
  readonly at90: number;
}

/**
 * Write/read subspace overlap of head pairs (ANALYSIS follow-up, additive): head (l1, h1)'s write subspace
 * (row space of W_O) against head (l2, h2)'s query / key / value read subspace (column space of W_Q / W_K / W_V),
 * ‖P_w P_r‖_F² / min(rank_w, rank_r) = mean squared cosine of the principal angles, in [0, 1].
 * Unlike composition scores this ignores how strongly each direction is used, only where the subspaces lie.
 */
export interface HeadSubspaceOverlaps {
  /** [L, H, L, H] index [l1, h1, l2, h2]; 0 where l2 <= l1. */
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  /** What two random d_head-dimensional subspaces of the centred stream overlap by on average: d_head / (d_model − 1). */
  readonly baseline: number;
}

export interface CircuitsReport {
  readonly nLayer: number;
  readonly nHead: number;
  /** [L, H, L, H] composition scores; 0 where layer2 <= layer1. Index [l1, h1, l2, h2]. */
  readonly composition: { readonly q: Float32Array; readonly k: Float32Array; readonly v: Float32Array };
  /** Mean score of random matrices of the same shapes (what noise looks like). */
  readonly compositionBaseline: number;
  /** [L, L] ‖W_in(j)ᵀ W_out(i)‖_F, row = reading layer j, column = writing layer i; 0 where j <= i. */
  readonly mlpVirtualNorms: Float32Array;
  /** [L, H, L] ‖W_in(j)ᵀ W_OV(h)‖_F for head (l, h) written before MLP j (l <= j), else 0. Row-vector form computed: ‖W_OV(h) W_in(j)‖_F. */
  readonly headToMlp: Float32Array;
  /**
   * [L, L, H] ‖W_QK(h)ᵀ… reading W_out(i)‖_F for MLP i before head layer l (i < l), else 0. Computed as
   * sqrt(‖W_out(i) W_QK(h)‖² + ‖W_out(i) W_QK(h)ᵀ‖² + ‖W_out(i) W_OV(h)‖²): the head's query, key and value reads together.
   */
  readonly mlpToHead: Float32Array;
  readonly heads: readonly HeadScores[];
  /**
   * The best score a head can reach on the detector's sequences (detectors.ts detectorCeilings):
   * previous-token 2n/(2n+1), duplicate-token and induction n/(2n+1), just under 0.5. Roles are
   * given on score / ceiling; the scores themselves stay TransformerLens's.
   */
  readonly detectorCeilings: DetectorCeilings;
  /** [L, H, n_pos, n_pos] positional QK pattern W_pos W_QK W_posᵀ for the first n_pos positions, softmax-free scores. */
  readonly positionalQk: Float32Array;
  readonly positionalQkSize: number;
  readonly subspaces: {
    readonly embedding: SubspaceCurve;
    readonly positional: SubspaceCurve;
    /** Head write → later head read subspace overlaps (additive; absent in reports cached by older builds). */
    readonly headOverlap?: HeadSubspaceOverlaps;
  };
}

export interface HeadPairParams {
  readonly layer1: number;
  readonly head1: number;
  readonly layer2: number;
  readonly head2: number;
  /** Which virtual weight: W_Q(h2)ᵀ W_OV(h1), W_K(h2)ᵀ W_OV(h1) or W_V(h2)ᵀ W_OV(h1). */
  readonly kind: 'q' | 'k' | 'v';
  /** Directions read back as tokens. Default 5. */
  readonly topDirections?: number;
}

export interface HeadPairReport extends HeadPairParams {
  /** Frobenius norm of the [Dh, D] virtual weight. */
  readonly norm: number;
  /** Composition score of the pair (as in CircuitsReport). */
  readonly score: number;
  readonly singularValues: Float32Array;
  /** For each top singular direction (in the residual stream, the written side): the tokens whose unembedding aligns most. */
  readonly directions: readonly { readonly singularValue: number; readonly topTokens: readonly { readonly id: number; readonly value: number }[] }[];
}

export interface MlpPairParams {
  /** Writing MLP layer i < reading MLP layer j. */
  readonly writer: number;
  readonly reader: number;
  /** Default 20. */
  readonly topN?: number;
}

export interface MlpPairReport extends MlpPairParams {
  readonly norm: number;
  /** Top |W_virtual[m, k]| neuron pairs, signed, m = reader neuron, k = writer neuron. */
  readonly pairs: readonly { readonly readerNeuron: number; readonly writerNeuron: number; readonly value: number }[];
}
