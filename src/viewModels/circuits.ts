/** Circuits panel views: top composition pairs, the heads table, MLP virtual weights. */
import type { CircuitsReport, DetectorCeilings, HeadScores } from '../analysis/circuitTypes';
import type { CompositionKind } from '../protocol/webview';
import { headName } from './format';

export interface CompositionPair {
  readonly layer1: number;
  readonly head1: number;
  readonly layer2: number;
  readonly head2: number;
  /** "L0H0 → L1H0" */
  readonly label: string;
  readonly score: number;
}

/**
 * The `n` highest composition scores of one kind over pairs with layer1 < layer2, best first.
 * The [L, H, L, H] tensor read as an (L·H) × (L·H) matrix is exactly the heatmap the panel draws.
 */
export function compositionTop(report: Pick<CircuitsReport, 'nLayer' | 'nHead' | 'composition'>, kind: CompositionKind, n: number): CompositionPair[] {
  const { nLayer: L, nHead: H } = report;
  const scores = report.composition[kind];
  const pairs: CompositionPair[] = [];
  for (let l1 = 0; l1 < L; l1++)
    for (let h1 = 0; h1 < H; h1++)
      for (let l2 = l1 + 1; l2 < L; l2++)
        for (let h2 = 0; h2 < H; h2++) {
          const score = scores[((l1 * H + h1) * L + l2) * H + h2];
          if (Number.isFinite(score)) pairs.push({ layer1: l1, head1: h1, layer2: l2, head2: h2, label: `${headName(l1, h1)} \u2192 ${headName(l2, h2)}`, score });
        }
  pairs.sort((a, b) => b.score - a.score);
  return pairs.slice(0, n);
}

export type HeadSortKey = 'head' | 'previousToken' | 'duplicateToken' | 'induction' | 'copying' | 'writeEffectiveRank';

/** Heads sorted by a score (descending) or by position ('head', ascending). */
export function sortHeads(heads: readonly HeadScores[], key: HeadSortKey): HeadScores[] {
  const byPlace = (a: HeadScores, b: HeadScores): number => a.layer - b.layer || a.head - b.head;
  if (key === 'head') return [...heads].sort(byPlace);
  return [...heads].sort((a, b) => b[key] - a[key] || byPlace(a, b));
}

export type HeadRole = 'previous-token' | 'duplicate-token' | 'induction';

/** Default cut-off on score / ceiling for naming a head's role. */
export const ROLE_THRESHOLD = 0.5;

/** A detector score relative to the best any head can reach on the same sequences (1 = perfect). */
export function relativeScore(score: number, ceiling: number): number {
  return ceiling > 0 ? score / ceiling : 0;
}

/**
 * The detector a head scores highest on relative to what that detector can reach, when that
 * relative score is at least `threshold`. Raw scores would never name an induction head: its
 * detector tops out near 0.5 (CircuitsReport.detectorCeilings).
 */
export function headRole(h: HeadScores, ceilings: DetectorCeilings, threshold = ROLE_THRESHOLD): HeadRole | undefined {
  const roles = [
    ['previous-token', relativeScore(h.previousToken, ceilings.previousToken)],
    ['duplicate-token', relativeScore(h.duplicateToken, ceilings.duplicateToken)],
    ['induction', relativeScore(h.induction, ceilings.induction)],
  ] as const;
  let best: (typeof roles)[number] | undefined;
  for (const r of roles) if (r[1] >= threshold && (best === undefined || r[1] > best[1])) best = r;
  return best?.[0];
}

/** Row / column of the (L·H) × (L·H) composition heatmap → the pair, or undefined below the diagonal blocks. */
export function compositionCell(nLayer: number, nHead: number, row: number, col: number): Omit<CompositionPair, 'label' | 'score'> | undefined {
  const layer1 = Math.floor(row / nHead);
  const layer2 = Math.floor(col / nHead);
  if (layer1 >= layer2 || layer2 >= nLayer) return undefined;
  return { layer1, head1: row % nHead, layer2, head2: col % nHead };
}

/**
 * True when a head-pair virtual weight is zero up to float32 rounding: its "top directions" would be
 * noise (±1e-8) read back as arbitrary tokens, so the panel says the weight is empty instead.
 */
export function isNegligibleVirtualWeight(norm: number, singularValues: ArrayLike<number>): boolean {
  const top = singularValues.length > 0 ? Math.abs(singularValues[0] as number) : 0;
  return !(norm > NEGLIGIBLE_NORM) || !(top > NEGLIGIBLE_NORM);
}

/** Below this Frobenius norm a virtual weight counts as zero (real GPT-2 pairs are 0.1–100). */
export const NEGLIGIBLE_NORM = 1e-5;

/** True when two cumulative-variance curves agree within `tol` on their common length (the chart then says one hides the other). */
export function curvesCoincide(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-3): boolean {
  const n = Math.min(a.length, b.length);
  if (n === 0) return false;
  for (let i = 0; i < n; i++) if (Math.abs((a[i] as number) - (b[i] as number)) > tol) return false;
  return true;
}
