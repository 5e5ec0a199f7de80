/** Circuits panel views: top composition pairs, the heads table, MLP virtual weights. */
import type { CircuitsReport, HeadScores } from '../analysis/circuitTypes';
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

/** Which detector a head scores highest on, when that score is at least `threshold`. */
export function headRole(h: HeadScores, threshold = 0.5): 'previous-token' | 'duplicate-token' | 'induction' | undefined {
  const roles = [
    ['previous-token', h.previousToken],
    ['duplicate-token', h.duplicateToken],
    ['induction', h.induction],
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
