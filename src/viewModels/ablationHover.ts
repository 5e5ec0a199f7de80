/**
 * The hover's experiment lines: which interventions are active on the hovered trace (the hover
 * itself reads the unedited trace), and command links that ablate the heads with the largest
 * direct logit attribution there. Only `residualLens.ablateHead` is enabled in the hover's
 * Markdown; its argument is JSON of digits and a fixed word.
 */
import type { AblationMode } from '../protocol/patchingView';
import { headName } from './format';

export const ABLATE_HEAD_COMMAND = 'residualLens.ablateHead';

/** A `command:` URI that ablates one head (VS Code passes the JSON array as the command's arguments). */
export function ablateHeadUri(layer: number, head: number, mode: AblationMode): string {
  return `command:${ABLATE_HEAD_COMMAND}?${encodeURIComponent(JSON.stringify([{ layer, head, mode }]))}`;
}

/** Markdown lines to append to the hover: an "interventions active" note, then "Ablate L1H0 (zero · mean)" links. */
export function ablationHoverLines(heads: readonly { readonly layer: number; readonly head: number }[], active: readonly string[] | undefined): string[] {
  const lines: string[] = [];
  if (active && active.length > 0) {
    lines.push('', `**Interventions active**: ${active.join(', ')}. This hover shows the unedited trace; the trace panel shows the edited run.`);
  }
  if (heads.length > 0) {
    const links = heads.map((h) => `Ablate ${headName(h.layer, h.head)} ([zero](${ablateHeadUri(h.layer, h.head, 'zero')}) · [mean](${ablateHeadUri(h.layer, h.head, 'mean')}))`);
    lines.push('', links.join(' \u00b7 '));
  }
  return lines;
}
