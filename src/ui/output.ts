/**
 * The "Residual Lens" output channel and the one way errors reach the user: a short message
 * that says what to do, with an "Open Output" button; the details go to the channel.
 */
import * as vscode from 'vscode';
import { EngineError } from '../protocol/engine';
import type { Diagnostics } from './diagnostics';

export class Output implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor(private readonly diagnostics: Diagnostics) {
    this.channel = vscode.window.createOutputChannel('Residual Lens', { log: true });
  }

  info(line: string): void {
    this.channel.info(line);
  }

  /** Logs `err` in full and shows `message` (default: the error's own one-line message). */
  showError(err: unknown, message?: string): void {
    const text = message ?? errorMessage(err);
    this.channel.error(text);
    const detail = errorDetail(err);
    if (detail) this.channel.error(detail);
    this.diagnostics.error(text);
    void vscode.window.showErrorMessage(text, 'Open Output').then((pick) => {
      if (pick === 'Open Output') this.channel.show(true);
    });
  }

  /** A user-input problem (empty text, too long): a warning with no output button. */
  showWarning(text: string): void {
    this.channel.warn(text);
    this.diagnostics.error(text);
    void vscode.window.showWarningMessage(text);
  }

  dispose(): void {
    this.channel.dispose();
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0];
  return String(err);
}

function errorDetail(err: unknown): string | undefined {
  if (err instanceof EngineError) return err.detail;
  if (err instanceof Error) return err.stack;
  return undefined;
}

/** True for a cancel by the user or by a newer trace (nothing to report). */
export function isCancellation(err: unknown): boolean {
  return (err instanceof EngineError && err.code === 'cancelled') || (err instanceof Error && err.name === 'AbortError');
}
