/**
 * Progress that shows only when it is worth showing. A warm trace takes about 100 ms; a progress
 * notification, a spinning status bar icon or a "Tracing…" line that appears and vanishes within
 * it is flicker, and its animation costs the editor's renderer CPU the trace itself needs on a
 * 2-core machine (bench/panel.ts: the warm first paint dropped by about 30 ms without it). So the
 * task starts at once and its progress UI appears only if it is still running after
 * BUSY_SHOWN_AFTER_MS, the same idea as VS Code's own delayed progress.
 */
import * as vscode from 'vscode';

/** How long a task runs before its progress indicators appear. */
export const BUSY_SHOWN_AFTER_MS = 300;

export interface DelayedProgressOptions {
  readonly location: vscode.ProgressLocation;
  readonly title?: string;
  readonly cancellable?: boolean;
  /** Default BUSY_SHOWN_AFTER_MS. */
  readonly delayMs?: number;
  /** Called once, when the progress UI appears (e.g. to show a busy line elsewhere too). */
  readonly onShown?: () => void;
}

export type ProgressStep = { message?: string; increment?: number };

/**
 * Runs `task` at once; vscode.window.withProgress is opened only if the task has not settled
 * after the delay, showing the last message reported so far. Cancelling the notification aborts
 * the `signal` the task received.
 */
export async function withDelayedProgress<T>(options: DelayedProgressOptions, task: (progress: vscode.Progress<ProgressStep>, signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let shown: vscode.Progress<ProgressStep> | undefined;
  let last: ProgressStep | undefined;
  const progress: vscode.Progress<ProgressStep> = {
    report: (step) => {
      last = step;
      shown?.report(step);
    },
  };
  const running = task(progress, abort.signal);
  const settled = running.then(
    () => undefined,
    () => undefined,
  );
  const timer = setTimeout(() => {
    options.onShown?.();
    void vscode.window.withProgress({ location: options.location, title: options.title, cancellable: options.cancellable }, (real, token) => {
      shown = real;
      if (last) real.report(last);
      const listener = token.onCancellationRequested(() => abort.abort());
      return settled.finally(() => listener.dispose());
    });
  }, options.delayMs ?? BUSY_SHOWN_AFTER_MS);
  try {
    return await running;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A busy line (the panel's "Tracing 32 tokens…") that follows a delayed progress: nothing until the
 * progress shows, the latest line then, and each later line at once (a model load can outlast the
 * delay; the trace's line then replaces the load's). Pass `shown` as the progress's onShown.
 */
export function delayedBusyLine(show: (line: string) => void): { readonly shown: () => void; readonly set: (line: string) => void } {
  let line: string | undefined;
  let visible = false;
  return {
    shown: () => {
      visible = true;
      if (line !== undefined) show(line);
    },
    set: (next) => {
      line = next;
      if (visible) show(next);
    },
  };
}
