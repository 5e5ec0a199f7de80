/**
 * Logit-difference attribution of both runs of a comparison: each component's direct contribution
 * to logit[correct] − logit[wrong] at the metric position (DLA of the correct token minus DLA of the
 * wrong one, final LayerNorm scale frozen), in the clean and the corrupted run. It needs no
 * alignment between the prompts, so it is shown for prompts of different lengths too.
 * Σ values + bias term = the run's logit difference, exactly as for DLA.
 */
import type { ComponentLabel } from '../engine/types';
import { componentShortName } from './format';

/** One run's DLA of one token (what the engine's `attribute` returns, the parts used here). */
export interface TokenAttribution {
  readonly components: readonly ComponentLabel[];
  /** [C] */
  readonly values: Float32Array;
  readonly lnBiasTerm: number;
}

/** [C] DLA of `correct` − DLA of `wrong`, and the bias term's difference. */
export function logitDiffAttribution(correct: TokenAttribution, wrong: TokenAttribution): { values: Float32Array; biasTerm: number } {
  if (correct.values.length !== wrong.values.length) throw new RangeError(`${correct.values.length} and ${wrong.values.length} components`);
  const values = new Float32Array(correct.values.length);
  for (let i = 0; i < values.length; i++) values[i] = correct.values[i] - wrong.values[i];
  return { values, biasTerm: correct.lnBiasTerm - wrong.lnBiasTerm };
}

/** Σ values + bias term: the logit difference the attribution accounts for. */
export function attributedTotal(values: ArrayLike<number>, biasTerm: number): number {
  let sum = biasTerm;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum;
}

export interface AttributionChangeRow {
  readonly index: number;
  readonly name: string;
  readonly clean: number;
  readonly corrupted: number;
  /** corrupted − clean */
  readonly change: number;
}

/** Components sorted by how much their contribution changed from clean to corrupted (|change|, largest first; ties keep order). */
export function attributionChanges(components: readonly ComponentLabel[], clean: ArrayLike<number>, corrupted: ArrayLike<number>, n: number): AttributionChangeRow[] {
  const rows = components.map((c, index) => ({ index, name: componentShortName(c), clean: clean[index], corrupted: corrupted[index], change: corrupted[index] - clean[index] }));
  const size = (r: AttributionChangeRow): number => (Number.isFinite(r.change) ? Math.abs(r.change) : -1);
  return rows.sort((a, b) => size(b) - size(a) || a.index - b.index).slice(0, n);
}

/** [L, H] the head entries of a [C] component vector (canonical order: embed, pos_embed, per layer heads, attn_bias, mlp). */
export function headGridOf(components: readonly ComponentLabel[], values: ArrayLike<number>, nLayer: number, nHead: number): Float32Array {
  const grid = new Float32Array(nLayer * nHead);
  components.forEach((c, i) => {
    if (c.kind === 'head' && c.layer < nLayer && c.head < nHead) grid[c.layer * nHead + c.head] = values[i];
  });
  return grid;
}
