/**
 * Hover over a traced token: its id, the model's top-5 next tokens, the top-5 components by direct
 * logit attribution and the first layer where the lens already has the final top-1. Everything
 * comes from the stored trace: the lens table and the DLA table of every position are requested
 * once per trace (right after it), so a hover makes no engine call.
 */
import * as vscode from 'vscode';
import { topComponentTexts } from '../viewModels/attribution';
import { vocabLookup } from '../viewModels/format';
import { firstLensRow, hoverMarkdown } from '../viewModels/hover';
import type { TraceController } from './traceController';
import { featuresAt, hookLabel } from '../viewModels/features';
import { HOVER_FEATURES, type SaeFeatureSource } from './saeFeatures';

const TOP = 5;

export class TraceHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly controller: TraceController,
    private readonly saeFeatures?: SaeFeatureSource,
  ) {}

  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const hit = this.controller.tokenAtOffset(document.uri.toString(), document.offsetAt(position));
    if (!hit) return undefined;
    const { record, pos } = hit;
    const { trace, payload } = record;
    const decode = vocabLookup(payload.vocab);
    const k = payload.predK;
    const predictions = [];
    for (let j = 0; j < Math.min(TOP, k); j++) predictions.push({ text: decode(payload.predIds[pos * k + j]), prob: payload.predProbs[pos * k + j] });
    // Both are per-trace answers requested once after the trace; a hover only waits if they are still on their way.
    // The SAE features too: asked once per trace (prefetched after it), so a hover makes no engine call once they are in.
    const [attribution, lens, feats] = await Promise.allSettled([this.controller.attributionOf(record, pos), this.controller.lensOf(record), this.saeFeatures?.featuresOf(record)]);
    const components = attribution.status === 'fulfilled' ? topComponentTexts(attribution.value, TOP) : undefined;
    const firstRow = lens.status === 'fulfilled' ? firstLensRow(lens.value.top.ids, lens.value.rows, lens.value.positions, lens.value.top.k, pos) : undefined;
    const token = trace.tokens[pos];
    const stored = feats.status === 'fulfilled' ? feats.value : undefined;
    const features = stored && this.saeFeatures ? { sae: `${hookLabel(stored.sae.hookName)} · ${stored.sae.name}`, items: featuresAt(stored, pos, HOVER_FEATURES, this.saeFeatures.labels(stored.sae)) } : undefined;
    const md = new vscode.MarkdownString(
      hoverMarkdown({ pos, tokenText: token.text, tokenId: token.id, model: trace.model.name, predictions, components, firstLensRow: firstRow, nLayer: trace.model.config.nLayer, ...(features ? { features } : {}) }),
    );
    md.isTrusted = false;
    md.supportHtml = false;
    if (!record.range) return undefined; // invalidated while we waited
    const start = document.positionAt(record.range.start + token.start);
    const end = document.positionAt(record.range.start + token.end);
    return new vscode.Hover(md, new vscode.Range(start, end));
  }
}
