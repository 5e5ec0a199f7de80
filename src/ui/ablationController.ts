/**
 * "Ablate LxHy (zero / mean)" from what is on screen (the DLA grid, the circuits panel's heads
 * table, the hover): re-runs the current trace with every active intervention and shows, in the
 * trace panel, the edited run's top-k next to the unedited one and the change of the metric
 * (log-probability of the unedited top-1 at the last position). Interventions belong to one trace:
 * a new trace starts with none. Each can be removed; the last removal clears the row.
 */
import * as vscode from 'vscode';
import { EngineError } from '../protocol/engine';
import { INTERVENTIONS_SCHEMA_VERSION, type Metric } from '../protocol/interventions';
import type { PositionTopK } from '../protocol/patching';
import type { AblationMode, ExperimentPageMessage, InterventionsPayload, RunTopK } from '../protocol/patchingView';
import { ablationLabel, headAblation, parseHeadName } from '../viewModels/experiments';
import { visibleToken } from '../viewModels/format';
import { tokenText } from '../viewModels/tokenText';
import { errorMessage, isCancellation, type Output } from './output';
import type { ViewSink } from './panels';
import { vocabFor } from './payloads';
import type { EngineSession } from './engineSession';
import type { TraceController, TraceRecord } from './traceController';
import type { HostMessage } from './webviewChannel';

interface HeadAblation {
  readonly layer: number;
  readonly head: number;
  readonly mode: AblationMode;
}

interface Active {
  readonly record: TraceRecord;
  readonly items: HeadAblation[];
  payload: InterventionsPayload | undefined;
  /** Only the newest run's answer is shown. */
  run: number;
}

export interface AblationViews {
  readonly openPanel: () => ViewSink;
  readonly panel: () => ViewSink | undefined;
}

function topOf(top: PositionTopK | undefined): RunTopK {
  return { ids: top?.ids ?? new Int32Array(0), probs: top?.probs ?? new Float32Array(0) };
}

export class AblationController {
  private active: Active | undefined;

  constructor(
    private readonly session: EngineSession,
    private readonly output: Output,
    private readonly traces: TraceController,
    private readonly views: AblationViews,
  ) {}

  /** Labels of the interventions active on a trace ("Zero-ablate L1H0"), for the hover. */
  activeFor(traceId: number): readonly string[] | undefined {
    const a = this.active;
    return a && a.record.trace.traceId === traceId && a.items.length > 0 ? a.items.map((i) => ablationLabel(i.layer, i.head, i.mode)) : undefined;
  }

  /** The trace panel's interventions row, re-sent when the page (re)loads. */
  replay(): HostMessage[] {
    const a = this.active;
    return a && a.payload && a.record === this.traces.latest ? [{ type: 'interventions', interventions: a.payload }] : [];
  }

  handle(msg: ExperimentPageMessage): void {
    if (msg.type === 'ablate') void this.ablate(msg.layer, msg.head, msg.mode);
    else if (msg.type === 'removeIntervention') void this.remove(msg.index);
  }

  /** Adds an ablation of one head to the current trace (replacing one of the same head) and re-runs it. */
  async ablate(layer: number, head: number, mode: AblationMode): Promise<void> {
    const record = this.traces.latest;
    if (!record) {
      void vscode.window.showInformationMessage('Trace some text first (Residual Lens: Trace Residual Stream), then ablate a head.');
      return;
    }
    const { nLayer, nHead } = record.trace.model.config;
    if (layer >= nLayer || head >= nHead) {
      this.output.showWarning(`${record.trace.model.name} has no head L${layer}H${head} (${nLayer} layers × ${nHead} heads).`);
      return;
    }
    if (this.active?.record !== record) this.active = { record, items: [], payload: undefined, run: 0 };
    const items = this.active.items;
    const same = items.findIndex((i) => i.layer === layer && i.head === head);
    if (same >= 0) items.splice(same, 1, { layer, head, mode });
    else items.push({ layer, head, mode });
    this.views.openPanel();
    await this.run(this.active);
  }

  /** Removes the intervention at `index` and re-runs (or clears the row when none is left). */
  async remove(index: number): Promise<void> {
    const a = this.active;
    if (!a || a.record !== this.traces.latest || index >= a.items.length) return;
    a.items.splice(index, 1);
    if (a.items.length === 0) {
      a.payload = undefined;
      a.run++;
      this.views.panel()?.post({ type: 'interventions', interventions: undefined });
      return;
    }
    await this.run(a);
  }

  private async run(a: Active): Promise<void> {
    const run = ++a.run;
    const { trace, payload: tp } = a.record;
    const pos = trace.tokens.length - 1;
    const k = tp.predK;
    const baseTop1 = tp.predIds[pos * k];
    const metric: Metric = { kind: 'logprob', token: baseTop1 };
    const metricLabel = `log p(${visibleToken(tokenText(baseTop1))}) at pos ${pos}`;
    const items = a.items.map((i) => ablationLabel(i.layer, i.head, i.mode));
    const base: RunTopK = { ids: tp.predIds.slice(pos * k, (pos + 1) * k), probs: tp.predProbs.slice(pos * k, (pos + 1) * k) };
    const show = (p: InterventionsPayload): void => {
      if (run !== a.run || a !== this.active) return;
      a.payload = p;
      if (a.record === this.traces.latest) this.views.panel()?.post({ type: 'interventions', interventions: p });
    };
    const pending: InterventionsPayload = { traceId: trace.traceId, items, pos, metricLabel, baseMetric: a.payload?.baseMetric ?? NaN, base, vocab: vocabFor(base.ids), status: 'Running the trace with these interventions…' };
    show(pending);
    try {
      const result = await this.session.request(
        'runInterventions',
        { schema: INTERVENTIONS_SCHEMA_VERSION, traceId: trace.traceId, runs: [{ interventions: a.items.map((i) => headAblation(i.layer, i.head, i.mode)) }], metric, topK: k },
        {},
        'computing',
      );
      const edited = topOf(result.top?.[0]);
      show({ ...pending, baseMetric: result.baseline, editedMetric: result.metrics[0], edited, vocab: vocabFor([...base.ids, ...edited.ids]), status: undefined });
    } catch (err) {
      if (isCancellation(err)) return;
      const message = err instanceof EngineError && err.code === 'unknown-trace' ? 'The engine no longer holds this trace; trace again, then ablate.' : `Could not run the interventions: ${errorMessage(err)}`;
      this.output.info(message);
      show({ ...pending, status: message });
    }
  }
}

/** Residual Lens: Ablate Head from the palette: which head ("L1H0") and how. */
export async function askHeadToAblate(): Promise<{ layer: number; head: number; mode: AblationMode } | undefined> {
  const text = await vscode.window.showInputBox({
    title: 'Residual Lens: Ablate Head',
    prompt: 'The head to ablate in the current trace, e.g. L1H0',
    validateInput: (v) => (parseHeadName(v) ? undefined : 'Type a head as L1H0 (layer 1, head 0).'),
  });
  const head = text === undefined ? undefined : parseHeadName(text);
  if (!head) return undefined;
  const mode = await vscode.window.showQuickPick(
    [
      { label: 'zero', description: 'set the head\'s output (hook_z) to 0' },
      { label: 'mean', description: 'replace it by its mean over the prompt\'s positions' },
    ],
    { title: `Ablate ${ablationLabel(head.layer, head.head, 'zero').split(' ')[1]}` },
  );
  return mode ? { ...head, mode: mode.label === 'mean' ? 'mean' : 'zero' } : undefined;
}
