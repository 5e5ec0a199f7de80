/**
 * Show Model Circuits / Show Head Virtual Weights: computes the weight-only circuits of the
 * current model once per model (the engine also caches them on disk by the weights' hash),
 * opens the circuits panel, answers its drill-downs (head pair, MLP neuron pairs) and gives the
 * side view its composition heatmap.
 */
import * as vscode from 'vscode';
import type { CircuitsReport, HeadPairParams } from '../analysis/circuitTypes';
import type { CircuitsPayload, HeadPairPayload, MlpPairPayload } from '../protocol/webview';
import { compositionTop } from '../viewModels/circuits';
import type { EngineSession } from './engineSession';
import { chooseModelForTrace, type ModelContext } from './modelPicker';
import { errorMessage, isCancellation, type Output } from './output';
import type { ViewSink } from './panels';
import { headPairVocab } from './payloads';
import type { HostMessage } from './webviewChannel';

export class CircuitsController {
  private circuits: CircuitsPayload | undefined;
  private fingerprint: string | undefined;
  private headPair: HeadPairPayload | undefined;
  private mlpPair: MlpPairPayload | undefined;
  private focus: { layer: number; head: number } | undefined;
  private computing: Promise<CircuitsPayload | undefined> | undefined;

  constructor(
    private readonly session: EngineSession,
    private readonly output: Output,
    private readonly models: ModelContext,
    /** `panel(true)` creates or reveals the circuits panel; `panel(false)` creates it without moving focus. */
    private readonly views: { readonly panel: (reveal: boolean) => ViewSink; readonly side: ViewSink },
  ) {}

  replay(view: 'circuits' | 'side'): HostMessage[] {
    const out: HostMessage[] = [];
    if (this.circuits) out.push({ type: 'circuits', circuits: this.circuits });
    if (view === 'circuits') {
      if (this.headPair) out.push({ type: 'headPair', pair: this.headPair });
      if (this.mlpPair) out.push({ type: 'mlpPair', pair: this.mlpPair });
      if (this.focus) out.push({ type: 'focusHead', ...this.focus });
    }
    return out;
  }

  /** Residual Lens: Show Model Circuits (optionally focused on one head). */
  async show(focus?: { layer: number; head: number }): Promise<CircuitsPayload | undefined> {
    const panel = this.views.panel(true);
    if (focus) {
      this.focus = focus;
      panel.post({ type: 'focusHead', ...focus });
    }
    return this.ensureCircuits();
  }

  /** Residual Lens: Show Head Virtual Weights — pick a pair among the strongest compositions. */
  async showHeadVirtualWeights(): Promise<void> {
    const circuits = await this.show();
    if (!circuits) return;
    const items = (['k', 'q', 'v'] as const)
      .flatMap((kind) => compositionTop(circuits.report, kind, 10).map((p) => ({ ...p, kind })))
      .sort((a, b) => b.score - a.score)
      .map((p) => ({ label: `${p.label}`, description: `${p.kind.toUpperCase()}-composition ${p.score.toFixed(3)} (random ≈ ${circuits.report.compositionBaseline.toFixed(3)})`, pair: p }));
    const pick = await vscode.window.showQuickPick(items, { title: 'Residual Lens: Head Virtual Weights', placeHolder: 'Pick a head pair (earlier head → later head)' });
    if (!pick) return;
    const { layer1, head1, layer2, head2, kind } = pick.pair;
    await this.requestHeadPair({ layer1, head1, layer2, head2, kind });
  }

  private async ensureCircuits(): Promise<CircuitsPayload | undefined> {
    if (this.computing) return this.computing;
    this.computing = this.compute().finally(() => {
      this.computing = undefined;
    });
    return this.computing;
  }

  private async compute(): Promise<CircuitsPayload | undefined> {
    const choice = await chooseModelForTrace(this.models);
    if (!choice) return undefined;
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Residual Lens', cancellable: true }, async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        progress.report({ message: `Loading model ${choice.name}…` });
        const info = await this.session.ensureLoaded(choice, { signal: abort.signal });
        if (this.circuits && this.fingerprint === info.fingerprint) return this.circuits;
        progress.report({ message: `Computing circuits of ${info.name}…` });
        const report: CircuitsReport = await this.session.request('circuits', {}, { signal: abort.signal, onProgress: (stage) => progress.report({ message: `Circuits of ${info.name}: ${stage}…` }) }, 'computing');
        this.circuits = { model: info.name, report };
        this.fingerprint = info.fingerprint;
        this.headPair = undefined;
        this.mlpPair = undefined;
        this.views.panel(false).post({ type: 'circuits', circuits: this.circuits });
        this.views.side.post({ type: 'circuits', circuits: this.circuits });
        return this.circuits;
      });
    } catch (err) {
      if (!isCancellation(err)) this.output.showError(err, `Could not compute the circuits: ${errorMessage(err)}`);
      return undefined;
    }
  }

  async requestHeadPair(params: HeadPairParams): Promise<void> {
    const report = this.circuits?.report;
    if (!report || params.layer2 >= report.nLayer || params.head1 >= report.nHead || params.head2 >= report.nHead) return;
    try {
      const result = await this.session.request('headPair', params, {}, 'computing');
      this.headPair = { report: result, vocab: headPairVocab(result) };
      this.views.panel(false).post({ type: 'headPair', pair: this.headPair });
    } catch (err) {
      if (!isCancellation(err)) this.output.showError(err, `Could not compute the head pair: ${errorMessage(err)}`);
    }
  }

  async requestMlpPair(writer: number, reader: number): Promise<void> {
    const report = this.circuits?.report;
    if (!report || reader >= report.nLayer) return;
    try {
      const result = await this.session.request('mlpPair', { writer, reader, topN: 20 }, {}, 'computing');
      this.mlpPair = { report: result };
      this.views.panel(false).post({ type: 'mlpPair', pair: this.mlpPair });
    } catch (err) {
      if (!isCancellation(err)) this.output.showError(err, `Could not compute the MLP pair: ${errorMessage(err)}`);
    }
  }
}
