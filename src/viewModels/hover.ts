/** The editor hover over a traced token, as Markdown (built from the stored trace, no engine call). */
import { formatProb, lensRowLabel, visibleToken } from './format';

export interface HoverInput {
  readonly pos: number;
  readonly tokenText: string;
  readonly tokenId: number;
  readonly model: string;
  /** The model's top predictions for the next token, best first. */
  readonly predictions: readonly { readonly text: string; readonly prob: number }[];
  /** Top components by DLA to the top-1 prediction, already formatted ("L9 H6 +3.1"); undefined while unknown. */
  readonly components?: readonly string[];
  /** Lens row where the top-1 first equals the final top-1; undefined while unknown. */
  readonly firstLensRow?: number;
  readonly nLayer: number;
  /** SAE features at this position (from the trace's stored features); undefined when no SAE is in use. */
  readonly features?: { readonly sae: string; readonly items: readonly { readonly id: number; readonly activation: number; readonly label?: string }[] };
}

/** Escapes Markdown so token text shows literally (tokens can be `*`, `|`, `<`, backticks…). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);
}

/**
 * First lens row r (0..L) whose top-1 equals the final row's top-1 at `pos`.
 * @param ids [L+1, T, k] lens top-k ids
 */
export function firstLensRow(ids: Int32Array, rows: number, positions: number, k: number, pos: number): number {
  const finalTop = ids[((rows - 1) * positions + pos) * k];
  for (let r = 0; r < rows; r++) if (ids[(r * positions + pos) * k] === finalTop) return r;
  return rows - 1;
}

/**
 * Four short paragraphs, so the hover fits on one screen without scrolling: header with the token,
 * the top predictions on one line, the contributing components on one line, the lens note.
 */
export function hoverMarkdown(h: HoverInput): string {
  const lines: string[] = [];
  lines.push(`**Residual Lens** · \`${h.model.replace(/`/g, "'")}\` · pos ${h.pos} · token ${escapeMarkdown(JSON.stringify(h.tokenText))} · id ${h.tokenId}`);
  lines.push('');
  lines.push(`**Top predictions** ${h.predictions.map((p) => `${escapeMarkdown(visibleToken(p.text))} ${formatProb(p.prob)}`).join(' \u00b7 ')}`);
  lines.push('');
  const top = h.predictions[0] ? ` to ${escapeMarkdown(visibleToken(h.predictions[0].text))}` : '';
  if (h.components === undefined) lines.push('**Top components** _not available for this trace_');
  else if (h.components.length === 0) lines.push(`**Top components**${top}: _none above ±0.05_`);
  else lines.push(`**Top components**${top}: ${h.components.map((c) => `\`${c}\``).join(' \u00b7 ')}`);
  if (h.firstLensRow !== undefined) {
    lines.push('');
    const where = h.firstLensRow >= h.nLayer ? 'only at the final layer' : `from ${lensRowLabel(h.firstLensRow, h.nLayer)} on`;
    lines.push(`The logit lens predicts the final top-1 ${where}.`);
  }
  if (h.features) {
    lines.push('');
    lines.push(`**Top features** · ${escapeMarkdown(h.features.sae)}`);
    lines.push('');
    if (h.features.items.length === 0) lines.push('_no feature is active here_');
    h.features.items.forEach((f) => lines.push(`- \`#${f.id}\` ${f.activation.toFixed(2)}${f.label ? ` \u2014 ${escapeMarkdown(f.label)}` : ''}`));
  }
  return lines.join('\n');
}
