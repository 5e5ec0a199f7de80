/**
 * Diagnostics for tests and the bench: when RESIDUAL_LENS_DIAGNOSTICS names a file, sample the
 * extension host's event loop and append one JSON line per finished trace and per error.
 * Off (and free) otherwise.
 */
import { appendFile } from 'node:fs/promises';
import { monitorEventLoopDelay, performance, PerformanceObserver, type IntervalHistogram, type PerformanceEntry } from 'node:perf_hooks';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

export interface TraceDiagnostics {
  readonly tokens: number;
  readonly model: string;
  readonly engineMs: number;
  /** Command start → the webview reported the trace painted. */
  readonly paintedMs: number;
}

export class Diagnostics {
  private readonly histogram: IntervalHistogram | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly file: string | undefined) {
    if (file) {
      this.histogram = monitorEventLoopDelay({ resolution: 10 });
      this.histogram.enable();
    }
  }

  get enabled(): boolean {
    return this.file !== undefined;
  }

  private gapTimer: NodeJS.Timeout | undefined;
  private gcPauses: { atMs: number; ms: number; kind: number }[] = [];
  private gcObserver: PerformanceObserver | undefined;
  private gaps: { atMs: number; gapMs: number }[] = [];
  private startedAt = 0;
  private profiler: Session | undefined;

  /** Call when a trace command starts: the event-loop maximum is measured from here. */
  traceStarted(): void {
    this.histogram?.reset();
    if (!this.file) return;
    // Where in the trace the loop stalled: gaps over 20 ms, as ms since the command started.
    this.startedAt = performance.now();
    this.gaps = [];
    clearInterval(this.gapTimer);
    let last = this.startedAt;
    this.gapTimer = setInterval(() => {
      const now = performance.now();
      if (now - last > 25) this.gaps.push({ atMs: round(last - this.startedAt), gapMs: round(now - last - 5) });
      last = now;
    }, 5);
    this.gapTimer.unref();
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

  trace(d: TraceDiagnostics): void {
    const eventLoopMaxMs = this.histogram ? round(this.histogram.max / 1e6) : 0;
    clearInterval(this.gapTimer);
    // One profile across the first few traces: starting the profiler itself stalls the loop.
    if (++this.tracesProfiled >= Number(process.env.RESIDUAL_LENS_CPU_PROFILE_TRACES ?? 4)) this.stopProfile();
    this.write({ event: 'trace', tokens: d.tokens, model: d.model, engineMs: round(d.engineMs), paintedMs: round(d.paintedMs), eventLoopMaxMs, longGaps: this.gaps, gcPauses: this.gcPauses });
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
    clearInterval(this.gapTimer);
    this.gcObserver?.disconnect();
    this.histogram?.disable();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
