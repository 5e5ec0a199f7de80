/**
 * Interventions: edits to activations at TransformerLens hook points, the machinery of causal
 * experiments (ablation, activation patching, steering, SAE splicing). Typed once here and used by
 * the engine, the extension host, the CLI and the tests.
 *
 * Semantics follow TransformerLens's `run_with_hooks`: a hook function receives the activation at
 * its hook point and returns the edited activation, which flows on through the rest of the model.
 * Several interventions in one run apply together, in forward order (by layer, then by hook order
 * within a block); two at the same hook apply in list order.
 *
 * Axis glossary: see src/engine/types.ts.
 */

/** Bumped whenever an intervention or metric shape changes; the engine refuses a mismatch. */
export const INTERVENTIONS_SCHEMA_VERSION = 1;

/**
 * Hook kinds that can be intervened on, with the activation's shape at one layer:
 *   resid_pre / resid_mid / resid_post / attn_out / mlp_out   [T, D]
 *   z          blocks.{l}.attn.hook_z        [T, H, Dh]
 *   pattern    blocks.{l}.attn.hook_pattern  [H, T(query), T(key)]
 *   mlp_post   blocks.{l}.mlp.hook_post      [T, M]
 */
export type HookKind = 'resid_pre' | 'resid_mid' | 'resid_post' | 'attn_out' | 'mlp_out' | 'z' | 'pattern' | 'mlp_post';

/** Where an intervention applies. */
export interface HookSite {
  /** TransformerLens name, e.g. "blocks.3.hook_resid_pre", "blocks.1.attn.hook_z". */
  readonly hook: string;
  /** Positions edited (query positions for `pattern`); absent = every position. */
  readonly positions?: readonly number[];
  /** `z` and `pattern`: the head edited; absent = every head. */
  readonly head?: number;
  /** `mlp_post`: the neuron edited; absent = every neuron. */
  readonly neuron?: number;
}

/**
 * What to do at the site. Every action reads and writes only the selected slice
 * (positions × head × neuron) and leaves the rest of the activation as it was.
 * - patch: copy the same hook and slice from another stored trace (same token count).
 * - zero:  set to 0.
 * - mean:  replace each selected position by the mean over all of this run's positions (per head /
 *          neuron / channel), as TransformerLens's mean ablation over the prompt.
 * - scale: multiply by `factor`.
 * - add:   add `vector` to every selected position: [D] for residual hooks, [Dh] for z (to each
 *          selected head), [T] (keys) for pattern, [M] or [1] for mlp_post with a neuron.
 *          Steering: α · (resid_A − resid_B).
 * - set:   replace the selected slice with `values`, laid out [positions, slice] where slice is the
 *          selected heads × the last axis (z: [H or 1, Dh], pattern: [H or 1, T], mlp_post: [M] or
 *          [1] with a neuron, residual hooks: [D]); SAE splicing writes its reconstruction this way.
 */
export type InterventionAction =
  | { readonly kind: 'patch'; readonly sourceTraceId: number }
  | { readonly kind: 'zero' }
  | { readonly kind: 'mean' }
  | { readonly kind: 'scale'; readonly factor: number }
  | { readonly kind: 'add'; readonly vector: Float32Array }
  | { readonly kind: 'set'; readonly values: Float32Array };

export interface Intervention {
  readonly site: HookSite;
  readonly action: InterventionAction;
}

/** One forward pass with a list of interventions applied together. */
export interface InterventionRun {
  readonly interventions: readonly Intervention[];
}

/**
 * What a run is scored by, at one position (default: the last).
 * - logit_diff: logit[correct] − logit[wrong] (TransformerLens IOI demo's logits_to_ave_logit_diff).
 * - logprob / prob: log-softmax / softmax of `token`.
 * - kl: KL(reference ‖ run) = Σ p_ref (log p_ref − log p_run) over the vocabulary, the reference
 *   being the unedited base trace (or `referenceTraceId`).
 */
export type Metric =
  | { readonly kind: 'logit_diff'; readonly pos?: number; readonly correct: number; readonly wrong: number }
  | { readonly kind: 'logprob'; readonly pos?: number; readonly token: number }
  | { readonly kind: 'prob'; readonly pos?: number; readonly token: number }
  | { readonly kind: 'kl'; readonly pos?: number; readonly referenceTraceId?: number };
