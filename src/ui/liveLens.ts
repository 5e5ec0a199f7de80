/**
 * Live lens (issue 13): the rules, without VS Code (unit-tested). While it is on, each edit asks
 * for a re-trace of the edited text; `LiveLensScheduler` waits until the typing pauses (debounce),
 * keeps only the newest request, runs at most one trace at a time and holds everything while
 * paused (panel hidden, window unfocused). `keptPosition` carries the selected token over to the
 * new trace; `liveRange` says which text an edit re-traces.
 */
import type { TracedRange } from '../viewModels/tracedRange';

/** What a live re-trace traces: the text of `range` in document `uri`, asked at `editedAt` (performance.now()). */
export interface LiveRequest {
  readonly uri: string;
  readonly range: TracedRange;
  readonly editedAt: number;
}

export interface SchedulerClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: SchedulerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Whether a started live trace may be shown: resolves true once typing paused for the debounce
 * after its edit, false when a newer edit (or turning live lens off) superseded it first.
 */
export type ShowGate = Promise<boolean>;

interface Gate {
  readonly promise: ShowGate;
  readonly resolve: (show: boolean) => void;
}

function gate(): Gate {
  let resolve: (show: boolean) => void = () => undefined;
  const promise = new Promise<boolean>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Debounce + newest wins + at most one trace in flight. `edited` replaces whatever waits and
 * restarts the quiet period. Each run gets a gate that opens (true) when the quiet period after
 * its edit ends and closes (false) when a newer edit comes first: a run shows its result only
 * through an open gate.
 *
 * Two ways to start a run, `ahead` (the residualLens.liveLens.traceAhead setting):
 * - ahead (default): at the edit itself, when nothing is in flight and nothing pauses it; the
 *   trace computes during the quiet period and is shown when the gate opens. A keystroke → panel
 *   update then costs the debounce plus the page's paint, not also the trace (bench/liveLens.ts).
 *   While typing, every keystroke that finds the engine idle starts a trace whose result is
 *   dropped when the next key comes.
 * - not ahead: only when the quiet period ended, so nothing runs while typing continues.
 * Either way a run waits while one is in flight (it starts when that one settles) or while the
 * scheduler is paused (it starts on resume), and once typing stops at most one more trace starts.
 */
export class LiveLensScheduler {
  private waiting: { readonly request: LiveRequest; readonly gate: Gate } | undefined;
  /** The gate of the run in flight, while it is still the newest edit's and the quiet period runs. */
  private runningGate: Gate | undefined;
  private timer: unknown;
  private inFlight = false;
  private paused = false;
  private disposed = false;

  constructor(
    private readonly run: (request: LiveRequest, show: ShowGate) => Promise<void>,
    private readonly debounceMs: () => number,
    private readonly clock: SchedulerClock = realClock,
    /** Called when a trace settles (the status bar shows whether one runs or waits). */
    private readonly settled: () => void = () => undefined,
    private readonly ahead: () => boolean = () => false,
  ) {}

  /** A request is waiting (for the quiet period, the trace in flight or a resume). */
  get pending(): boolean {
    return this.waiting !== undefined || this.runningGate !== undefined;
  }

  get running(): boolean {
    return this.inFlight;
  }

  /** An edit: `request` replaces any waiting one, a run in flight will not be shown; the quiet period starts again. */
  edited(request: LiveRequest): void {
    if (this.disposed) return;
    this.closeRunningGate();
    this.waiting = { request, gate: gate() };
    this.restartTimer();
    if (this.ahead()) this.pump();
  }

  /** Pause (the panel hidden or the window unfocused) or resume; a request that waited runs on resume. */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (!paused) this.pump();
  }

  /** Drops whatever waits (live lens turned off); a trace in flight finishes on its own, unshown. */
  clear(): void {
    this.waiting = undefined;
    this.closeRunningGate();
    this.stopTimer();
  }

  dispose(): void {
    this.disposed = true;
    this.clear();
  }

  private closeRunningGate(): void {
    this.runningGate?.resolve(false);
    this.runningGate = undefined;
  }

  private restartTimer(): void {
    this.stopTimer();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      // The quiet period ended: the newest edit's run may show, whether it runs or still waits.
      this.waiting?.gate.resolve(true);
      this.runningGate?.resolve(true);
      this.runningGate = undefined;
      this.pump();
    }, Math.max(0, this.debounceMs()));
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs the waiting request if nothing holds it. */
  private pump(): void {
    if (this.disposed || this.paused || this.inFlight) return;
    if (this.timer !== undefined && !this.ahead()) return;
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = undefined;
    this.inFlight = true;
    if (this.timer !== undefined) this.runningGate = waiting.gate;
    const settle = (): void => {
      // Its gate stays with runningGate: a run that settled before the pause still learns its outcome.
      this.inFlight = false;
      this.pump();
      this.settled();
    };
    // A failing trace reports itself (TraceController); the scheduler only needs to go on.
    this.run(waiting.request, waiting.gate.promise).then(settle, settle);
  }
}

/** Live lens pauses while the trace panel is not visible or the window has no focus. */
export function liveLensPaused(s: { readonly panelVisible: boolean; readonly windowFocused: boolean }): boolean {
  return !s.panelVisible || !s.windowFocused;
}

/** One document change, in offsets of the document before it. */
export interface LiveEdit {
  readonly offset: number;
  readonly length: number;
  readonly insertedLength: number;
}

/**
 * The live range after `edit`: an edit inside the range, or touching either end, grows or shrinks
 * it with the text; an edit wholly before it shifts it; one after it leaves it. Undefined when
 * the edit removed text on both sides of a boundary beyond the range's own text (a replace that
 * swallowed the range): there is no traced text left to follow.
 */
export function liveRange(range: TracedRange, edit: LiveEdit): TracedRange | undefined {
  const editEnd = edit.offset + edit.length;
  const delta = edit.insertedLength - edit.length;
  if (editEnd < range.start) return { start: range.start + delta, end: range.end + delta };
  if (edit.offset > range.end) return range;
  if (edit.offset >= range.start && editEnd <= range.end) return { start: range.start, end: range.end + delta };
  // The edit crosses a boundary: the range keeps what is left of its text plus the inserted text.
  if (edit.offset < range.start && editEnd > range.end) return undefined;
  const start = Math.min(range.start, edit.offset);
  const end = Math.max(range.end, editEnd) + delta;
  return end > start ? { start, end } : undefined;
}

interface TokenLike {
  readonly id: number;
}

/**
 * The selected position carried over to a re-trace of edited text: a token in the unchanged
 * prefix keeps its index, one in the unchanged suffix moves with the edit's length change, the
 * last position stays the last (what the model predicts next, as a fresh trace shows), and a
 * token the edit changed falls back to the last position. Tokens compare by id.
 */
export function keptPosition(before: readonly TokenLike[], after: readonly TokenLike[], pos: number): number {
  const last = after.length - 1;
  if (pos >= before.length - 1 || pos < 0) return last;
  let prefix = 0;
  while (prefix < before.length && prefix < after.length && before[prefix].id === after[prefix].id) prefix++;
  if (pos < prefix) return Math.min(pos, last);
  let suffix = 0;
  while (suffix < before.length - prefix && suffix < after.length - prefix && before[before.length - 1 - suffix].id === after[after.length - 1 - suffix].id) suffix++;
  const fromEnd = before.length - 1 - pos;
  if (fromEnd < suffix) return after.length - 1 - fromEnd;
  return last;
}

/** The inline hint after a live range: the top-1 next token and its probability, e.g. ` → " mat" 42%`. */
export function hintText(token: string, prob: number): string {
  const pct = prob >= 0.995 ? '100' : prob < 0.01 ? '<1' : (prob * 100).toFixed(0);
  return ` → ${JSON.stringify(token)} ${pct}%`;
}
