/**
 * Diagnostics for tests and the bench: when RESIDUAL_LENS_DIAGNOSTICS names a file, sample the
 * extension host's event loop and append one JSON line per finished trace and per error.
 * Off (and free) otherwise.
 */
import { appendFile } from 'node:fs/promises';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

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

  /** Call when a trace command starts: the event-loop maximum is measured from here. */
  traceStarted(): void {
    this.histogram?.reset();
  }

  trace(d: TraceDiagnostics): void {
    const eventLoopMaxMs = this.histogram ? round(this.histogram.max / 1e6) : 0;
    this.write({ event: 'trace', tokens: d.tokens, model: d.model, engineMs: round(d.engineMs), paintedMs: round(d.paintedMs), eventLoopMaxMs });
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
    this.histogram?.disable();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
