/**
 * The interventions the views ask for, built from what the user clicked: a patching map's cell
 * (patch that activation from the clean trace into the corrupted run), a head to ablate, and the
 * heads worth sweeping position by position. Pure (no vscode), so the hook names and slices are
 * unit-tested against TransformerLens's names.
 */
import type { Intervention, Metric } from '../protocol/interventions';
import type { HeadRef } from '../protocol/patching';
import type { AblationMode } from '../protocol/patchingView';
import { headName, visibleToken } from './format';
import { patchCellRef, patchScale, patchScore, type PatchLayout } from './patching';

/** The one patch a map's cell stands for: the same hook and slice, copied from the clean trace. */
export function cellIntervention(map: PatchLayout, row: number, col: number, cleanTraceId: number): Intervention {
  const ref = patchCellRef(map, row, col);
  const action = { kind: 'patch', sourceTraceId: cleanTraceId } as const;
  switch (map.kind) {
    case 'heads':
      return { site: { hook: `blocks.${ref.layer}.attn.hook_z`, head: ref.head }, action };
    case 'patterns':
      return { site: { hook: `blocks.${ref.layer}.attn.hook_pattern`, head: ref.head }, action };
    case 'heads_by_pos':
      return { site: { hook: `blocks.${ref.layer}.attn.hook_z`, head: ref.head, positions: [col] }, action };
    default:
      return { site: { hook: `blocks.${ref.layer}.hook_${map.kind}`, positions: [col] }, action };
  }
}

/** Zero or mean ablation of one head's output (hook_z at every position), as TransformerLens ablates a head. */
export function headAblation(layer: number, head: number, mode: AblationMode): Intervention {
  return { site: { hook: `blocks.${layer}.attn.hook_z`, head }, action: { kind: mode } };
}

/** "Zero-ablate L1H0" / "Mean-ablate L1H0". */
export function ablationLabel(layer: number, head: number, mode: AblationMode): string {
  return `${mode === 'zero' ? 'Zero' : 'Mean'}-ablate ${headName(layer, head)}`;
}

/** Every head when there are at most this many; else the heads with the largest all-position scores. */
const ALL_HEADS_UP_TO = 16;
const TOP_HEADS = 8;

/**
 * Heads for the by-position sweep: every head of a small model, else the TOP_HEADS heads whose
 * all-position patch moved the metric most (|score|), in layer order.
 * @param headsMetric [L, H] metric of the all-position head patching map
 */
export function headsForByPosition(nLayer: number, nHead: number, headsMetric: ArrayLike<number> | undefined, clean: number, corrupted: number): HeadRef[] {
  const all: HeadRef[] = [];
  for (let layer = 0; layer < nLayer; layer++) for (let head = 0; head < nHead; head++) all.push({ layer, head });
  if (all.length <= ALL_HEADS_UP_TO) return all;
  if (!headsMetric) return all.slice(0, TOP_HEADS);
  const scale = patchScale(clean, corrupted);
  const size = (i: number): number => {
    const s = Math.abs(patchScore(headsMetric[i], clean, corrupted, scale));
    return Number.isFinite(s) ? s : -1;
  };
  return all
    .map((h, i) => ({ h, s: size(i), i }))
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, TOP_HEADS)
    .sort((a, b) => a.i - b.i)
    .map((x) => x.h);
}

/** logit[correct] − logit[wrong] at the last position (TransformerLens's IOI logit difference). */
export function logitDiffMetric(correct: number, wrong: number): Metric {
  return { kind: 'logit_diff', correct, wrong };
}

/** "logit(·Mary) − logit(·John) at pos 14". */
export function logitDiffLabel(correctText: string, wrongText: string, pos: number): string {
  return `logit(${visibleToken(correctText)}) \u2212 logit(${visibleToken(wrongText)}) at pos ${pos}`;
}

/** A head as the user types it: "L1H0", "l1 h0", "1.0" or "1,0"; undefined when it is none of these. */
export function parseHeadName(text: string): { layer: number; head: number } | undefined {
  const m = /^\s*(?:l\s*(\d{1,4})\s*h\s*(\d{1,4})|(\d{1,4})\s*[.,\s]\s*(\d{1,4}))\s*$/i.exec(text);
  if (!m) return undefined;
  return { layer: Number(m[1] ?? m[3]), head: Number(m[2] ?? m[4]) };
}
