/**
 * The extension's one engine: the worker is spawned by the first request (never at activation),
 * the loaded model is remembered so a trace only loads when the choice changed, and every
 * request moves the status bar through loading / tracing / ready / error.
 */
import * as os from 'node:os';
import { canLowerThreadPriority } from '../engine/threadPriority';
import * as vscode from 'vscode';
import { EngineClient } from '../engine/client';
import type { ModelInfo } from '../engine/types';
import { EngineError, type EngineMethod, type EngineMethods } from '../protocol/engine';
import type { ProgressPayload } from '../protocol/patching';
import { BUSY_SHOWN_AFTER_MS } from './delayedProgress';
import { isCancellation } from './output';
import { warmTokenTexts } from '../viewModels/tokenText';

export type EngineState = 'idle' | 'loading' | 'ready' | 'tracing' | 'computing' | 'error';

export interface EngineStatus {
  readonly state: EngineState;
  /** Name of the loaded (or loading) model. */
  readonly model: string | undefined;
  readonly detail?: string;
  /** Where the loaded model's graphs run, once loaded. */
  readonly executionProvider?: 'cpu' | 'webgpu';
  /** WebGPU, but some graphs WebGPU could not run run on the CPU (the output says which). */
  readonly partlyOnCpu?: boolean;
}

/** The model a command decided to use. */
export interface ModelChoice {
  readonly name: string;
  readonly folder: string;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (stage: string) => void;
  /** Partial results (a patching sweep's rows) as they arrive. */
  readonly onPayload?: (payload: ProgressPayload) => void;
}

export class EngineSession implements vscode.Disposable {
  private client: EngineClient | undefined;
  private info: ModelInfo | undefined;
  private running = 0;
  private closed = false;
  /** Some of the loaded model's graphs fell back from WebGPU to the CPU. */
  private partlyOnCpu = false;
  private current: EngineStatus = { state: 'idle', model: undefined };
  private readonly emitter = new vscode.EventEmitter<EngineStatus>();
  readonly onDidChangeStatus = this.emitter.event;

  constructor(
    private readonly workerPath: string,
    private readonly cacheDir: string,
    private readonly log: (line: string) => void,
  ) {}

  get status(): EngineStatus {
    return this.current;
  }

  /** The model the worker holds, if any. */
  get model(): ModelInfo | undefined {
    return this.info;
  }

  private engine(): EngineClient {
    // After close (deactivation) nothing may start a worker again: a restore that waited for its
    // document, or any late request, is cancelled instead (said nowhere: the window is going).
    if (this.closed) throw new EngineError('cancelled', 'Residual Lens is shutting down.');
    if (!this.client) {
      const client = new EngineClient({
        workerPath: this.workerPath, log: this.log, ...engineThreading(), executionProvider: executionProviderSetting(),
        onFallback: () => {
          if (client !== this.client || this.partlyOnCpu) return;
          this.partlyOnCpu = true;
          this.setStatus(this.current.state, this.current.detail);
        },
      });
      this.client = client;
    }
    return this.client;
  }

  private setStatus(state: EngineState, detail?: string): void {
    this.current = { state, model: this.info?.name ?? this.current.model, detail, executionProvider: this.info?.executionProvider, ...(this.partlyOnCpu ? { partlyOnCpu: true } : {}) };
    this.emitter.fire(this.current);
  }

  /** Loads `choice` unless it is already the loaded model. */
  async ensureLoaded(choice: ModelChoice, options: RequestOptions = {}): Promise<ModelInfo> {
    const client = this.engine();
    if (this.info && this.info.folder === choice.folder && client.loaded?.folder === choice.folder) return this.info;
    this.current = { state: 'loading', model: choice.name };
    this.emitter.fire(this.current);
    // Token texts for the views, indexed in slices while the worker loads (not in one block at the first paint).
    void warmTokenTexts();
    try {
      const info = await client.request('load', { folder: choice.folder, name: choice.name, cacheDir: this.cacheDir }, options);
      // A restart during the load: the new engine loads the model itself.
      if (client !== this.client) throw new EngineError('cancelled', 'The engine restarted during the load.');
      this.info = info;
      // A graph of the load that fell back: the provider is WebGPU, with a note saying which ran on the CPU.
      this.partlyOnCpu = info.executionProvider === 'webgpu' && info.executionProviderNote !== undefined;
      this.log(`Loaded ${this.info.name} from ${this.info.folder} (${this.info.config.nLayer} layers, ${this.info.config.nHead} heads, d_model ${this.info.config.dModel}; ${this.info.executionProvider === 'webgpu' ? 'WebGPU' : 'CPU'}).`);
      // Format, dtype and the unembedding in use (a fine-tune's untied lm_head), then load notes.
      this.log(`Weights: ${this.info.format ?? 'safetensors'}, ${this.info.dtype}; unembedding ${this.info.unembedding === 'lm_head' ? 'the untied lm_head.weight' : 'tied to the token embedding'}.`);
      for (const note of this.info.notes ?? []) this.log(`Note: ${note}`);
      if (this.info.executionProviderNote) this.log(this.info.executionProviderNote);
      if (this.info.executionProviderWarning) {
        this.log(this.info.executionProviderWarning);
        // Every trace will be slow: say it where the user looks, once per load.
        void vscode.window.showWarningMessage(`Residual Lens: ${this.info.executionProviderWarning}`);
      }
      this.setStatus('ready');
      return this.info;
    } catch (err) {
      if (client !== this.client) throw err; // the status is the new engine's
      if (isCancellation(err)) this.setStatus(this.info ? 'ready' : 'idle');
      else this.reportProblem(choice.name, err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  /** The status bar names the model that failed (not the one still loaded) with the problem. */
  reportProblem(model: string, message: string): void {
    const loaded = this.info && this.info.name !== model ? ` (${this.info.name} is still loaded)` : '';
    this.current = { state: 'error', model, detail: `${message}${loaded}` };
    this.emitter.fire(this.current);
  }

  /**
   * The model setting changed: an error about the previous setting no longer applies (the status
   * bar would read "demo · error" for a model that never failed). Returns what the bar should show.
   */
  settingChanged(): EngineStatus {
    if (this.current.state === 'error') {
      this.current = { state: this.info ? 'ready' : 'idle', model: this.info?.name };
      this.emitter.fire(this.current);
      return this.current;
    }
    return this.current.state === 'idle' ? this.current : { ...this.current, model: this.info?.name };
  }

  /** One engine request, shown in the status bar as `busy` while it runs. */
  async request<M extends EngineMethod>(method: M, params: EngineMethods[M]['params'], options: RequestOptions = {}, busy: EngineState = 'tracing'): Promise<EngineMethods[M]['result']> {
    const client = this.engine();
    // After a restart this request belongs to the ended engine: it no longer counts, nor sets the status.
    const current = (): boolean => client === this.client;
    this.running++;
    // The spinner only for a request still running after BUSY_SHOWN_AFTER_MS (delayedProgress.ts).
    const shownBusy = busy === 'ready' ? undefined : setTimeout(() => current() && this.running > 0 && this.setStatus(busy), BUSY_SHOWN_AFTER_MS);
    try {
      const result = await client.request(method, params, options);
      if (current() && --this.running === 0 && this.current.state !== 'ready') this.setStatus('ready');
      return result;
    } catch (err) {
      if (current() && --this.running === 0) {
        if (isCancellation(err)) this.setStatus('ready');
        else this.setStatus('error', err instanceof Error ? err.message : String(err));
      }
      throw err;
    } finally {
      clearTimeout(shownBusy);
    }
  }

  /** Whether the engine's worker was started (a request was made) and not restarted or closed since. */
  get started(): boolean {
    return this.client !== undefined;
  }

  /**
   * Ends the engine's worker (its stored traces go with it) so that the next request starts a new
   * one with the settings it reads at start (residualLens.executionProvider, engineThreads) and
   * loads the model again. Requests in flight end as cancelled. Resolves once the worker has exited.
   */
  async restart(): Promise<void> {
    if (this.closed) return;
    const client = this.client;
    this.client = undefined;
    this.info = undefined;
    this.partlyOnCpu = false;
    this.running = 0;
    this.setStatus('idle');
    await client?.close();
  }

  /** Closes the engine and resolves once its worker thread has exited (deactivation awaits this). */
  close(): Promise<void> {
    const client = this.client;
    this.dispose();
    return client ? client.close() : Promise.resolve();
  }

  dispose(): void {
    this.closed = true;
    this.client?.dispose();
    this.client = undefined;
    this.emitter.dispose();
  }
}

/** residualLens.executionProvider; read when the worker starts (a change applies to the next engine). */
function executionProviderSetting(): 'auto' | 'cpu' | 'webgpu' {
  const value = vscode.workspace.getConfiguration('residualLens').get<string>('executionProvider', 'auto');
  return value === 'cpu' || value === 'webgpu' ? value : 'auto';
}

/**
 * onnxruntime threads for the extension's engine: `residualLens.engineThreads`, or by default every
 * core, with the engine below normal priority (src/engine/threadPriority.ts) so the extension
 * host and the editor get a core the moment they need one. Where one thread cannot be lowered
 * (not Linux), every core but one: on 2 cores a trace on 2 threads at normal priority starved the
 * extension host's event loop past 50 ms. Measured in bench/panel.ts (--engine-threads).
 */
function engineThreading(): { threads: number; lowPriority: boolean } {
  const cores = os.availableParallelism();
  const lowPriority = canLowerThreadPriority();
  const setting = vscode.workspace.getConfiguration('residualLens').get<number>('engineThreads', 0);
  if (Number.isInteger(setting) && setting > 0) return { threads: Math.min(setting, cores), lowPriority };
  return { threads: lowPriority ? cores : Math.max(1, cores - 1), lowPriority };
}
