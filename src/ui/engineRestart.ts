/**
 * Settings the engine's worker reads once, when it starts (the execution provider, the thread
 * count), applied without reloading the window: changing one while the engine runs offers to
 * restart it, and **Residual Lens: Restart Engine** does so. A restart ends the worker (its stored
 * traces with it), and the trace on show is traced again, where it sits, on the new engine.
 */
import * as vscode from 'vscode';
import type { EngineSession } from './engineSession';
import type { Output } from './output';
import type { TraceController } from './traceController';

/** The settings a running engine does not pick up, with the words the messages use for them. */
export const ENGINE_START_SETTINGS: readonly { readonly key: string; readonly label: string }[] = [
  { key: 'residualLens.executionProvider', label: 'execution provider' },
  { key: 'residualLens.engineThreads', label: 'engine threads' },
];

export const RESTART_ACTION = 'Restart Engine';

export class EngineRestart {
  constructor(
    private readonly session: EngineSession,
    private readonly traces: TraceController,
    private readonly output: Output,
    /** Whether the trace panel is open: only then is its trace traced again. */
    private readonly panelOpen: () => boolean,
  ) {}

  /** onDidChangeConfiguration: a setting only a new worker reads changed. */
  async settingsChanged(e: vscode.ConfigurationChangeEvent): Promise<void> {
    const changed = ENGINE_START_SETTINGS.filter((s) => e.affectsConfiguration(s.key)).map((s) => s.label);
    // Not started yet: the first request starts the worker with the new value.
    if (changed.length === 0 || !this.session.started) return;
    const choice = await vscode.window.showInformationMessage(`Residual Lens: the new ${changed.join(' and ')} applies once the engine restarts (the model loads again).`, RESTART_ACTION);
    if (choice === RESTART_ACTION) await this.restart();
  }

  /** Restarts the engine, then traces the panel's text again (the old worker held its trace). */
  async restart(): Promise<void> {
    const setting = vscode.workspace.getConfiguration('residualLens');
    this.output.info(`Restarting the engine (execution provider ${setting.get<string>('executionProvider', 'auto')}, engine threads ${setting.get<number>('engineThreads', 0)}).`);
    await this.session.restart();
    if (this.panelOpen()) await this.traces.traceAgain();
  }
}
