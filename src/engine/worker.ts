/**
 * The engine worker thread (bundled as dist/worker.js). ORT's create and run block their thread,
 * so the engine lives here, behind the typed protocol of src/protocol/engine.ts.
 *
 * Requests run one at a time in arrival order. A cancel drops a queued request at once; a running
 * one stops at its next stage boundary. Both are answered with code 'cancelled'. Results travel
 * back with their typed arrays transferred, not copied — except the arrays the engine keeps for
 * follow-up requests (lens, attribution), which are copied.
 */
import { parentPort, resourceLimits, workerData } from 'node:worker_threads';
import type { EngineWorkerData } from './client';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Engine, type RequestContext } from './engine';
import { isExecutionProviderSetting } from './executionProvider';
import { exposeGc } from './exposeGc';
import { lowerThisThreadPriority } from './threadPriority';
import { traceJsonBytes } from './traceExport';
import {
  ENGINE_PROTOCOL_VERSION,
  EngineError,
  type EngineErrorPayload,
  type EngineMethod,
  type EngineMethods,
  type EngineRequest,
  type WorkerToHost,
} from '../protocol/engine';
import type { ProgressPayload } from '../protocol/patching';

type Handlers = { [M in EngineMethod]: (params: EngineMethods[M]['params'], ctx: RequestContext) => Promise<EngineMethods[M]['result']> | EngineMethods[M]['result'] };

const METHODS: readonly EngineMethod[] = ['load', 'tokenize', 'trace', 'traceSummary', 'forgetTrace', 'patternView', 'patternThumbs', 'lens', 'lensDistribution', 'attribute', 'attributeAll', 'headResults', 'circuits', 'headPair', 'mlpPair', 'dispose', 'traceJson', 'headSources', 'runInterventions', 'patchSweep', 'traceMetric', 'loadSae', 'saeFeatures', 'saeFeature', 'saeScan', 'saeReconstruction', 'saeSplice'];

/**
 * Test-only fault injection: RESIDUAL_LENS_WORKER_FAULT="exit:<method>" ends the thread when that
 * method arrives, "oom:<method>" allocates until V8 gives up (only under resourceLimits),
 * "pause:<method>" waits FAULT_PAUSE_MS before running it (a cancel sent meanwhile is then seen at
 * its first stage boundary, however busy the machine).
 */
const FAULT = process.env.RESIDUAL_LENS_WORKER_FAULT;
const FAULT_PAUSE_MS = 250;

/**
 * Evicted traces are old-generation garbage whose big buffers live outside the V8 heap; V8 lets
 * ~64 MiB of such external memory pile up before a full collection, which reads as RSS growth
 * (measured: +18 % over 200 traces on the demo model, then flat). Collecting when idle after every
 * GC_AFTER_EVICTED bytes of evicted trace data brought it to 0–8 % (bench/soak.ts); a full GC of
 * the worker's small heap takes a few milliseconds.
 */
const GC_AFTER_EVICTED = 4 * 1024 * 1024;
/**
 * …and only once no request has come for this long: right after a trace the host asks for its
 * follow-ups (the hover's DLA table within milliseconds), and a collection in between delayed that
 * answer and took CPU from the page's render (live lens, bench/liveLens.ts).
 */
const GC_WHEN_IDLE_MS = 300;

export function startWorker(port: NonNullable<typeof parentPort>): void {
  const data = (workerData ?? {}) as EngineWorkerData;
  // First: onnxruntime's threads, created later from this thread, inherit its priority. Where it
  // cannot be lowered the host did not ask (engineSession.ts keeps a core free instead).
  const priorityProblem = data.lowPriority === true ? lowerThisThreadPriority() : undefined;
  const threads = typeof data.threads === 'number' && Number.isInteger(data.threads) && data.threads > 0 ? data.threads : undefined;
  const executionProvider = isExecutionProviderSetting(data.executionProvider) ? data.executionProvider : undefined;
  const post = (message: WorkerToHost, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
  const notice = (text: string): void => post({ v: ENGINE_PROTOCOL_VERSION, kind: 'notice', text });
  // Marked, so the host's status bar can say that WebGPU runs only in part.
  const onGraphFallback = (text: string): void => post({ v: ENGINE_PROTOCOL_VERSION, kind: 'notice', text, fallback: true });
  const engine = new Engine({ ...(threads === undefined ? {} : { threads }), ...(executionProvider ? { executionProvider } : {}), onGraphFallback });
  const gc = exposeGc();
  let collectedAt = 0;
  const queue: EngineRequest[] = [];
  const cancelled = new Set<number>();
  let running: number | undefined;
  let busy = false;

  if (priorityProblem !== undefined) {
    notice(`the engine's threads could not be lowered below normal priority (${priorityProblem}); they run at normal priority, so the editor may feel slower while tracing`);
  }
  const fail = (id: number, error: EngineErrorPayload): void => post({ v: ENGINE_PROTOCOL_VERSION, kind: 'response', id, ok: false, error });

  const handlers: Handlers = {
    load: (p, ctx) => engine.load(p, ctx),
    tokenize: (p) => engine.tokenize(p),
    trace: (p, ctx) => engine.trace(p, ctx),
    traceSummary: (p, ctx) => engine.traceSummary(p, ctx),
    forgetTrace: (p) => engine.forgetTrace(p),
    patternView: (p) => engine.patternView(p),
    patternThumbs: (p) => engine.patternThumbs(p),
    lens: (p, ctx) => engine.lens(p, ctx),
    lensDistribution: (p) => engine.lensDistribution(p),
    attribute: (p) => engine.attribute(p),
    attributeAll: (p) => engine.attributeAll(p),
    headResults: (p) => engine.headResults(p),
    circuits: (p, ctx) => engine.circuits(p, ctx),
    headPair: (p) => engine.headPair(p),
    mlpPair: (p) => engine.mlpPair(p),
    runInterventions: (p, ctx) => engine.runInterventions(p, ctx),
    patchSweep: (p, ctx) => engine.patchSweep(p, ctx),
    traceMetric: (p, ctx) => engine.traceMetric(p, ctx),
    loadSae: (p) => engine.loadSae(p),
    saeFeatures: (p) => engine.saeFeatures(p),
    saeFeature: (p) => engine.saeFeature(p),
    saeScan: (p, ctx) => engine.saeScan(p, ctx),
    saeReconstruction: (p) => engine.saeReconstruction(p),
    saeSplice: (p, ctx) => engine.saeSplice(p, ctx),
    dispose: async () => {
      await engine.dispose();
      return null;
    },
    traceJson: (p, ctx) => traceJsonBytes(engine, p, ctx),
    headSources: (p) => engine.headSources(p),
  };

  async function handle(req: EngineRequest): Promise<void> {
    const ctx: RequestContext = {
      progress: (stage) => post({ v: ENGINE_PROTOCOL_VERSION, kind: 'progress', id: req.id, stage }),
      between: async () => {
        await yieldToEventLoop(); // lets queued cancel messages arrive
        if (cancelled.has(req.id)) throw new EngineError('cancelled', 'Cancelled.');
      },
      // Only for a caller that listens: a live trace or a patching run does not want the forward part.
      ...(req.payloads === true && {
        emit: (payload: ProgressPayload) => post({ v: ENGINE_PROTOCOL_VERSION, kind: 'progress', id: req.id, stage: payload.kind, payload }, transferList(payload, new Set())),
      }),
    };
    try {
      await ctx.between?.();
      if (FAULT === `pause:${req.method}`) {
        await new Promise((resolve) => setTimeout(resolve, FAULT_PAUSE_MS));
        await ctx.between?.();
      }
      const handler = handlers[req.method] as (params: unknown, ctx: RequestContext) => unknown;
      const result = await handler(req.params, ctx);
      post({ v: ENGINE_PROTOCOL_VERSION, kind: 'response', id: req.id, ok: true, result } as WorkerToHost, transferList(result, engine.retainedBuffers()));
      if (req.method === 'dispose') port.close();
    } catch (err) {
      fail(req.id, errorPayload(err));
    }
  }

  let gcTimer: ReturnType<typeof setTimeout> | undefined;
  /** A full collection once the worker has been idle GC_WHEN_IDLE_MS (a request meanwhile postpones it). */
  function scheduleGc(collect: () => void): void {
    clearTimeout(gcTimer);
    gcTimer = setTimeout(() => {
      gcTimer = undefined;
      if (busy || queue.length > 0) return; // the request's end schedules it again
      collectedAt = engine.evictedBytes;
      collect();
    }, GC_WHEN_IDLE_MS);
    gcTimer.unref?.();
  }

  async function pump(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      for (let req = queue.shift(); req; req = queue.shift()) {
        running = req.id;
        await handle(req);
        cancelled.delete(req.id);
        running = undefined;
        if (gc && queue.length === 0 && engine.evictedBytes - collectedAt >= GC_AFTER_EVICTED) scheduleGc(gc);
      }
    } finally {
      busy = false;
    }
  }

  port.on('message', (message: unknown) => {
    if (!isRecord(message) || (message.kind !== 'request' && message.kind !== 'cancel') || typeof message.id !== 'number') return;
    const id = message.id;
    if (message.v !== ENGINE_PROTOCOL_VERSION) {
      if (message.kind === 'request') fail(id, { code: 'protocol', message: `Engine protocol version ${String(message.v)} is not ${ENGINE_PROTOCOL_VERSION}; rebuild the extension.` });
      return;
    }
    if (message.kind === 'cancel') {
      const queued = queue.findIndex((r) => r.id === id);
      if (queued >= 0) {
        queue.splice(queued, 1);
        fail(id, { code: 'cancelled', message: 'Cancelled.' });
      } else if (running === id) {
        cancelled.add(id);
      }
      return;
    }
    const method = message.method;
    if (typeof method !== 'string' || !(METHODS as readonly string[]).includes(method) || !isRecord(message.params)) {
      fail(id, { code: 'protocol', message: `Unknown engine request ${JSON.stringify(method)}.` });
      return;
    }
    injectFault(method);
    clearTimeout(gcTimer); // not idle: the collection waits for the next quiet moment
    queue.push(message as unknown as EngineRequest);
    void pump();
  });
}

function injectFault(method: string): void {
  if (!FAULT) return;
  const [kind, target] = FAULT.split(':');
  if (target !== method) return;
  if (kind === 'exit') process.exit(70);
  if (kind === 'oom' && resourceLimits.maxOldGenerationSizeMb) {
    const hog: number[][] = [];
    for (;;) hog.push(new Array<number>(1 << 20).fill(hog.length));
  }
}

function errorPayload(err: unknown): EngineErrorPayload {
  if (err instanceof EngineError) return { code: err.code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) };
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return { code: 'internal', message: `Engine error: ${message}`, ...(err instanceof Error && err.stack ? { detail: err.stack } : {}) };
}

/** Every distinct ArrayBuffer under a result, except those the engine keeps (posted as copies). */
function transferList(value: unknown, keep: ReadonlySet<ArrayBufferLike>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const visit = (v: unknown, depth: number): void => {
    if (depth > 6 || v === null || typeof v !== 'object') return;
    if (ArrayBuffer.isView(v)) {
      if (v.buffer instanceof ArrayBuffer && !keep.has(v.buffer)) buffers.add(v.buffer);
      return;
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) visit(child, depth + 1);
  };
  visit(value, 0);
  return [...buffers];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

if (parentPort) startWorker(parentPort);
