/**
 * onnxruntime-node sessions with the options measured on this kind of machine
 * (see shared notes): intra-op threads = cores, one inter-op thread, no spinning.
 */
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import { providerList, type ExecutionProvider } from './executionProvider';
import { prepareOrtEnvironment } from './ortEnvironment';

export interface SessionSettings {
  /**
   * Keep weights memory-mapped from the external-data file instead of repacking them per session.
   * Saves one copy of every MatMul weight per session; costs forward time at small T (measured in bench).
   */
  readonly disablePrepacking?: boolean;
  /** Intra-op threads; default: the number of cores. */
  readonly threads?: number;
  /** Where the graphs run (executionProvider.ts chooses); default the CPU. */
  readonly provider?: ExecutionProvider;
  /**
   * Called when a WebGPU session could not be created (an op or shape it does not support) and
   * the same graph was created on the CPU instead; `reason` is one line.
   */
  readonly onFallback?: (reason: string) => void;
  /**
   * False: no CPU memory arena (a session among many that would each keep one sized to its
   * largest run, as the interventions' per-layer block sessions). Default true.
   */
  readonly memArena?: boolean;
}

/**
 * Prepacking stays on. Measured by `npm run bench` on GPT-2 small (2 cores): with the weights
 * memory-mapped instead (disable_prepacking), the instrumented trace took 72 vs 42 ms at T = 8,
 * 109 vs 76 ms at T = 32 and 164 vs 144 ms at T = 128, for the same peak RSS (≈ 880 MiB: mapped
 * pages count as resident once touched, while prepacked copies replace the mapping). Mapping only
 * wins on session creation (cold load about 0.5–1.3 s faster) and on sharing pages between
 * processes, which one worker per window does not need.
 */
export const DEFAULT_DISABLE_PREPACKING = false;

export function sessionOptions(weightsFolder: string | undefined, settings: SessionSettings = {}): ort.InferenceSession.SessionOptions {
  const extra: Record<string, string> = {
    // Flat key names: nested objects are silently ignored by the binding.
    'session.intra_op.allow_spinning': '0',
    'session.disable_prepacking': (settings.disablePrepacking ?? DEFAULT_DISABLE_PREPACKING) ? '1' : '0',
  };
  // External-data locations are resolved against this folder (the model bytes come from memory).
  if (weightsFolder) extra['session.model_external_initializers_file_folder_path'] = weightsFolder;
  return {
    intraOpNumThreads: settings.threads ?? Math.max(1, os.availableParallelism()),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(settings.memArena === false ? { enableCpuMemArena: false } : {}),
    // WebGPU: ORT logs a warning per graph for the shape ops it keeps on the CPU (normal); errors only.
    ...(settings.provider === 'webgpu' ? { executionProviders: providerList('webgpu'), logSeverityLevel: 3 as const } : {}),
    extra,
  };
}

/**
 * Creates a session from model bytes whose external data lives in `weightsFolder`.
 * Blocks the calling thread for the whole creation (run it in the worker).
 */
export async function createSession(model: Uint8Array, weightsFolder: string | undefined, settings?: SessionSettings): Promise<ort.InferenceSession> {
  prepareOrtEnvironment();
  if (settings?.provider !== 'webgpu') return ort.InferenceSession.create(model, sessionOptions(weightsFolder, settings));
  try {
    return await ort.InferenceSession.create(model, sessionOptions(weightsFolder, settings));
  } catch (err) {
    const cpu = await ort.InferenceSession.create(model, sessionOptions(weightsFolder, { ...settings, provider: 'cpu' }));
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    settings.onFallback?.(`WebGPU could not run a graph (${why}); that graph runs on the CPU.`);
    return cpu;
  }
}

/** Feeds: name → tensor; helpers keep call sites short and typed. */
export function int64Tensor(values: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
  return new ort.Tensor('int64', data, dims);
}

/** A scalar bool (a graph switch such as INPUTS.wantRank). */
export function boolScalar(value: boolean): ort.Tensor {
  return new ort.Tensor('bool', new Uint8Array([value ? 1 : 0]), []);
}

export function floatTensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** A float32 output as a Float32Array that owns its buffer (safe to transfer). */
export function floatOutput(outputs: ort.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  const t = outputs[name];
  if (!t || t.type !== 'float32') throw new Error(`ORT output '${name}' is missing or not float32`);
  return ownedCopy(t.data as Float32Array);
}

/** An int32 or int64 output as an Int32Array. */
export function intOutput(outputs: ort.InferenceSession.OnnxValueMapType, name: string): Int32Array {
  const t = outputs[name];
  if (!t) throw new Error(`ORT output '${name}' is missing`);
  if (t.type === 'int32') return ownedCopy(t.data as Int32Array);
  if (t.type === 'int64') {
    const src = t.data as BigInt64Array;
    const out = new Int32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
    return out;
  }
  throw new Error(`ORT output '${name}' is ${t.type}, expected an integer type`);
}

/** Output arrays may view a larger or shared buffer; a transferable array must own exactly its bytes. */
function ownedCopy<A extends Float32Array | Int32Array>(a: A): A {
  if (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer) return a;
  return a.slice() as A;
}
