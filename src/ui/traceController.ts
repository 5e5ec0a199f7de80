/**
 * The trace flow: the Trace command (selection or current line, cancellable progress, newest
 * trace wins), the traces kept for hovers and decorations, the selected position / head that
 * every view shares, and the follow-up engine requests (lens and every position's DLA, once per
 * trace) whose results are cached so hovers make no engine call.
 */
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import type { Attribution, LensTable, TraceSummary } from '../engine/types';
import { EngineError } from '../protocol/engine';
import { parseRememberedTrace, PATTERN_MAX_SIZE, THUMB_MAX_SIZE, type AttributionPayload, type ExportFormat, type LensPayload, type PatternPayload, type PatternThumbsPayload, type RememberedTrace, type SelectionState, type WebviewKind } from '../protocol/webview';
import { applyEdit, tokenAt, type TracedRange } from '../viewModels/tracedRange';
import type { Diagnostics } from './diagnostics';
import type { EngineSession } from './engineSession';
import { chooseModelForTrace, type ModelContext } from './modelPicker';
import { errorMessage, isCancellation, type Output } from './output';
import type { ViewSink } from './panels';
import { attributionPayload, forwardPayload, headSourcesPayload, lensPayload, patternPayload, predictionsPayload, thumbsPayload, tracePayload, withSource } from './payloads';
import type { HostMessage } from './webviewChannel';
import type { PageTimes, TracePayload } from '../protocol/webview';
import type { ProgressPayload } from '../protocol/patching';
import { TraceFollowUps } from './followUps';
import { countedProblem, countRequest, emptyTextProblem } from './traceText';
import { TraceSequencer, type TraceTicket } from './traceSequencer';
import { keptPosition } from './liveLens';
import { delayedBusyLine, withDelayedProgress } from './delayedProgress';
import { copyLensTable, saveTraceJson } from './traceExports';

export { EMPTY_MESSAGE } from './traceText';
/** Traces kept for hovers / decorations (the engine may evict older ones; the hover then shows less). */
const MAX_RECORDS = 8;
/**
 * workspaceState key of the last trace (RememberedTrace: its text and where it was): a reloaded
 * window's panel falls back to it when the page's own state was not saved. The key predates the
 * saved source; a bare string there is the text alone.
 */
const LAST_TEXT_KEY = 'residualLens.lastTraceText';
const MAX_REMEMBERED_TEXT = 64 * 1024;
/**
 * A trace's follow-ups (patterns, lens, DLA, thumbnails) start once the trace panel has painted
 * the trace, or this long after it was sent (a hidden panel never paints). On 2 cores, computing
 * them while the page rendered took the CPU it needed: in interleaved bench/panel.ts runs on the
 * GPT-2-small shape, trace → paint went from 118–209 to 60–113 ms (README, "Measured figures").
 */
const FOLLOW_UPS_AT_MOST_AFTER_MS = 400;

export interface TraceRecord {
  /** What the host keeps of the trace; the engine holds the tensors (follow-ups name traceId). */
  readonly trace: TraceSummary;
  readonly payload: TracePayload;
  /** Document the text came from; undefined for a trace re-run from a restored panel. */
  readonly uri: string | undefined;
  /** Where the text sits in the document; undefined once an edit touched it. */
  range: TracedRange | undefined;
  /** Lens and DLA, each requested once for all views and hovers. */
  readonly followUps: TraceFollowUps;
  /** The command's start time for a command-started trace: its moments go to the diagnostics (not a restored panel's re-trace's). */
  readonly measuredFrom: number | undefined;
  /**
   * Cancels the follow-up requests still queued or running in the worker (a newer trace started:
   * they would hold it up behind this one's lens table); later ones, e.g. a hover's, still go.
   */
  readonly supersede: () => void;
  /** What the record's follow-up requests pass as their signal (a fresh one after supersede). */
  readonly followUpSignal: () => AbortSignal;
}

/**
 * A live-lens re-trace (src/ui/liveLensController.ts): progress in the status bar instead of a
 * notification, problems (empty, over the context) reported to `problem` instead of a popup, and
 * the selected position carried over to the new tokens where it still exists.
 */
export interface LiveRun {
  readonly problem: (message: string | undefined) => void;
  /**
   * Started ahead of the pause in typing (liveLens.ts, LiveLensScheduler): the result, or a problem
   * with the text, is shown only if this resolves true; false drops it (a newer edit came).
   */
  readonly show?: Promise<boolean>;
}

interface PendingPaint {
  readonly traceId: number;
  readonly started: number;
  readonly engineMs: number;
  readonly tokens: number;
  readonly model: string;
  readonly live: boolean;
}

export interface TraceViews {
  /** Creates the trace panel, or reveals it (without taking focus). */
  readonly openPanel: () => ViewSink;
  /** The trace panel if it is open. */
  readonly panel: () => ViewSink | undefined;
  readonly side: ViewSink;
}

/** A live trace started ahead of the pause whose show gate closed: a newer edit superseded it (drop its result). */
async function superseded(live: LiveRun | undefined): Promise<boolean> {
  return live?.show !== undefined && !(await live.show);
}

/** The selection clamped to a trace of `nLayer` layers and `nHead` heads, at `pos`. */
function selectionFor(pos: number, kept: SelectionState, nLayer: number, nHead: number): SelectionState {
  return { pos, layer: Math.min(kept.layer, nLayer - 1), head: Math.min(kept.head, nHead - 1) };
}

export class TraceController implements vscode.Disposable {
  private records: TraceRecord[] = [];
  private current: TraceRecord | undefined;
  private selection: SelectionState = { pos: 0, layer: 0, head: 0 };
  private lensShown: LensPayload | undefined;
  private patternShown: PatternPayload | undefined;
  private thumbsShown: PatternThumbsPayload | undefined;
  private attributionShown: AttributionPayload | undefined;
  private status: { text: string; busy: boolean; stale?: boolean } | undefined;
  /** Newest trace wins; a stale result is dropped. */
  private readonly sequence = new TraceSequencer();
  private pendingPaint: PendingPaint | undefined;
  /**
   * The trace painted ahead of its predictions (a command's trace: the forward part arrives before
   * the unembedding, see Engine.traceSummary), until its record is made; and the last trace id the
   * panel reported painted, which can come before that record.
   */
  private early: { readonly traceId: number; readonly payload: TracePayload } | undefined;
  /** A restored panel's selection, for the first trace shown after it (restore). */
  private restoredSelection: SelectionState | undefined;
  private lastPainted: number | undefined;
  /** The newest trace's follow-ups, waiting for its paint (or the timeout). */
  private followUpsWaiting: { readonly record: TraceRecord; readonly timer: ReturnType<typeof setTimeout> } | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when traced ranges appear, move or go (decorations listen). */
  readonly onDidChangeRecords = this.changed.event;

  constructor(
    private readonly session: EngineSession,
    private readonly output: Output,
    private readonly diagnostics: Diagnostics,
    private readonly models: ModelContext,
    private readonly views: TraceViews,
    private readonly memento: vscode.Memento,
  ) {}

  /** The last trace in this workspace, its text and where it was (for a restored panel without saved state). */
  get lastTrace(): RememberedTrace | undefined {
    const remembered = parseRememberedTrace(this.memento.get<unknown>(LAST_TEXT_KEY));
    return remembered.ok ? remembered.value : undefined;
  }

  get latest(): TraceRecord | undefined {
    return this.current;
  }

  /** Records with a live range in `uri`. */
  rangesIn(uri: string): TraceRecord[] {
    return this.records.filter((r) => r.uri === uri && r.range !== undefined);
  }

  private broadcast(msg: HostMessage): void {
    this.views.panel()?.post(msg);
    this.views.side.post(msg);
  }

  private setStatus(text: string, busy: boolean): void {
    // A trace already marked stale stays so (in replays too) until the next trace replaces it.
    this.status = { text, busy, ...(this.status?.stale && { stale: true }) };
    this.broadcast({ type: 'status', text, busy });
  }

  /**
   * The trace on show is no longer the latest one asked for: a newer one failed, was refused or
   * cancelled. The panel and side view say so (a banner, dimmed views) until the next trace.
   */
  private markStale(reason: string): void {
    if (!this.current) return this.setStatus(reason, false);
    this.status = { text: reason, busy: false, stale: true };
    this.broadcast({ type: 'status', text: reason, busy: false, stale: true });
  }

  /** What a (re)loaded trace panel or side view must show. */
  replay(_view: WebviewKind): HostMessage[] {
    const out: HostMessage[] = [];
    // A trace painted ahead of its predictions is what the views show until its record is made
    // (a page that loads meanwhile gets it, then the predictions).
    if (this.early) return [{ type: 'trace', trace: this.early.payload, selection: this.selection }];
    const traceId = this.current?.trace.traceId;
    if (this.current) out.push({ type: 'trace', trace: this.current.payload, selection: this.selection });
    if (this.patternShown?.traceId === traceId && this.patternShown?.layer === this.selection.layer) out.push({ type: 'pattern', pattern: this.patternShown });
    if (this.thumbsShown && this.thumbsShown.traceId === this.current?.trace.traceId) out.push({ type: 'thumbs', thumbs: this.thumbsShown });
    if (this.lensShown && this.lensShown.traceId === this.current?.trace.traceId) out.push({ type: 'lens', lens: this.lensShown });
    if (this.attributionShown && this.attributionShown.traceId === this.current?.trace.traceId) out.push({ type: 'attribution', attribution: this.attributionShown });
    if (this.status) out.push({ type: 'status', ...this.status });
    return out;
  }

  /** Residual Lens: Trace Residual Stream — the selection, or the current line. */
  async traceCommand(): Promise<void> {
    const started = performance.now();
    this.diagnostics.traceStarted();
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      this.output.showWarning('Open a text editor and select text to trace.');
      return;
    }
    const doc = editor.document;
    const range = editor.selection.isEmpty ? doc.lineAt(editor.selection.active.line).range : new vscode.Range(editor.selection.start, editor.selection.end);
    const text = doc.getText(range);
    const startOffset = doc.offsetAt(range.start);
    await this.run(text, { uri: doc.uri.toString(), range: { start: startOffset, end: startOffset + text.length } }, started);
  }

  /**
   * Traces `text` (from a document range, or from a restored panel's saved text). `started` is the
   * command's start time: only command-started traces write a diagnostics line (command → painted).
   */
  async run(text: string, source: { uri: string; range: TracedRange } | undefined, started?: number, live?: LiveRun): Promise<void> {
    const empty = emptyTextProblem(text);
    if (empty) {
      if (await superseded(live)) return;
      if (live) live.problem(empty);
      else this.output.showWarning(empty);
      this.markStale(`Not traced: ${empty}`);
      return;
    }
    // Newest wins: cancel whatever is running, and the shown trace's follow-ups still in the
    // worker's queue (live lens re-traces while they run); a stale result is dropped.
    const ticket = this.sequence.begin();
    const shown = this.current;
    shown?.supersede();
    let outcome: 'shown' | 'dropped' | undefined;
    try {
      outcome = await this.runTicket(text, source, started, ticket, live);
    } finally {
      this.sequence.finish(ticket);
      // Nothing replaced it (refused, failed, cancelled): the shown trace's views still missing go
      // again; not when a live trace ahead was dropped for a newer edit, whose trace comes next.
      if (shown && this.current === shown && !ticket.stale() && outcome !== 'dropped') this.refetchMissing(shown);
    }
  }

  /** The shown trace's views that did not arrive (live lens turned off while a trace ahead ran), asked again. */
  refetchShown(): void {
    if (this.current) this.refetchMissing(this.current);
  }

  /** 'dropped': a live trace ahead whose result a newer edit superseded (LiveRun.show). */
  private async runTicket(text: string, source: { uri: string; range: TracedRange } | undefined, started: number | undefined, ticket: TraceTicket, live: LiveRun | undefined): Promise<'shown' | 'dropped' | undefined> {
    const stale = ticket.stale;

    const choice = await chooseModelForTrace({
      ...this.models,
      onModelProblem: (model, message) => {
        this.session.reportProblem(model, message);
        if (!stale()) this.markStale(`Model ${model}: ${message}`);
      },
    });
    if (!choice || stale()) return undefined;
    const cfg = vscode.workspace.getConfiguration('residualLens');
    const prependBos = cfg.get<boolean>('prependBos', true);
    const topK = Math.max(1, Math.min(100, Math.round(cfg.get<number>('topK', 10))));

    // A live re-trace runs on every pause in typing: the status bar, not a notification, shows it.
    // Both appear only if the trace is still running after BUSY_SHOWN_AFTER_MS (a warm trace is done
    // by then), with the panel's busy line: see delayedProgress.ts.
    // The panel's busy line follows the same delay (delayedBusyLine).
    const busyLine = delayedBusyLine((line) => !stale() && this.setStatus(line, true));
    const progressOptions = {
      ...(live ? { location: vscode.ProgressLocation.Window, title: 'Residual Lens' } : { location: vscode.ProgressLocation.Notification, title: 'Residual Lens', cancellable: true }),
      onShown: busyLine.shown,
    };
    return withDelayedProgress(progressOptions, async (progress, cancelled): Promise<'shown' | 'dropped' | undefined> => {
      const signal = AbortSignal.any([ticket.signal, cancelled]);
      try {
        if (this.session.model?.folder !== choice.folder) {
          progress.report({ message: `Loading model ${choice.name}…` });
          // A load takes seconds: said at once.
          this.setStatus(`Loading model ${choice.name}…`, true);
        }
        const info = await this.session.ensureLoaded(choice, { signal, onProgress: (stage) => progress.report({ message: `Loading model ${choice.name}: ${stage}…` }) });
        this.markMeasured(started, 'model ready');
        if (stale()) return undefined;
        const nCtx = info.config.nCtx;
        const counted = await this.session.request('tokenize', countRequest(text, prependBos, nCtx), { signal });
        if (stale()) return undefined;
        const tooLong = countedProblem(counted, nCtx, info.name);
        if (tooLong) {
          if (await superseded(live)) return 'dropped';
          if (stale()) return undefined;
          live?.problem(tooLong);
          if (!live) this.output.showWarning(tooLong);
          this.setStatus('', false);
          this.markStale(`Not traced: ${tooLong}`);
          return undefined;
        }
        const n = counted.tokens.length;
        this.views.openPanel(); // now, so the page loads while the engine traces
        this.markMeasured(started, 'panel opened');
        progress.report({ message: `Tracing ${n} tokens…` });
        busyLine.set(`Tracing ${n} tokens…`);
        const t0 = performance.now();
        // A command's trace paints with its forward part, before the unembedding (about a quarter
        // of a 32-token trace) is done; a live trace waits for its pause anyway.
        let earlyId: number | undefined;
        const onPayload = live ? undefined : (p: ProgressPayload): void => {
          if (p.kind !== 'trace-forward' || stale()) return;
          earlyId = p.forward.traceId;
          this.showForward(withSource(forwardPayload(p.forward, performance.now() - t0), source), started);
        };
        let trace: TraceSummary;
        try {
          trace = await this.session.request('traceSummary', { text, options: { prependBos, topK } }, { signal, onPayload });
        } catch (err) {
          // Painted ahead, then failed or cancelled: back to the trace on show (a newer trace paints its own).
          if (earlyId !== undefined) this.dropEarly(earlyId, !stale());
          throw err;
        }
        const engineMs = performance.now() - t0;
        // A newer trace started meanwhile: it paints its own (its early paint replaced this one's).
        if (stale()) {
          if (earlyId !== undefined) this.dropEarly(earlyId, false);
          return undefined;
        }
        this.markMeasured(started, this.early?.traceId === trace.traceId ? 'predicted' : 'traced');
        // A live trace ahead of the pause in typing waits for it; a newer edit drops it, and the
        // engine forgets it (it would push traces the user saw out of the engine's store).
        if (await superseded(live)) {
          this.session.request('forgetTrace', { traceId: trace.traceId }, {}, 'ready').catch(() => undefined);
          return 'dropped';
        }
        if (stale()) return undefined;
        live?.problem(undefined);
        this.show(trace, withSource(tracePayload(trace, engineMs), source), source, started, live !== undefined);
        return 'shown';
      } catch (err) {
        if (stale() || isCancellation(err)) {
          if (!stale()) this.markStale('Trace cancelled.');
          return undefined;
        }
        if (await superseded(live)) return 'dropped';
        if (stale()) return undefined;
        this.markStale(errorMessage(err));
        if (err instanceof EngineError && err.code === 'bad-input') {
          if (live) live.problem(err.message);
          else this.output.showWarning(err.message);
        } else this.output.showError(err);
        return undefined;
      }
    });
  }

  /**
   * Paints a command's trace from its forward part (predK 0) while the engine still unembeds; its
   * record, hover data and follow-ups come with the whole trace (show). Selection: the last
   * position, as show() picks for a command's trace.
   */
  private showForward(payload: TracePayload, started: number | undefined): void {
    const T = payload.tokens.length;
    this.selection = this.firstSelection(T, payload.nLayer, payload.nHead);
    this.early = { traceId: payload.traceId, payload };
    this.markMeasured(started, 'traced');
    this.pendingPaint = started === undefined ? undefined : { traceId: payload.traceId, started, engineMs: payload.elapsedMs, tokens: T, model: payload.model, live: false };
    this.status = undefined;
    // The panel was opened before the trace started (closing it cancels the trace).
    this.broadcast({ type: 'trace', trace: payload, selection: this.selection });
    this.markMeasured(started, 'trace sent');
  }

  /** A trace painted ahead of its predictions failed or was cancelled: the views go back to the trace on show. */
  private dropEarly(traceId: number, restore: boolean): void {
    if (this.early?.traceId !== traceId) return;
    this.early = undefined;
    if (this.pendingPaint?.traceId === traceId) this.pendingPaint = undefined;
    // With no trace before it, the painted one stays, under the stale banner the caller sets.
    if (restore && this.current) this.broadcast({ type: 'trace', trace: this.current.payload, selection: this.selection });
  }

  private show(trace: TraceSummary, payload: TracePayload, source: { uri: string; range: TracedRange } | undefined, started: number | undefined, keepSelection = false): void {
    const before = this.current;
    const painted = this.early?.traceId === trace.traceId;
    this.early = undefined;
    const engineMs = payload.elapsedMs;
    let abort = new AbortController();
    const followUps = new TraceFollowUps(trace.traceId, {
      lens: (traceId, k) => this.session.request('lens', { traceId, k }, { signal: abort.signal }, 'ready'),
      attributeAll: (traceId) => this.session.request('attributeAll', { traceId }, { signal: abort.signal }, 'ready'),
      attribute: (traceId, pos, tokenId) => this.session.request('attribute', { traceId, pos, tokenId }, { signal: abort.signal }, 'ready'),
    });
    const supersede = (): void => {
      abort.abort();
      abort = new AbortController();
    };
    const record: TraceRecord = { trace, payload, uri: source?.uri, range: source?.range, followUps, measuredFrom: started, supersede, followUpSignal: () => abort.signal };
    // One trace per document range: a re-trace of overlapping text replaces the old one.
    this.records = this.records.filter((r) => !(r.uri === record.uri && r.range && record.range && r.range.start < record.range.end && record.range.start < r.range.end));
    this.records.push(record);
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
    this.current = record;
    this.lensShown = undefined;
    this.patternShown = undefined;
    this.thumbsShown = undefined;
    this.attributionShown = undefined;
    this.status = undefined;
    const T = trace.tokens.length;
    // Default selection: the last position (what the model predicts next), keeping the head if it still exists.
    const { nLayer, nHead } = trace.model.config;
    // A live re-trace keeps the selected token where the edit left it (keptPosition). A trace
    // painted ahead of its predictions keeps what the panel shows (the user may have clicked).
    if (!painted) {
      this.selection = keepSelection && before ? selectionFor(keptPosition(before.trace.tokens, trace.tokens, this.selection.pos), this.selection, nLayer, nHead) : this.firstSelection(T, nLayer, nHead);
      this.pendingPaint = started === undefined ? undefined : { traceId: trace.traceId, started, engineMs, tokens: T, model: trace.model.name, live: keepSelection };
    }
    if (trace.text.length <= MAX_REMEMBERED_TEXT) {
      const remembered: RememberedTrace = { text: trace.text, ...(payload.source ? { source: payload.source } : {}) };
      void this.memento.update(LAST_TEXT_KEY, remembered);
    }
    this.output.info(`Traced ${T} tokens with ${trace.model.name} in ${engineMs.toFixed(0)} ms (forward ${trace.forwardMs.toFixed(0)} ms).`);
    this.views.openPanel();
    if (painted) {
      this.broadcast({ type: 'predictions', traceId: trace.traceId, predictions: predictionsPayload(trace.logitsTop, engineMs) });
      this.markMeasured(started, 'predictions sent');
    } else {
      this.broadcast({ type: 'trace', trace: record.payload, selection: this.selection });
      this.markMeasured(started, 'trace sent');
    }
    // A live re-trace: the user is typing in the editor, where the hover reads the DLA table; it
    // is asked now rather than after the paint (one single-threaded pass in the worker, about 7 ms
    // at 32 tokens, beside the page's render). A command's trace asks after its first paint, which
    // that pass would slow on 2 cores.
    if (keepSelection) {
      record.followUps.attributionTable().then(
        () => record === this.current && this.markMeasured(record.measuredFrom, 'hover data'),
        () => undefined,
      );
    }
    this.changed.fire();
    // Its follow-ups wait for the panel's paint (painted()), or the timeout; a newer trace drops them.
    this.cancelFollowUps();
    this.followUpsWaiting = { record, timer: setTimeout(() => this.startFollowUps(), FOLLOW_UPS_AT_MOST_AFTER_MS) };
    // Painted ahead of its predictions, and the page already said so: the follow-ups go now.
    if (painted && this.lastPainted === trace.traceId) this.startFollowUps();
  }

  /** Fetches the waiting record's follow-up views (once). */
  private startFollowUps(): void {
    const record = this.followUpsWaiting?.record;
    this.cancelFollowUps();
    if (!record || record !== this.current) return;
    void this.fetchPattern(record, this.selection.layer);
    // The DLA table of every position (one request): the panel's default DLA and every hover read
    // it. Before the lens table (the worker answers in order): it takes a few ms, the lens hundreds.
    void this.fetchAttribution(record, this.selection.pos);
    void this.fetchLens(record);
    // Last: the worker answers in order, and pooling every head of a long trace takes a while.
    void this.fetchThumbs(record);
  }

  /** The views of the current record that have not arrived (their requests were superseded), asked again; none before its paint. */
  private refetchMissing(record: TraceRecord): void {
    if (record !== this.current || this.followUpsWaiting?.record === record) return;
    const id = record.trace.traceId;
    if (this.patternShown?.traceId !== id || this.patternShown.layer !== this.selection.layer) void this.fetchPattern(record, this.selection.layer);
    if (this.lensShown?.traceId !== id) void this.fetchLens(record);
    if (this.attributionShown?.traceId !== id || this.attributionShown.pos !== this.selection.pos) void this.fetchAttribution(record, this.selection.pos);
    if (this.thumbsShown?.traceId !== id) void this.fetchThumbs(record);
  }

  private cancelFollowUps(): void {
    clearTimeout(this.followUpsWaiting?.timer);
    this.followUpsWaiting = undefined;
  }

  /** A moment of a command-started trace (`started` set) for the diagnostics; re-traces are not measured. */
  private markMeasured(started: number | undefined, name: string): void {
    if (started !== undefined) this.diagnostics.mark(name);
  }

  /** The lens table of a record, requested once. */
  lensOf(record: TraceRecord): Promise<LensTable> {
    const k = Math.max(1, Math.min(100, Math.round(vscode.workspace.getConfiguration('residualLens').get<number>('topK', 10))));
    return record.followUps.lens(k);
  }

  /** DLA at `pos`: the top-1 from the trace's attribution table; another `tokenId` requested once per (pos, token). */
  attributionOf(record: TraceRecord, pos: number, tokenId?: number): Promise<Attribution> {
    return record.followUps.attribution(pos, tokenId);
  }

  /**
   * One follow-up view of a record: fetch it, then show it only if the record (and what `wanted`
   * checks, e.g. the selected layer) is still current; errors go to the status or the output.
   */
  private async followUp<T>(record: TraceRecord, what: string, fetch: () => Promise<T>, wanted: () => boolean, show: (value: T) => void): Promise<void> {
    try {
      const value = await fetch();
      if (record !== this.current || !wanted()) return;
      this.markMeasured(record.measuredFrom, what);
      show(value);
    } catch (err) {
      if (record === this.current) this.reportFollowUpError(err, what);
    }
  }

  private fetchPattern(record: TraceRecord, layer: number): Promise<void> {
    const traceId = record.trace.traceId;
    return this.followUp(
      record,
      'attention patterns',
      async () => patternPayload(await this.session.request('patternView', { traceId, layer, maxSize: PATTERN_MAX_SIZE }, { signal: record.followUpSignal() }, 'ready')),
      () => layer === this.selection.layer,
      (pattern) => {
        this.patternShown = pattern;
        this.broadcast({ type: 'pattern', pattern });
      },
    );
  }

  private fetchThumbs(record: TraceRecord): Promise<void> {
    const traceId = record.trace.traceId;
    return this.followUp(
      record,
      'attention thumbnails',
      async () => thumbsPayload(await this.session.request('patternThumbs', { traceId, maxSize: THUMB_MAX_SIZE }, { signal: record.followUpSignal() }, 'ready')),
      () => true,
      (thumbs) => {
        this.thumbsShown = thumbs;
        this.broadcast({ type: 'thumbs', thumbs });
      },
    );
  }

  private fetchLens(record: TraceRecord): Promise<void> {
    return this.followUp(
      record,
      'logit lens',
      async () => lensPayload(await this.lensOf(record)),
      () => true,
      (lens) => {
        this.lensShown = lens;
        this.broadcast({ type: 'lens', lens });
      },
    );
  }

  private fetchAttribution(record: TraceRecord, pos: number, tokenId?: number): Promise<void> {
    return this.followUp(
      record,
      'attribution',
      async () => attributionPayload(await this.attributionOf(record, pos, tokenId)),
      () => this.selection.pos === pos,
      (attribution) => {
        this.attributionShown = attribution;
        this.broadcast({ type: 'attribution', attribution });
      },
    );
  }

  /** The attention pattern's hover: which sources fed head (layer, head)'s write at pos, with DLA to the token the DLA section shows. */
  async headSources(layer: number, head: number, pos: number): Promise<void> {
    const record = this.current;
    if (!record) return;
    const { nLayer, nHead } = record.trace.model.config;
    if (layer >= nLayer || head >= nHead || pos >= record.trace.tokens.length) return;
    const shown = this.attributionShown;
    const tokenId = shown && shown.traceId === record.trace.traceId && shown.pos === pos ? shown.tokenId : undefined;
    try {
      const r = await this.session.request('headSources', { traceId: record.trace.traceId, layer, head, pos, ...(tokenId !== undefined && { tokenId }) }, {}, 'ready');
      if (record !== this.current) return;
      this.views.panel()?.post({ type: 'headSources', sources: headSourcesPayload(r) });
    } catch (err) {
      this.reportFollowUpError(err, 'sources of that head');
    }
  }

  private reportFollowUpError(err: unknown, what: string): void {
    if (isCancellation(err)) return;
    if (err instanceof EngineError && err.code === 'unknown-trace') {
      this.setStatus(`The engine no longer holds this trace; trace again to see the ${what}.`, false);
      return;
    }
    this.output.showError(err, `Could not compute the ${what}: ${errorMessage(err)}`);
  }

  /** A position / head picked in any view: every view follows; the editor shows the token when asked. */
  select(pos: number, layer: number | undefined, head: number | undefined, reveal: boolean): void {
    // What the panel shows: a trace painted ahead of its predictions (no record yet: the selection
    // is kept for it, its views follow once it is made), else the current record's.
    const shown = this.early?.payload ?? this.current?.payload;
    if (!shown) return;
    if (pos >= shown.tokens.length || (layer !== undefined && layer >= shown.nLayer) || (head !== undefined && head >= shown.nHead)) {
      this.output.info(`Ignored a selection outside the trace: pos ${pos}, layer ${layer}, head ${head}.`);
      return;
    }
    const posChanged = pos !== this.selection.pos;
    const layerChanged = layer !== undefined && layer !== this.selection.layer;
    this.selection = { pos, layer: layer ?? this.selection.layer, head: head ?? this.selection.head };
    this.broadcast({ type: 'select', selection: this.selection });
    const record = this.early ? undefined : this.current;
    if (!record) return;
    if (layerChanged) void this.fetchPattern(record, this.selection.layer);
    if (posChanged) void this.fetchAttribution(record, pos);
    if (reveal) this.revealToken(record, pos);
  }

  /** Attribute the selected position's logit of another token (picked from the top-k). */
  pickToken(pos: number, tokenId: number): void {
    const record = this.current;
    if (!record || pos >= record.trace.tokens.length || tokenId >= record.trace.model.config.dVocab) return;
    if (pos !== this.selection.pos) this.select(pos, undefined, undefined, false);
    void this.fetchAttribution(record, pos, tokenId);
  }

  /**
   * Attribute the logit of a token the user typed: `#id`, or text that is exactly one GPT-2 token
   * (tokenized in the worker, no BOS; " Paris" with its space is one token, "Paris" another).
   */
  async pickTokenText(pos: number, text: string): Promise<void> {
    const record = this.current;
    if (!record) return;
    const V = record.trace.model.config.dVocab;
    const byId = /^#(\d+)$/.exec(text.trim());
    let id: number | undefined;
    let problem: string | undefined;
    if (byId) {
      id = Number(byId[1]);
      if (id >= V) problem = `Token id ${id} is outside ${record.trace.model.name}'s vocabulary of ${V} tokens.`;
    } else {
      try {
        const counted = await this.session.request('tokenize', { text, options: { prependBos: false, maxTokens: 8 } }, {}, 'ready');
        const n = counted.tokens.length;
        if (n === 1 && counted.tokens[0]!.id < V) id = counted.tokens[0]!.id;
        else problem = n === 0 ? 'Type a token to attribute.' : `${JSON.stringify(text)} is ${counted.exceeded ? 'more than 8' : n} tokens (${counted.tokens.map((t) => JSON.stringify(t.text)).join(' + ')}); type one token, or #id.`;
      } catch (err) {
        problem = errorMessage(err);
      }
    }
    if (record !== this.current) return;
    if (problem !== undefined || id === undefined) {
      this.setStatus(problem ?? 'Type a token to attribute.', false);
      return;
    }
    this.pickToken(pos, id);
  }

  private revealToken(record: TraceRecord, pos: number): void {
    const tok = record.trace.tokens[pos];
    if (!record.uri || !record.range || tok.end <= tok.start) return;
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === record.uri);
    if (!editor) return;
    const doc = editor.document;
    const sel = new vscode.Selection(doc.positionAt(record.range.start + tok.start), doc.positionAt(record.range.start + tok.end));
    editor.selection = sel;
    editor.revealRange(sel, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  /** The trace panel reported a trace painted (with its own render and paint times): start its follow-ups; log the command → paint time. */
  painted(traceId: number, page: PageTimes = {}): void {
    this.lastPainted = traceId;
    if (this.followUpsWaiting?.record.trace.traceId === traceId) this.startFollowUps();
    const p = this.pendingPaint;
    if (!p || p.traceId !== traceId) return;
    this.pendingPaint = undefined;
    const paintedMs = performance.now() - p.started;
    this.output.info(`Trace ${traceId} painted ${paintedMs.toFixed(0)} ms after the command.`);
    // The page's own clock: when it painted, without the message's way back (same machine only).
    const { paintedAtMs, ...times } = page;
    const paintedOnPageMs = paintedAtMs === undefined ? undefined : paintedAtMs - (performance.timeOrigin + p.started);
    this.diagnostics.trace({ tokens: p.tokens, model: p.model, engineMs: p.engineMs, paintedMs, ...times, ...(paintedOnPageMs !== undefined && { paintedOnPageMs }), ...(p.live && { live: true, editedAt: p.started }) });
  }

  /**
   * A reloaded window's trace panel: its text traced again, linked to `source` when its document
   * still holds it, and shown with the selection the panel had (clamped to the trace).
   */
  async restore(text: string, source: { uri: string; range: TracedRange } | undefined, selection?: SelectionState): Promise<void> {
    this.restoredSelection = selection;
    try {
      await this.run(text, source);
    } finally {
      this.restoredSelection = undefined; // refused or failed: not for the next trace
    }
  }

  /** The first position selected in a new trace of T tokens: a restored panel's, else the last. */
  private firstSelection(T: number, nLayer: number, nHead: number): SelectionState {
    const restored = this.restoredSelection;
    this.restoredSelection = undefined;
    return selectionFor(restored && restored.pos < T ? restored.pos : T - 1, restored ?? this.selection, nLayer, nHead);
  }

  /**
   * The trace on show traced again where it sits, keeping the selection: the panel's "Trace again"
   * button, and after an engine restart (a new execution provider) whose worker held it. Linked
   * again when its document still holds the text there, else traced unlinked.
   */
  async traceAgain(): Promise<void> {
    const r = this.current;
    if (!r) return;
    await this.restore(r.trace.text, r.uri !== undefined && r.range ? { uri: r.uri, range: r.range } : undefined, this.selection);
  }

  /** The record and token under a document offset, for the hover. */
  tokenAtOffset(uri: string, offset: number): { record: TraceRecord; pos: number } | undefined {
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i];
      if (r.uri !== uri || !r.range || offset < r.range.start || offset >= r.range.end) continue;
      const pos = tokenAt(r.trace.tokens, r.range.start, offset);
      if (pos >= 0) return { record: r, pos };
    }
    return undefined;
  }

  /** Edits move traced ranges, or invalidate those they touch. */
  documentChanged(event: vscode.TextDocumentChangeEvent): void {
    const uri = event.document.uri.toString();
    let touched = false;
    for (const r of this.records) {
      if (r.uri !== uri || !r.range) continue;
      for (const c of event.contentChanges) {
        if (!r.range) break;
        const next = applyEdit(r.range, { offset: c.rangeOffset, length: c.rangeLength, insertedLength: c.text.length });
        if (next !== r.range) touched = true;
        r.range = next;
      }
    }
    if (touched) this.changed.fire();
  }

  documentClosed(doc: vscode.TextDocument): void {
    const uri = doc.uri.toString();
    const before = this.records.length;
    this.records = this.records.filter((r) => r.uri !== uri || r === this.current);
    const current = this.current;
    if (current?.uri === uri) current.range = undefined;
    if (this.records.length !== before) this.changed.fire();
  }

  /** Residual Lens: Copy Logit Lens as CSV / Markdown (traceExports.ts). */
  exportLens(format: ExportFormat): Promise<void> {
    return copyLensTable(this.current, (record) => this.lensOf(record), format, this.output);
  }

  /** The trace panel's "Save trace as JSON" (traceExports.ts). */
  exportTraceJson(): Promise<void> {
    return saveTraceJson(this.current, this.session, this.output);
  }

  /** The user closed the trace panel: a running trace has nowhere to show, so it stops. */
  panelClosed(): void {
    if (this.sequence.cancel()) this.setStatus('Trace cancelled: the panel was closed.', false);
  }

  dispose(): void {
    this.sequence.cancel();
    this.cancelFollowUps();
    this.changed.dispose();
  }
}
