/**
 * Live lens (issue 13): **Residual Lens: Toggle Live Lens** and its status bar item. While on, an
 * edit inside the latest traced range (or, when nothing in that document is traced, on the edited
 * line) re-traces the edited text once typing pauses (`residualLens.liveLens.debounceMs`); the
 * rules — debounce, newest wins, one trace at a time, pause while the trace panel is hidden or
 * the window unfocused — are in ./liveLens.ts. The panel, the decorations and the hover follow
 * the new trace through TraceController; the selected token is kept where it still exists.
 * Also the optional inline hint (`residualLens.liveLens.inlineHint`): the latest trace's top-1 next
 * token after its range.
 */
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import type { TracedRange } from '../viewModels/tracedRange';
import { vocabLookup } from '../viewModels/format';
import type { Diagnostics } from './diagnostics';
import { hintText, liveLensPaused, liveRange, LiveLensScheduler, type LiveRequest, type ShowGate } from './liveLens';
import type { TraceController } from './traceController';

const DEFAULT_DEBOUNCE_MS = 150;

/** What the live lens needs from the rest of the extension. */
export interface LiveLensHost {
  readonly traces: TraceController;
  readonly diagnostics: Diagnostics;
  /** Whether the trace panel exists and is visible. */
  readonly panelVisible: () => boolean;
}

export class LiveLensController implements vscode.Disposable {
  private enabled = false;
  /** The text live lens follows: the latest trace's range, moved and grown by edits. */
  private followed: { uri: string; range: TracedRange } | undefined;
  /** traceId of the record `followed` was last taken from (a record is adopted once). */
  private adoptedTraceId: number | undefined;
  private problem: string | undefined;
  /** Where the live trace in flight sits in its document, moved by edits that do not touch its text. */
  private running: { readonly uri: string; range: TracedRange } | undefined;
  private readonly scheduler: LiveLensScheduler;
  private readonly item = vscode.window.createStatusBarItem('residualLens.liveLens', vscode.StatusBarAlignment.Right, 99);
  private readonly hint = vscode.window.createTextEditorDecorationType({ after: { color: new vscode.ThemeColor('editorCodeLens.foreground'), fontStyle: 'italic' } });
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: LiveLensHost) {
    this.scheduler = new LiveLensScheduler((request, show) => this.retrace(request, show), () => debounceMs(), undefined, () => this.render(), () => traceAhead());
    this.item.name = 'Residual Lens: Live Lens';
    this.item.command = 'residualLens.toggleLiveLens';
    this.render();
    this.item.show();
    this.disposables.push(
      this.item,
      this.hint,
      host.traces.onDidChangeRecords(() => {
        this.adoptLatest();
        this.renderHint();
      }),
      vscode.workspace.onDidChangeTextDocument((e) => this.documentChanged(e)),
      vscode.window.onDidChangeWindowState(() => this.updatePause()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.renderHint()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('residualLens.liveLens.inlineHint')) this.renderHint();
      }),
    );
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Residual Lens: Toggle Live Lens. Turning it on with no trace to follow traces the selection or line now. */
  toggle(): void {
    this.enabled = !this.enabled;
    this.problem = undefined;
    if (!this.enabled) {
      const running = this.scheduler.running;
      this.scheduler.clear();
      // A trace ahead of the pause that was running is dropped: the shown trace's views it held up come again.
      if (running) this.host.traces.refetchShown();
    }
    this.updatePause();
    this.render();
    if (this.enabled && (!this.host.traces.latest || !this.host.panelVisible())) void this.host.traces.traceCommand();
  }

  /** Call when the trace panel appears, hides or closes. */
  updatePause(): void {
    const paused = liveLensPaused({ panelVisible: this.host.panelVisible(), windowFocused: vscode.window.state.focused });
    this.scheduler.setPaused(paused);
    this.render();
  }

  private adoptLatest(): void {
    const latest = this.host.traces.latest;
    if (!latest || latest.trace.traceId === this.adoptedTraceId || !latest.uri || !latest.range) return;
    this.adoptedTraceId = latest.trace.traceId;
    this.followed = { uri: latest.uri, range: latest.range };
  }

  private documentChanged(e: vscode.TextDocumentChangeEvent): void {
    const uri = e.document.uri.toString();
    const followed = this.followed;
    if (followed?.uri === uri) {
      // Keep the followed range in step with every edit, live lens on or off.
      let range: TracedRange | undefined = followed.range;
      let touched = false;
      for (const c of e.contentChanges) {
        if (!range) break;
        const next = liveRange(range, { offset: c.rangeOffset, length: c.rangeLength, insertedLength: c.text.length });
        touched ||= next === undefined || c.rangeOffset + c.rangeLength >= range.start && c.rangeOffset <= range.end;
        range = next;
      }
      this.followed = range ? { uri, range } : undefined;
      if (range && !touched && this.running?.uri === uri) this.running.range = range;
      if (!this.enabled || !touched) return;
      if (range) this.request({ uri, range, editedAt: performance.now() });
      return;
    }
    if (!this.enabled || e.contentChanges.length === 0 || vscode.window.activeTextEditor?.document.uri.toString() !== uri) return;
    // Nothing traced in this document: the edited line (as the command traces with no selection).
    const line = e.document.lineAt(e.document.positionAt(e.contentChanges[0].rangeOffset + e.contentChanges[0].text.length).line).range;
    const start = e.document.offsetAt(line.start);
    this.request({ uri, range: { start, end: e.document.offsetAt(line.end) }, editedAt: performance.now() });
  }

  private request(r: LiveRequest): void {
    // Diagnostics (RESIDUAL_LENS_DIAGNOSTICS): the host's loop is watched from the first keystroke after a paint.
    if (!this.host.diagnostics.measuring) this.host.diagnostics.traceStarted();
    this.scheduler.edited(r);
    this.render();
  }

  /** Runs one live re-trace (the scheduler calls it, never two at a time). */
  private async retrace(r: LiveRequest, show: ShowGate): Promise<void> {
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === r.uri);
    if (!doc || !this.enabled) return;
    const range = { start: r.range.start, end: Math.min(r.range.end, doc.getText().length) };
    const text = doc.getText(new vscode.Range(doc.positionAt(range.start), doc.positionAt(range.end)));
    this.followed = { uri: r.uri, range };
    // An edit before the range while the trace runs (ahead of the pause) moves it: documentChanged keeps this in step.
    const source = { uri: r.uri, range };
    this.running = source;
    this.render();
    try {
      await this.host.traces.run(text, source, r.editedAt, {
        show,
        problem: (message) => {
          this.problem = message;
          this.render();
        },
      });
    } finally {
      if (this.running === source) this.running = undefined;
    }
  }

  private render(): void {
    const paused = this.enabled && liveLensPaused({ panelVisible: this.host.panelVisible(), windowFocused: vscode.window.state.focused });
    const state = !this.enabled ? 'off' : paused ? 'paused' : this.problem ? 'not tracing' : this.scheduler.running || this.scheduler.pending ? 'tracing' : 'on';
    this.item.text = `${this.enabled ? '$(eye)' : '$(eye-closed)'} Live lens${this.enabled ? `: ${state}` : ''}`;
    const why = paused ? ' Paused while the trace panel is hidden or the window is not focused.' : this.problem ? ` ${this.problem}` : '';
    this.item.tooltip = `Residual Lens live lens is ${state}: edits to the traced text are traced again after a ${debounceMs()} ms pause.${why} Click to turn it ${this.enabled ? 'off' : 'on'}.`;
  }

  /** The inline hint after the latest traced range: its top-1 next token and probability (setting, off by default). */
  private renderHint(): void {
    const on = vscode.workspace.getConfiguration('residualLens').get<boolean>('liveLens.inlineHint', false);
    const latest = this.host.traces.latest;
    for (const editor of vscode.window.visibleTextEditors) {
      const doc = editor.document;
      if (!on || !latest?.range || latest.uri !== doc.uri.toString()) {
        editor.setDecorations(this.hint, []);
        continue;
      }
      const p = latest.payload;
      const last = p.tokens.length - 1;
      const token = vocabLookup(p.vocab)(p.predIds[last * p.predK]);
      const at = doc.positionAt(latest.range.end);
      editor.setDecorations(this.hint, [{ range: new vscode.Range(at, at), renderOptions: { after: { contentText: hintText(token, p.predProbs[last * p.predK]) } } }]);
    }
  }

  dispose(): void {
    this.scheduler.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/** residualLens.liveLens.traceAhead: start each re-trace at the edit and show it once typing pauses (LiveLensScheduler). */
function traceAhead(): boolean {
  return vscode.workspace.getConfiguration('residualLens').get<boolean>('liveLens.traceAhead', true) !== false;
}

function debounceMs(): number {
  const v = vscode.workspace.getConfiguration('residualLens').get<number>('liveLens.debounceMs', DEFAULT_DEBOUNCE_MS);
  return typeof v === 'number' && Number.isFinite(v) ? Math.max(0, Math.min(5000, v)) : DEFAULT_DEBOUNCE_MS;
}
