/**
 * Hover over a traced token: its id, the model's top-5 next tokens, the top-5 components by direct
 * logit attribution and the first layer where the lens already has the final top-1. Everything
 * comes from the stored trace: the lens table and the DLA table of every position are requested
 * once per trace (right after it), so a hover makes no engine call. A hover waits for the DLA, but
 * at most LENS_WAIT_MS for the lens table (the first-layer line is left out when it is late).
 */
import * as vscode from 'vscode';
import { ablationHoverLines, ABLATE_HEAD_COMMAND } from '../viewModels/ablationHover';
import { dlaItems, topComponentTexts } from '../viewModels/attribution';
import { vocabLookup } from '../viewModels/format';
import { firstLensRow, hoverMarkdown } from '../viewModels/hover';
import type { TraceController } from './traceController';
import { featuresAt, hookLabel } from '../viewModels/features';
import { HOVER_FEATURES, type SaeFeatureSource } from './saeFeatures';

const TOP = 5;
/** Heads offered for ablation in the hover: the largest by |DLA| at the hovered position. */
const ABLATE_HEADS = 2;

/** Interventions active on a trace (AblationController), for the hover's note. */
export interface ActiveInterventions {
  activeFor(traceId: number): readonly string[] | undefined;
}

/**
 * How long a hover waits for the lens table (for its "first layer" line) once the attribution is
 * in: right after a (live lens) re-trace the table takes hundreds of ms more, and the hover answers
 * without that line rather than wait (issue 13).
 */
const LENS_WAIT_MS = 100;

/** `promise`'s value if it settles fulfilled within `ms`, else undefined. */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ value }), () => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

export class TraceHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly controller: TraceController,
    private readonly interventions?: ActiveInterventions,
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
    const lensTable = this.controller.lensOf(record);
    // The SAE features too: asked once per trace (prefetched after it), so a hover makes no engine call once they are in.
    const [attribution, feats] = await Promise.allSettled([this.controller.attributionOf(record, pos), this.saeFeatures?.featuresOf(record)]);
    const lens = await within(lensTable, LENS_WAIT_MS);
    const components = attribution.status === 'fulfilled' ? topComponentTexts(attribution.value, TOP) : undefined;
    const firstRow = lens ? firstLensRow(lens.value.top.ids, lens.value.rows, lens.value.positions, lens.value.top.k, pos) : undefined;
    const token = trace.tokens[pos];
    const heads = attribution.status === 'fulfilled' ? dlaItems(attribution.value).filter((i, _, all) => i.kind === 'head' && Math.abs(i.value) >= 0.01 * Math.abs(all[0]?.value ?? 0)).slice(0, ABLATE_HEADS) : [];
    const experiments = this.interventions ? ablationHoverLines(heads, this.interventions.activeFor(trace.traceId)) : [];
    const stored = feats.status === 'fulfilled' ? feats.value : undefined;
    const features = stored && this.saeFeatures ? { sae: `${hookLabel(stored.sae.hookName)} · ${stored.sae.name}`, items: featuresAt(stored, pos, HOVER_FEATURES, this.saeFeatures.labels(stored.sae)) } : undefined;
    const md = new vscode.MarkdownString(
      [hoverMarkdown({ pos, tokenText: token.text, tokenId: token.id, model: trace.model.name, predictions, components, firstLensRow: firstRow, nLayer: trace.model.config.nLayer, ...(features ? { features } : {}) }), ...experiments].join('\n'),
    );
    // Only the ablate command may run from the hover's links (token text is escaped Markdown, never a link).
    md.isTrusted = experiments.length > 0 ? { enabledCommands: [ABLATE_HEAD_COMMAND] } : false;
    md.supportHtml = false;
    if (!record.range) return undefined; // invalidated while we waited
    const start = document.positionAt(record.range.start + token.start);
    const end = document.positionAt(record.range.start + token.end);
    return new vscode.Hover(md, new vscode.Range(start, end));
  }
}
