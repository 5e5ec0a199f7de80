/**
 * Residual Lens: Compare Prompts, and the patching panel's host side: traces the clean and the
 * corrupted prompt, scores both with the logit difference of two answer tokens, then sweeps the
 * patching maps (resid_pre, attn_out, mlp_out, heads, patterns, heads by position) one engine
 * request each, streaming rows to the panel as they complete. A click on a cell re-runs that
 * patched run for its top-k and reveals the position in the editor. Edits to either prompt and a
 * model switch mark the results stale; a newer comparison or Cancel stops the sweep.
 */
import * as vscode from 'vscode';
import type { TraceSummary } from '../engine/types';
import { EngineError } from '../protocol/engine';
import { INTERVENTIONS_SCHEMA_VERSION, type Metric } from '../protocol/interventions';
import type { PatchRow, PatchTarget, PositionTopK } from '../protocol/patching';
import type { SavedSource } from '../protocol/webview';
import type { ExperimentPageMessage, PatchAttributionPayload, PatchCellPayload, PatchingPanelState, PatchSessionPayload, PromptRunPayload, RunTopK, SavedAnswer } from '../protocol/patchingView';
import { cellIntervention, headsForByPosition, logitDiffLabel, logitDiffMetric } from '../viewModels/experiments';
import { logitDiffAttribution } from '../viewModels/logitDiffAttribution';
import { compareTokenizations, patchCellRef, patchingCsv, patchMapShape, type PatchMap } from '../viewModels/patching';
import { tokenText } from '../viewModels/tokenText';
import { applyEdit } from '../viewModels/tracedRange';
import { askCorrupted, lastTopK, pickAnswer, promptsFromEditor, type PromptSource } from './comparePrompts';
import type { EngineSession } from './engineSession';
import { chooseModelForTrace, type ModelContext } from './modelPicker';
import { errorMessage, isCancellation, type Output } from './output';
import type { ViewSink } from './panels';
import { savedSource, vocabFor } from './payloads';
import { findSavedSource, foundWhere } from './savedSource';
import type { TraceController } from './traceController';
import { countedProblem, countRequest, emptyTextProblem } from './traceText';
import type { HostMessage } from './webviewChannel';

/** The sweep's maps, in the order they run (heads_by_pos last: it sweeps the heads the heads map ranks). */
const SWEEP_ORDER: readonly PatchTarget[] = ['resid_pre', 'attn_out', 'mlp_out', 'heads', 'patterns', 'heads_by_pos'];

export interface PatchingViews {
  /** Creates the patching panel, or reveals it. */
  readonly openPanel: () => ViewSink;
  readonly panel: () => ViewSink | undefined;
}

interface PromptRun {
  readonly source: PromptSource;
  readonly trace: TraceSummary;
  /** Where the prompt sits now (edits move it; undefined once an edit touched it). */
  range: PromptSource['range'];
}

interface Comparison {
  readonly id: number;
  /** Re-sent when heads_by_pos gets its heads (the map's rows change). */
  payload: PatchSessionPayload;
  readonly clean: PromptRun;
  readonly corrupted: PromptRun;
  readonly metric: Metric;
  readonly modelFolder: string;
  readonly maps: PatchMap[];
  readonly abort: AbortController;
  status: { text: string; running: boolean; done: number; total: number };
  stale?: string;
  cell?: PatchCellPayload;
  attribution?: PatchAttributionPayload;
}

/** The two tokens of the logit-difference metric. */
interface Answers {
  readonly correct: SavedAnswer;
  readonly wrong: SavedAnswer;
}

function runTop(top: PositionTopK | undefined): RunTopK {
  return { ids: top?.ids ?? new Int32Array(0), probs: top?.probs ?? new Float32Array(0) };
}

export class PatchingController implements vscode.Disposable {
  private current: Comparison | undefined;
  private nextId = 1;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly session: EngineSession,
    private readonly output: Output,
    private readonly models: ModelContext,
    private readonly traces: TraceController,
    private readonly views: PatchingViews,
  ) {
    this.disposables.push(
      session.onDidChangeStatus(() => this.modelChanged(session.model?.folder)),
      vscode.workspace.onDidChangeTextDocument((e) => this.documentChanged(e)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('residualLens.model')) this.markStale('the model setting changed; compare again to use the new model.');
      }),
    );
  }

  private post(msg: HostMessage): void {
    this.views.panel()?.post(msg);
  }

  /** What a (re)loaded patching panel must show. */
  replay(): HostMessage[] {
    const c = this.current;
    if (!c) return [];
    const out: HostMessage[] = [{ type: 'patchSession', session: c.payload }];
    for (const m of c.maps) out.push({ type: 'patchRows', sessionId: c.id, kind: m.kind, row0: 0, metric: m.metric });
    out.push({ type: 'patchStatus', sessionId: c.id, ...c.status });
    if (c.stale) out.push({ type: 'patchStale', sessionId: c.id, reason: c.stale });
    if (c.cell) out.push({ type: 'patchCell', cell: c.cell });
    if (c.attribution) out.push({ type: 'patchAttribution', attribution: c.attribution });
    return out;
  }

  /** Residual Lens: Compare Prompts. */
  async compareCommand(): Promise<void> {
    const prompts = promptsFromEditor(vscode.window.activeTextEditor, this.traces.latest);
    if (!prompts) {
      this.output.showWarning('Open a text editor and select the clean prompt to compare.');
      return;
    }
    const empty = emptyTextProblem(prompts.clean.text);
    if (empty) {
      this.output.showWarning(empty);
      return;
    }
    const corrupted = prompts.corrupted ?? (await askCorrupted(prompts.clean, prompts.next));
    if (!corrupted) return;
    if (emptyTextProblem(corrupted.text)) {
      this.output.showWarning('The corrupted prompt is empty: type or select a prompt to compare with.');
      return;
    }
    await this.compareWithProgress(prompts.clean, corrupted);
  }

  /**
   * A reloaded window's patching panel (its serializer): the saved prompts and answers compared
   * again, without asking. A prompt still in its document is linked to it again (a cell reveals its
   * position, an edit marks the results stale); one that is not, or was typed, is text only.
   */
  async restore(saved: PatchingPanelState): Promise<void> {
    const prompt = async (text: string, where: SavedSource | undefined): Promise<{ source: PromptSource; said: string }> => {
      const found = await findSavedSource(where, text);
      return { source: found ? { text, uri: found.uri, range: found.range } : { text }, said: foundWhere(where, found) ?? 'typed' };
    };
    // Together: each may wait for an untitled document to come back (savedSource.ts).
    const [clean, corrupted] = await Promise.all([prompt(saved.clean, saved.cleanSource), prompt(saved.corrupted, saved.corruptedSource)]);
    this.output.info(`Restoring the patching panel: comparing its two prompts again (clean: ${clean.said}; corrupted: ${corrupted.said}).`);
    await this.compareWithProgress(clean.source, corrupted.source, { correct: saved.correct, wrong: saved.wrong });
  }

  private async compareWithProgress(clean: PromptSource, corrupted: PromptSource, answers?: Answers): Promise<void> {
    // Newest wins: a running sweep stops.
    this.current?.abort.abort();
    const abort = new AbortController();
    try {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Residual Lens: Compare Prompts', cancellable: true }, async (progress, token) => {
        token.onCancellationRequested(() => abort.abort());
        await this.compare(clean, corrupted, abort, (message) => progress.report({ message }), answers);
      });
    } catch (err) {
      if (isCancellation(err) || abort.signal.aborted) return;
      if (err instanceof EngineError && err.code === 'bad-input') this.output.showWarning(err.message);
      else this.output.showError(err, `Compare Prompts failed: ${errorMessage(err)}`);
    }
  }

  /** `answers`: the two tokens of the metric (a restored panel's); absent, the user picks them. */
  private async compare(cleanSource: PromptSource, corruptedSource: PromptSource, abort: AbortController, report: (message: string) => void, answers?: Answers): Promise<void> {
    const signal = abort.signal;
    const choice = await chooseModelForTrace(this.models);
    if (!choice || signal.aborted) return;
    const cfg = vscode.workspace.getConfiguration('residualLens');
    const prependBos = cfg.get<boolean>('prependBos', true);
    const topK = Math.max(1, Math.min(100, Math.round(cfg.get<number>('topK', 10))));
    report(`Loading model ${choice.name}…`);
    const info = await this.session.ensureLoaded(choice, { signal });
    for (const text of [cleanSource.text, corruptedSource.text]) {
      const counted = await this.session.request('tokenize', countRequest(text, prependBos, info.config.nCtx), { signal });
      const tooLong = countedProblem(counted, info.config.nCtx, info.name);
      if (tooLong) {
        this.output.showWarning(tooLong);
        return;
      }
    }
    report('Tracing both prompts…');
    const cleanTrace = await this.session.request('traceSummary', { text: cleanSource.text, options: { prependBos, topK } }, { signal });
    const corruptedTrace = await this.session.request('traceSummary', { text: corruptedSource.text, options: { prependBos, topK } }, { signal });
    if (signal.aborted) return;

    const picked = answers ?? (await this.pickAnswers(cleanTrace, corruptedTrace));
    if (!picked || signal.aborted) return;
    const { correct, wrong } = picked;
    for (const a of [correct, wrong]) {
      if (a.id >= info.config.dVocab) {
        this.output.showWarning(`The saved answer ${JSON.stringify(a.text)} (token ${a.id}) is outside ${info.name}'s vocabulary of ${info.config.dVocab} tokens: run Compare Prompts again.`);
        return;
      }
    }
    if (wrong.id === correct.id) {
      this.output.showWarning('The correct and wrong answers are the same token: the logit difference would be 0 for every run. Pick two different tokens.');
      return;
    }

    const metric = logitDiffMetric(correct.id, wrong.id);
    report('Scoring both runs…');
    const [cleanRun, corruptedRun] = await Promise.all(
      [cleanTrace, corruptedTrace].map((t) => this.session.request('traceMetric', { schema: INTERVENTIONS_SCHEMA_VERSION, traceId: t.traceId, metric, topK }, { signal }, 'computing')),
    );
    if (signal.aborted) return;

    const { nLayer, nHead } = info.config;
    const tokens = (t: TraceSummary): PromptRunPayload['tokens'] => t.tokens.map((x) => ({ id: x.id, text: x.text, partial: x.partial, special: x.special }));
    const cmp = compareTokenizations(tokens(cleanTrace), tokens(corruptedTrace));
    const T = corruptedTrace.tokens.length;
    const id = this.nextId++;
    const maps: PatchMap[] = cmp.sameLength
      ? SWEEP_ORDER.map((kind) => {
          const heads = kind === 'heads_by_pos' ? headsForByPosition(nLayer, nHead, undefined, 0, 0) : undefined;
          const shape = patchMapShape(kind, nLayer, nHead, T, heads);
          return { kind, ...shape, ...(heads && { heads }), metric: new Float32Array(shape.rows * shape.cols).fill(NaN) };
        })
      : [];
    const promptPayload = (t: TraceSummary, r: { value: number; top?: PositionTopK }): PromptRunPayload => ({ text: t.text, tokens: tokens(t), metric: r.value, top: runTop(r.top) });
    const ids = [correct.id, wrong.id, ...(cleanRun.top?.ids ?? []), ...(corruptedRun.top?.ids ?? [])];
    // Where the prompts sit, saved with them: a reloaded window links them to the editor again.
    const cleanAt = savedSource(cleanSource);
    const corruptedAt = savedSource(corruptedSource);
    const payload: PatchSessionPayload = {
      sessionId: id,
      model: info.name,
      nLayer,
      nHead,
      metricLabel: logitDiffLabel(correct.text, wrong.text, corruptedRun.pos),
      pos: corruptedRun.pos,
      clean: promptPayload(cleanTrace, cleanRun),
      corrupted: promptPayload(corruptedTrace, corruptedRun),
      maps: maps.map((m) => ({ kind: m.kind, rows: m.rows, cols: m.cols, ...(m.heads && { heads: m.heads }) })),
      vocab: vocabFor(ids),
      state: {
        clean: cleanSource.text,
        corrupted: corruptedSource.text,
        correct: { id: correct.id, text: correct.text },
        wrong: { id: wrong.id, text: wrong.text },
        ...(cleanAt && { cleanSource: cleanAt }),
        ...(corruptedAt && { corruptedSource: corruptedAt }),
      },
    };
    const c: Comparison = {
      id,
      payload,
      clean: { source: cleanSource, trace: cleanTrace, range: cleanSource.range },
      corrupted: { source: corruptedSource, trace: corruptedTrace, range: corruptedSource.range },
      metric,
      modelFolder: info.folder,
      maps,
      abort,
      status: { text: cmp.sameLength ? 'Patching…' : cmp.message, running: cmp.sameLength, done: 0, total: maps.reduce((n, m) => n + m.rows, 0) },
    };
    this.current = c;
    this.views.openPanel();
    this.post({ type: 'patchSession', session: payload });
    this.setStatus(c, c.status);
    await this.attribute(c, correct.id, wrong.id);
    if (!cmp.sameLength) {
      this.output.showWarning(`${cmp.message} The panel shows both tokenizations and each run's metric and top tokens.`);
      return;
    }
    await this.sweep(c, report);
  }

  /** The user picks the correct answer among the clean run's top tokens, then the wrong one; undefined when dismissed. */
  private async pickAnswers(cleanTrace: TraceSummary, corruptedTrace: TraceSummary): Promise<Answers | undefined> {
    const tokenize = async (text: string): Promise<{ id: number; text: string }[]> => (await this.session.request('tokenize', { text, options: { prependBos: false } }, {}, 'ready')).tokens;
    const correct = await pickAnswer('Compare Prompts: the correct answer (its logit counts +)', lastTopK(cleanTrace, tokenText), tokenize);
    if (!correct) return undefined;
    const wrongCandidates = [...lastTopK(corruptedTrace, tokenText), ...lastTopK(cleanTrace, tokenText)].filter((c, i, all) => c.id !== correct.id && all.findIndex((x) => x.id === c.id) === i);
    const wrong = await pickAnswer('Compare Prompts: the wrong answer (its logit counts −)', wrongCandidates, tokenize);
    return wrong ? { correct, wrong } : undefined;
  }

  /** Logit-difference attribution of both runs (4 DLA requests at the metric position); a failure only costs this section. */
  private async attribute(c: Comparison, correct: number, wrong: number): Promise<void> {
    try {
      const signal = c.abort.signal;
      const dla = (traceId: number, pos: number, tokenId: number) => this.session.request('attribute', { traceId, pos, tokenId }, { signal }, 'computing');
      const [cleanPos, corruptedPos] = [c.payload.clean.tokens.length - 1, c.payload.corrupted.tokens.length - 1];
      const clean = logitDiffAttribution(await dla(c.clean.trace.traceId, cleanPos, correct), await dla(c.clean.trace.traceId, cleanPos, wrong));
      const correctRun = await dla(c.corrupted.trace.traceId, corruptedPos, correct);
      const corrupted = logitDiffAttribution(correctRun, await dla(c.corrupted.trace.traceId, corruptedPos, wrong));
      c.attribution = { sessionId: c.id, components: correctRun.components, clean: clean.values, corrupted: corrupted.values, cleanBias: clean.biasTerm, corruptedBias: corrupted.biasTerm };
      if (c === this.current) this.post({ type: 'patchAttribution', attribution: c.attribution });
    } catch (err) {
      if (!isCancellation(err)) this.output.info(`Logit-difference attribution failed: ${errorMessage(err)}`);
    }
  }

  private setStatus(c: Comparison, status: Comparison['status']): void {
    c.status = status;
    if (c === this.current) this.post({ type: 'patchStatus', sessionId: c.id, ...status });
  }

  /** One engine request per map, rows streamed; stops at cancel or a newer comparison. */
  private async sweep(c: Comparison, report: (message: string) => void): Promise<void> {
    const signal = c.abort.signal;
    const started = Date.now();
    let done = 0;
    for (let i = 0; i < c.maps.length; i++) {
      if (signal.aborted) break;
      if (c.maps[i].kind === 'heads_by_pos') this.chooseHeads(c, i);
      const map = c.maps[i];
      const text = `Patching ${map.kind}…`;
      report(text);
      this.setStatus(c, { text, running: true, done, total: c.status.total });
      const onRow = (row: PatchRow): void => {
        if (row.what !== map.kind || row.row >= map.rows || row.values.length !== map.cols) return;
        const values = Float32Array.from(row.values);
        map.metric.set(values, row.row * map.cols);
        if (c === this.current) this.post({ type: 'patchRows', sessionId: c.id, kind: map.kind, row0: row.row, metric: values });
        this.setStatus(c, { text, running: true, done: done + row.row + 1, total: c.status.total });
      };
      try {
        const result = await this.session.request(
          'patchSweep',
          { schema: INTERVENTIONS_SCHEMA_VERSION, cleanTraceId: c.clean.trace.traceId, corruptedTraceId: c.corrupted.trace.traceId, metric: c.metric, what: map.kind, ...(map.heads && { heads: map.heads }) },
          { signal, onPayload: (p) => p.kind === 'patch-row' && onRow(p.row), onProgress: (stage) => report(`${text} ${stage}`) },
          'computing',
        );
        if (result.rows === map.rows && result.cols === map.cols) {
          map.metric.set(Float32Array.from(result.values));
          if (c === this.current) this.post({ type: 'patchRows', sessionId: c.id, kind: map.kind, row0: 0, metric: map.metric });
        }
        done += map.rows;
      } catch (err) {
        if (isCancellation(err) || signal.aborted) break;
        this.output.info(`Patching ${map.kind} failed: ${errorMessage(err)}`);
        const message = err instanceof EngineError && err.code === 'unknown-trace' ? 'The engine no longer holds these traces; compare again.' : `Patching ${map.kind} failed: ${errorMessage(err)}`;
        this.setStatus(c, { text: message, running: false, done, total: c.status.total });
        return;
      }
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    this.setStatus(c, signal.aborted ? { text: 'Cancelled; the rows computed so far stay.', running: false, done, total: c.status.total } : { text: `Done in ${seconds} s.`, running: false, done, total: c.status.total });
  }

  /** heads_by_pos sweeps every head of a small model, else the heads the all-position map ranks highest. */
  private chooseHeads(c: Comparison, index: number): void {
    const map = c.maps[index];
    const heads = c.maps.find((m) => m.kind === 'heads');
    const chosen = headsForByPosition(c.payload.nLayer, c.payload.nHead, heads?.metric, c.payload.clean.metric, c.payload.corrupted.metric);
    const same = map.heads && map.heads.length === chosen.length && chosen.every((h, i) => map.heads?.[i].layer === h.layer && map.heads[i].head === h.head);
    if (same) return;
    this.relayout(c, index, { kind: map.kind, rows: chosen.length, cols: map.cols, heads: chosen, metric: new Float32Array(chosen.length * map.cols).fill(NaN) });
  }

  /** A map's rows changed: keep it and re-send everything so the panel lays it out again. */
  private relayout(c: Comparison, index: number, map: PatchMap): void {
    c.maps[index] = map;
    c.payload = { ...c.payload, maps: c.maps.map((m) => ({ kind: m.kind, rows: m.rows, cols: m.cols, ...(m.heads && { heads: m.heads }) })) };
    if (c === this.current) for (const msg of this.replay()) this.post(msg);
  }

  /** A head the user picked, added to the by-position map and swept over every position. */
  private async addHead(c: Comparison, layer: number, head: number): Promise<void> {
    const index = c.maps.findIndex((m) => m.kind === 'heads_by_pos');
    const map = c.maps[index];
    if (!map || layer >= c.payload.nLayer || head >= c.payload.nHead || map.heads?.some((h) => h.layer === layer && h.head === head)) {
      this.output.info(`Ignored a request to sweep L${layer}H${head} by position (no such head, already swept, or no patching).`);
      return;
    }
    if (c.status.running) {
      void vscode.window.showInformationMessage('Residual Lens: wait for the sweep to finish (or cancel it), then add the head.');
      return;
    }
    const heads = [...(map.heads ?? []), { layer, head }];
    const metric = new Float32Array(heads.length * map.cols).fill(NaN);
    metric.set(map.metric);
    const row = heads.length - 1;
    const grown: PatchMap = { kind: map.kind, rows: heads.length, cols: map.cols, heads, metric };
    this.relayout(c, index, grown);
    const total = c.status.total + 1;
    this.setStatus(c, { text: `Patching L${layer}H${head} by position…`, running: true, done: c.status.done, total });
    try {
      const result = await this.session.request(
        'patchSweep',
        { schema: INTERVENTIONS_SCHEMA_VERSION, cleanTraceId: c.clean.trace.traceId, corruptedTraceId: c.corrupted.trace.traceId, metric: c.metric, what: 'heads_by_pos', heads: [{ layer, head }] },
        { signal: c.abort.signal },
        'computing',
      );
      if (result.values.length !== grown.cols) throw new Error(`expected ${grown.cols} values, got ${result.values.length}`);
      const values = Float32Array.from(result.values);
      grown.metric.set(values, row * grown.cols);
      if (c === this.current) this.post({ type: 'patchRows', sessionId: c.id, kind: grown.kind, row0: row, metric: values });
      this.setStatus(c, { text: `Added L${layer}H${head} by position.`, running: false, done: c.status.done + 1, total });
    } catch (err) {
      const message = isCancellation(err) ? 'Cancelled.' : `Patching L${layer}H${head} by position failed: ${errorMessage(err)}`;
      this.setStatus(c, { text: message, running: false, done: c.status.done, total });
    }
  }

  /** Messages of the patching panel (already validated). */
  handle(msg: ExperimentPageMessage): void {
    const c = this.current;
    switch (msg.type) {
      case 'patchCancel':
        if (c && msg.sessionId === c.id) c.abort.abort();
        break;
      case 'patchExportCsv':
        if (c && msg.sessionId === c.id) void this.exportCsv(c);
        break;
      case 'patchAddHead':
        if (c && msg.sessionId === c.id) void this.addHead(c, msg.layer, msg.head);
        break;
      case 'patchPick':
        if (c && msg.sessionId === c.id) void this.pick(c, msg.kind, msg.row, msg.col);
        break;
    }
  }

  private async exportCsv(c: Comparison): Promise<void> {
    await vscode.env.clipboard.writeText(patchingCsv(c.maps, c.payload.corrupted.tokens, c.payload.clean.metric, c.payload.corrupted.metric));
    void vscode.window.showInformationMessage('Copied the patching maps as CSV.');
  }

  /** A clicked cell: that patched run's top-k, and the position revealed in the editor. */
  private async pick(c: Comparison, kind: PatchTarget, row: number, col: number): Promise<void> {
    const map = c.maps.find((m) => m.kind === kind);
    if (!map || row >= map.rows || col >= map.cols) {
      this.output.info(`Ignored a patching cell outside the map: ${kind} ${row}, ${col}.`);
      return;
    }
    const ref = patchCellRef(map, row, col);
    if (ref.pos !== undefined) this.reveal(c, ref.pos);
    try {
      const k = c.payload.clean.top.ids.length || 10;
      const result = await this.session.request(
        'runInterventions',
        { schema: INTERVENTIONS_SCHEMA_VERSION, traceId: c.corrupted.trace.traceId, runs: [{ interventions: [cellIntervention(map, row, col, c.clean.trace.traceId)] }], metric: c.metric, topK: k },
        {},
        'computing',
      );
      const top = runTop(result.top?.[0]);
      const cell: PatchCellPayload = { sessionId: c.id, kind, row, col, metric: result.metrics[0], top, vocab: vocabFor(top.ids) };
      if (c !== this.current) return;
      c.cell = cell;
      this.post({ type: 'patchCell', cell });
    } catch (err) {
      if (isCancellation(err) || c !== this.current) return;
      const message = err instanceof EngineError && err.code === 'unknown-trace' ? 'The engine no longer holds these traces; compare again.' : `Could not run the patched cell: ${errorMessage(err)}`;
      this.setStatus(c, { ...c.status, text: message, running: false });
    }
  }

  /** Selects the token at `pos` of whichever prompt is document text (the clean one first). */
  private reveal(c: Comparison, pos: number): void {
    for (const run of [c.clean, c.corrupted]) {
      const tok = run.trace.tokens[pos];
      if (!run.source.uri || !run.range || !tok || tok.end <= tok.start) continue;
      const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === run.source.uri);
      if (!editor) continue;
      const doc = editor.document;
      const sel = new vscode.Selection(doc.positionAt(run.range.start + tok.start), doc.positionAt(run.range.start + tok.end));
      editor.selection = sel;
      editor.revealRange(sel, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
      return;
    }
  }

  private markStale(reason: string): void {
    const c = this.current;
    if (!c || c.stale) return;
    c.stale = reason;
    this.post({ type: 'patchStale', sessionId: c.id, reason });
  }

  /** An edit inside either prompt makes the results stale (they stay on screen, marked); other edits move the ranges. */
  private documentChanged(event: vscode.TextDocumentChangeEvent): void {
    const c = this.current;
    if (!c) return;
    const uri = event.document.uri.toString();
    for (const run of [c.clean, c.corrupted]) {
      if (run.source.uri !== uri || !run.range) continue;
      for (const change of event.contentChanges) {
        if (!run.range) break;
        run.range = applyEdit(run.range, { offset: change.rangeOffset, length: change.rangeLength, insertedLength: change.text.length });
      }
      if (!run.range) this.markStale(`the ${run === c.clean ? 'clean' : 'corrupted'} prompt was edited; compare again for current results.`);
    }
  }

  /** The loaded model changed under the comparison (another model traced). */
  modelChanged(folder: string | undefined): void {
    if (this.current && folder !== undefined && folder !== this.current.modelFolder) this.markStale('another model was loaded; compare again.');
  }

  /** The panel was closed: a running sweep has nowhere to show. */
  panelClosed(): void {
    this.current?.abort.abort();
  }

  dispose(): void {
    this.current?.abort.abort();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
