/**
 * EngineClient: the extension host's (or CLI's) side of the engine. Spawns the worker
 * (dist/worker.js) on first use, matches replies to requests, forwards progress, cancels on
 * AbortSignal, and survives the worker dying: pending requests reject with code 'crashed' and the
 * next request starts a fresh worker that first reloads the last model.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { ExecutionProviderSetting } from './executionProvider';
import {
  ENGINE_PROTOCOL_VERSION,
  EngineError,
  type EngineMethod,
  type EngineMethods,
  type HostToWorker,
  type LoadParams,
} from '../protocol/engine';
import { prepareOrtEnvironment } from './ortEnvironment';
import type { ProgressPayload } from '../protocol/patching';

/** How long a closing worker may take to finish its current request before it is terminated. */
export const DISPOSE_GRACE_MS = 10_000;

export const CRASHED_MESSAGE = 'The Residual Lens engine stopped unexpectedly; the next request starts a fresh one.';

/** What the client hands the worker at start (worker_threads workerData). */
export interface EngineWorkerData {
  readonly threads?: number;
  readonly executionProvider?: ExecutionProviderSetting;
  /** Lower the worker thread's priority (and so onnxruntime's threads) before anything loads: threadPriority.ts. */
  readonly lowPriority?: boolean;
}

export interface EngineClientOptions {
  /** The bundled worker script (dist/worker.js). */
  readonly workerPath: string;
  /** onnxruntime intra-op threads in the worker; default: every core. */
  readonly threads?: number;
  /** Run the engine below normal priority (Linux: the worker thread's nice value; see threadPriority.ts). */
  readonly lowPriority?: boolean;
  /** Where the worker's graphs run (executionProvider.ts); default the CPU. */
  readonly executionProvider?: ExecutionProviderSetting;
  /** Diagnostics (worker exits, protocol problems) for an output channel. */
  readonly log?: (line: string) => void;
  /** A graph created after the load runs on the CPU because WebGPU could not run it (also logged). */
  readonly onFallback?: (text: string) => void;
  /** V8 heap limits for the worker; an out-of-memory worker is reported like any crash. */
  readonly resourceLimits?: ResourceLimits;
  /** Node flags for the worker; default: the parent's (so tests under tsx can run worker.ts). */
  readonly execArgv?: string[];
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (stage: string) => void;
  /** Partial results (a patching sweep's rows) as they arrive. */
  readonly onPayload?: (payload: ProgressPayload) => void;
}

interface Pending {
  readonly method: EngineMethod;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: EngineError) => void;
  readonly onProgress?: (stage: string) => void;
  readonly onPayload?: (payload: ProgressPayload) => void;
  /** Removes the abort listener. */
  readonly cleanup: () => void;
}

export class EngineClient {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lastLoad: LoadParams | undefined;
  private disposed = false;
  /** Resolves when the worker of a disposed client has exited. */
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly options: EngineClientOptions) {}

  /** The last model loaded successfully (undefined after a cancelled load: the worker's model is then unknown); reloaded automatically into a fresh worker after a crash. */
  get loaded(): LoadParams | undefined {
    return this.lastLoad;
  }

  request<M extends EngineMethod>(method: M, params: EngineMethods[M]['params'], options: RequestOptions = {}): Promise<EngineMethods[M]['result']> {
    if (this.disposed) return Promise.reject(new EngineError('cancelled', 'The engine was closed.'));
    if (options.signal?.aborted) return Promise.reject(new EngineError('cancelled', 'Cancelled.'));
    const worker = this.ensureWorker(method);
    const id = this.nextId++;
    return new Promise<EngineMethods[M]['result']>((resolve, reject) => {
      const signal = options.signal;
      const onAbort = (): void => {
        if (!this.settle(id)) return;
        // A load cancelled while it runs may still finish in the worker: which model the worker
        // holds is unknown until the next load, so `loaded` must not claim the previous one.
        if (method === 'load') this.lastLoad = undefined;
        this.post({ v: ENGINE_PROTOCOL_VERSION, kind: 'cancel', id });
        reject(new EngineError('cancelled', 'Cancelled.'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        method,
        resolve: (value) => {
          if (method === 'load') this.lastLoad = params as LoadParams;
          if (method === 'dispose') {
            // The worker exits on its own now: neither a crash nor a model to reload.
            this.lastLoad = undefined;
            if (this.worker === worker) this.worker = undefined;
          }
          resolve(value as EngineMethods[M]['result']);
        },
        reject,
        onProgress: options.onProgress,
        onPayload: options.onPayload,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      worker.ref();
      this.post({ v: ENGINE_PROTOCOL_VERSION, kind: 'request', id, method, params, ...(options.onPayload && { payloads: true }) });
    });
  }

  /** Terminates the worker; pending requests reject with code 'cancelled'. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const worker = this.worker;
    this.worker = undefined;
    const ids = [...this.pending.keys()];
    this.rejectAll(new EngineError('cancelled', 'The engine was closed.'));
    if (!worker) return;
    // Terminating a worker while onnxruntime creates a session or runs aborts the whole process
    // (a Napi::Error thrown into a dying environment; measured). So: cancel everything, let the
    // worker finish its current native call, release its sessions and exit on its own; terminate
    // only a worker that has not exited after DISPOSE_GRACE_MS.
    this.exited = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.log?.(`engine: the worker did not exit within ${DISPOSE_GRACE_MS} ms of closing; terminating it`);
        void worker.terminate();
      }, DISPOSE_GRACE_MS);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    worker.ref();
    for (const id of ids) worker.postMessage({ v: ENGINE_PROTOCOL_VERSION, kind: 'cancel', id } satisfies HostToWorker);
    worker.postMessage({ v: ENGINE_PROTOCOL_VERSION, kind: 'request', id: this.nextId++, method: 'dispose', params: {} } satisfies HostToWorker);
  }

  /** Disposes, and resolves once the worker thread has exited (deactivation awaits this). */
  close(): Promise<void> {
    this.dispose();
    return this.exited;
  }

  /** Whether a worker thread is running now (for tests and status). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  private ensureWorker(method: EngineMethod): Worker {
    if (this.worker) return this.worker;
    prepareOrtEnvironment(); // the worker's ORT reads the process environment (ortEnvironment.ts)
    const worker = new Worker(this.options.workerPath, {
      workerData: { threads: this.options.threads, executionProvider: this.options.executionProvider, lowPriority: this.options.lowPriority } satisfies EngineWorkerData,
      resourceLimits: this.options.resourceLimits,
      ...(this.options.execArgv ? { execArgv: this.options.execArgv } : {}),
    });
    this.worker = worker;
    worker.on('message', (message: unknown) => this.onMessage(message));
    worker.on('error', (err: Error) => this.onDeath(worker, `error: ${err.message}`));
    worker.on('exit', (code: number) => this.onDeath(worker, `exit code ${code}`));
    // A fresh worker after a crash: reload the last model before the caller's request.
    if (this.lastLoad && method !== 'load') {
      const reload = this.lastLoad;
      this.request('load', reload).catch((err: unknown) => {
        this.options.log?.(`engine: reloading ${reload.folder} failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    return worker;
  }

  private post(message: HostToWorker): void {
    this.worker?.postMessage(message);
  }

  private onMessage(message: unknown): void {
    if (typeof message !== 'object' || message === null) return;
    const m = message as Record<string, unknown>;
    if (m.kind === 'notice' && m.v === ENGINE_PROTOCOL_VERSION && typeof m.text === 'string') {
      this.options.log?.(`engine: ${m.text}`);
      if (m.fallback === true) this.options.onFallback?.(m.text);
      return;
    }
    if (typeof m.id !== 'number') return;
    if (m.v !== ENGINE_PROTOCOL_VERSION) {
      // A stale worker bundle: fail the request instead of waiting forever.
      const stale = this.pending.get(m.id);
      this.options.log?.(`engine: a message with protocol version ${String(m.v)} (expected ${ENGINE_PROTOCOL_VERSION})`);
      if (stale && this.settle(m.id)) {
        stale.reject(new EngineError('protocol', `The engine worker speaks protocol version ${String(m.v)}, not ${ENGINE_PROTOCOL_VERSION}; rebuild the extension.`));
      }
      return;
    }
    const pending = this.pending.get(m.id);
    if (!pending) {
      // Cancelled or already answered: a late reply is dropped.
      if (m.kind === 'response' && !this.disposed) {
        const code = m.ok === true ? 'ok' : String((m.error as { code?: unknown } | undefined)?.code);
        this.options.log?.(`engine: dropped the late reply to request ${m.id} (${code})`);
      }
      return;
    }
    if (m.kind === 'progress' && typeof m.stage === 'string') {
      if (isRecord(m.payload)) pending.onPayload?.(m.payload as unknown as ProgressPayload);
      else pending.onProgress?.(m.stage);
      return;
    }
    if (m.kind !== 'response') return;
    this.settle(m.id);
    if (m.ok === true) {
      pending.resolve(m.result);
    } else {
      const e = (m.error ?? {}) as { code?: unknown; message?: unknown; detail?: unknown };
      const code = typeof e.code === 'string' ? (e.code as EngineError['code']) : 'internal';
      pending.reject(new EngineError(code, typeof e.message === 'string' ? e.message : 'Engine error.', typeof e.detail === 'string' ? e.detail : undefined));
    }
  }

  /** Removes a pending request; false when it was already settled. */
  private settle(id: number): boolean {
    const pending = this.pending.get(id);
    if (!pending) return false;
    this.pending.delete(id);
    pending.cleanup();
    if (this.pending.size === 0) this.worker?.unref();
    return true;
  }

  private onDeath(worker: Worker, why: string): void {
    if (this.worker !== worker) return; // disposed, or already handled (error is followed by exit)
    this.worker = undefined;
    this.options.log?.(`engine: worker stopped (${why})`);
    this.rejectAll(new EngineError('crashed', CRASHED_MESSAGE, why));
  }

  private rejectAll(error: EngineError): void {
    const all = [...this.pending.entries()];
    for (const [id, p] of all) {
      this.settle(id);
      p.reject(error);
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
