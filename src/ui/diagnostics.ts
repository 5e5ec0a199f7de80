/**
 * Diagnostics for tests and the bench: when RESIDUAL_LENS_DIAGNOSTICS names a file, sample the
 * extension host's event loop and append one JSON line per finished trace and per error.
 * Off (and free) otherwise.
 */
import { appendFile } from 'node:fs/promises';
import { performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Session } from 'node:inspector';
import { readFileSync, writeFileSync } from 'node:fs';
import type { PageTimes } from '../protocol/webview';

/**
 * A thread's counters (Linux): time on a CPU, time runnable but waiting for one, and major page
 * faults (pages read back from disk: a thread stalled in one is asleep, neither running nor waiting).
 */
interface SchedStat {
  readonly cpuMs: number;
  readonly waitMs: number;
  readonly majorFaults: number;
}

/** The main thread's counters from /proc, or undefined where there is no /proc (macOS, Windows). */
function mainThreadSchedStat(): SchedStat | undefined {
  try {
    const task = `/proc/self/task/${process.pid}`;
    const [cpuNs, waitNs] = readFileSync(`${task}/schedstat`, 'utf8').split(' ').map(Number);
    // stat: "pid (comm) state ppid … minflt cminflt majflt …": majflt is the 10th field after ")".
    const stat = readFileSync(`${task}/stat`, 'utf8');
    const majorFaults = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[9]);
    if (cpuNs === undefined || waitNs === undefined || !Number.isFinite(cpuNs) || !Number.isFinite(waitNs)) return undefined;
    return { cpuMs: cpuNs / 1e6, waitMs: waitNs / 1e6, majorFaults: Number.isFinite(majorFaults) ? majorFaults : 0 };
  } catch {
    return undefined;
  }
}

export interface TraceDiagnostics extends PageTimes {
  readonly tokens: number;
  readonly model: string;
  readonly engineMs: number;
  /** Command start → the webview reported the trace painted. */
  readonly paintedMs: number;
  /** Command start → painted on the page's clock (PageTimes.paintedAtMs), without the message back. */
  readonly paintedOnPageMs?: number;
  /** A live-lens re-trace: paintedMs counts from the keystroke (debounce included). */
  readonly live?: boolean;
  /** A live-lens re-trace: the last keystroke's performance.now() (the measurement began at the first keystroke since the previous paint). */
  readonly editedAt?: number;
}

/**
 * How often the loop-lag timer ticks while a trace runs. Lag = how much later than this a tick ran
 * (the usual event-loop lag): a stall of S ms shows as S − TICK_MS to S. Faster ticks perturbed the
 * 2-core measurements they were taking. (Node's monitorEventLoopDelay histogram is not used: it
 * records the interval between its ticks, resolution included, so idle its median is the
 * resolution, not 0, and every maximum is overstated by up to one resolution.)
 */
const TICK_MS = 5;
/** Stalls longer than this are listed one by one. */
const LISTED_STALL_MS = 20;

/** One stall of the loop, placed in the trace. */
interface Stall {
  /** When it began, ms after the command started. */
  readonly atMs: number;
  /** How much later than TICK_MS the next tick ran. */
  readonly lagMs: number;
  /** Time the main thread ran during it (Linux). */
  readonly cpuMs?: number;
  /** Time the main thread was runnable but had no CPU during it (Linux): CPU contention, not work on the loop. */
  readonly waitMs?: number;
  /** Pages the main thread had to read back from disk during it (Linux). */
  readonly majorFaults?: number;
}

export class Diagnostics {
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly file: string | undefined) {}

  get enabled(): boolean {
    return this.file !== undefined;
  }

  private lagTimer: NodeJS.Timeout | undefined;
  private gcPauses: { atMs: number; ms: number; kind: number }[] = [];
  private gcObserver: PerformanceObserver | undefined;
  private stalls: Stall[] = [];
  /**
   * The largest lag of any tick; the largest lag minus the CPU wait inside it (held: the thread ran
   * or slept); and the most CPU time the thread spent between two ticks (ran: work on the loop).
   */
  private lagMaxMs = 0;
  private heldMaxMs = 0;
  private ranMaxMs = 0;
  private schedAtStart: SchedStat | undefined;
  private startedAt = 0;
  private startedAtEpochMs = 0;
  private profiler: Session | undefined;

  /** Whether a trace's measurement runs (started, its line not yet written). */
  get measuring(): boolean {
    return this.lagTimer !== undefined;
  }

  /**
   * Call when a trace command starts: the loop's lag is measured from here to the trace's paint.
   * Live lens calls it at the first keystroke after a paint, so the lag covers the typing too.
   */
  traceStarted(): void {
    if (!this.file) return;
    this.startedAt = performance.now();
    this.startedAtEpochMs = Date.now();
    this.marks = [];
    this.traceWritten = false;
    this.stalls = [];
    this.lagMaxMs = 0;
    this.heldMaxMs = 0;
    this.ranMaxMs = 0;
    clearInterval(this.lagTimer);
    let last = this.startedAt;
    this.schedAtStart = mainThreadSchedStat();
    let lastSched = this.schedAtStart;
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      const sched = mainThreadSchedStat();
      const lagMs = Math.max(0, now - last - TICK_MS);
      const split = sched && lastSched ? { cpuMs: sched.cpuMs - lastSched.cpuMs, waitMs: sched.waitMs - lastSched.waitMs, majorFaults: sched.majorFaults - lastSched.majorFaults } : undefined;
      // Without the kernel's counters the whole lag counts as held.
      const heldMs = split ? Math.max(0, lagMs - split.waitMs) : lagMs;
      this.lagMaxMs = Math.max(this.lagMaxMs, lagMs);
      this.heldMaxMs = Math.max(this.heldMaxMs, heldMs);
      this.ranMaxMs = Math.max(this.ranMaxMs, split ? split.cpuMs : lagMs);
      if (lagMs > LISTED_STALL_MS) {
        this.stalls.push({ atMs: round(last - this.startedAt), lagMs: round(lagMs), ...(split ? { cpuMs: round(split.cpuMs), waitMs: round(split.waitMs), majorFaults: split.majorFaults } : {}) });
      }
      last = now;
      lastSched = sched;
    }, TICK_MS);
    this.lagTimer.unref();
    // Garbage-collection pauses over 5 ms, to tell a collector pause from our own work in a stall.
    this.gcPauses = [];
    this.gcObserver ??= new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = (e as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind ?? 0;
        if (e.duration > 5) this.gcPauses.push({ atMs: round(e.startTime - this.startedAt), ms: round(e.duration), kind });
      }
    });
    this.gcObserver.observe({ entryTypes: ['gc'] });
    const profileDir = process.env.RESIDUAL_LENS_CPU_PROFILE;
    if (profileDir && !this.profiler) {
      this.profiler = new Session();
      this.profiler.connect();
      this.profiler.post('Profiler.enable');
      this.profiler.post('Profiler.setSamplingInterval', { interval: Number(process.env.RESIDUAL_LENS_CPU_PROFILE_INTERVAL_US ?? 500) });
      this.profiler.post('Profiler.start');
    }
  }

  private tracesProfiled = 0;
  private marks: { name: string; atMs: number }[] = [];

  /** Whether the current trace's line is written (it is, at the paint). */
  private traceWritten = false;

  /**
   * A named moment of the current trace (model loaded, traced, …), to place its stalls. After the
   * trace's line is written (at the paint), moments still come (the follow-up views shown): each
   * gets its own line, `{"event":"shown","name":…,"atMs":…}`, ms after the same command start.
   */
  mark(name: string): void {
    if (!this.file) return;
    const atMs = round(performance.now() - this.startedAt);
    if (this.traceWritten) this.write({ event: 'shown', name, atMs });
    else this.marks.push({ name, atMs });
  }

  trace(d: TraceDiagnostics): void {
    clearInterval(this.lagTimer);
    this.lagTimer = undefined;
    this.traceWritten = true;
    // One profile across the first few traces: starting the profiler itself stalls the loop.
    if (++this.tracesProfiled >= Number(process.env.RESIDUAL_LENS_CPU_PROFILE_TRACES ?? 4)) this.stopProfile();
    const sched = mainThreadSchedStat();
    const mainThread = sched && this.schedAtStart ? { cpuMs: round(sched.cpuMs - this.schedAtStart.cpuMs), waitMs: round(sched.waitMs - this.schedAtStart.waitMs) } : undefined;
    this.write({
      event: 'trace',
      tokens: d.tokens,
      model: d.model,
      engineMs: round(d.engineMs),
      paintedMs: round(d.paintedMs),
      ...(d.paintedOnPageMs !== undefined && { paintedOnPageMs: round(d.paintedOnPageMs) }),
      ...(d.live === true && { live: true }),
      ...(d.editedAt !== undefined && { lastEditAtMs: round(d.editedAt - this.startedAt) }),
      ...(d.renderMs !== undefined && { renderMs: round(d.renderMs) }),
      ...(d.webviewMs !== undefined && { webviewMs: round(d.webviewMs) }),
      ...(d.renderParts !== undefined && { renderParts: Object.fromEntries(Object.entries(d.renderParts).map(([k, v]) => [k, round(v)])) }),
      eventLoopMaxMs: round(this.lagMaxMs),
      loopHeldMaxMs: round(this.heldMaxMs),
      loopRanMaxMs: round(this.ranMaxMs),
      startedAtEpochMs: this.startedAtEpochMs,
      marks: this.marks,
      stalls: this.stalls,
      gcPauses: this.gcPauses,
      mainThread,
    });
  }

  private stopProfile(): void {
    const session = this.profiler;
    const dir = process.env.RESIDUAL_LENS_CPU_PROFILE;
    if (!session || !dir) return;
    this.profiler = undefined;
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(`${dir}/trace-${Date.now()}.cpuprofile`, JSON.stringify(result.profile));
      session.disconnect();
    });
  }

  error(message: string): void {
    this.write({ event: 'error', message });
  }

  private write(record: Record<string, unknown>): void {
    const file = this.file;
    if (!file) return;
    // Lines are appended in order; a failing disk must never break the extension.
    this.queue = this.queue.then(() => appendFile(file, JSON.stringify(record) + '\n')).catch(() => undefined);
  }

  dispose(): void {
    clearInterval(this.lagTimer);
    this.gcObserver?.disconnect();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
