/**
 * Which onnxruntime execution provider (EP) runs the engine's graphs: the CPU, or the WebGPU EP
 * that onnxruntime-node 1.30 carries (Vulkan on Linux, Metal on macOS, D3D12 on Windows).
 *
 * `auto` and `webgpu` both probe once per process: a WebGPU session of a small graph (LayerNorm,
 * MatMul, GELU's Tanh, Softmax, TopK: the op kinds the engine's graphs use) must be created and give
 * the CPU's numbers within SELF_CHECK_TOLERANCE. Otherwise the CPU runs, and `note` says why in one
 * line (no adapter, a failed self-check). `webgpu` differs from `auto` only in that the note is also
 * given when WebGPU was merely asked for and is not there; a silent CPU run is never a surprise.
 *
 * `auto` on Linux also needs a GPU device node: without one the only Vulkan device is a software
 * one (Mesa's lavapipe), correct but far slower than the CPU EP (CI uses it, forced, for the
 * WebGPU tests).
 */
import * as fs from 'node:fs';
import { prepareOrtEnvironment } from './ortEnvironment';
import * as ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from './onnx/model';

/** The `residualLens.executionProvider` setting / `--execution-provider` flag. */
export type ExecutionProviderSetting = 'auto' | 'cpu' | 'webgpu';
/** The EP a session actually runs on. */
export type ExecutionProvider = 'cpu' | 'webgpu';

export const EXECUTION_PROVIDER_SETTINGS: readonly ExecutionProviderSetting[] = ['auto', 'cpu', 'webgpu'];

/** Largest |WebGPU − CPU| the self-check accepts (the tolerance for every graph). */
export const SELF_CHECK_TOLERANCE = 1e-4;

export interface ExecutionProviderChoice {
  readonly requested: ExecutionProviderSetting;
  readonly provider: ExecutionProvider;
  /** One line for the output channel when WebGPU was wanted (auto or webgpu) but the CPU runs. */
  readonly note?: string;
  /** Time the probe took, ms (0 for `cpu`). */
  readonly probeMs: number;
  /** One line when WebGPU runs on a software device (`webgpu` asked for on Linux without a GPU device node). */
  readonly warning?: string;
}

/** Said when `webgpu` runs without a GPU device: the adapter can only be a software one (lavapipe). */
export const SOFTWARE_DEVICE_WARNING = 'WebGPU runs on a software Vulkan device here (no GPU device: /dev/dri/renderD*, /dev/nvidia*): correct, but far slower than the CPU; the execution provider auto or cpu uses the CPU instead.';

export function isExecutionProviderSetting(value: unknown): value is ExecutionProviderSetting {
  return typeof value === 'string' && (EXECUTION_PROVIDER_SETTINGS as readonly string[]).includes(value);
}

/** ORT's executionProviders list for a session on `provider` (nodes WebGPU lacks stay on the CPU). */
export function providerList(provider: ExecutionProvider): string[] {
  return provider === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'];
}

const SELF_CHECK_ROWS = 4;
const SELF_CHECK_D = 32;
const SELF_CHECK_N = 48;

/** x [4, 32] → LayerNorm → MatMul [32, 48] → tanh → softmax → top-3; outputs the probabilities and top-k. */
function selfCheckGraph(): Uint8Array {
  const g = new GraphBuilder('residual_lens_ep_self_check');
  const rnd = lcg(13);
  const w = Float32Array.from({ length: SELF_CHECK_D * SELF_CHECK_N }, () => rnd() * 0.5);
  const gain = Float32Array.from({ length: SELF_CHECK_D }, () => 1 + rnd() * 0.2);
  const bias = Float32Array.from({ length: SELF_CHECK_D }, () => rnd() * 0.1);
  const x = g.input('x', DataType.FLOAT, [SELF_CHECK_ROWS, SELF_CHECK_D]);
  const ln = g.op('LayerNormalization', [x, g.floats('gain', [SELF_CHECK_D], gain), g.floats('bias', [SELF_CHECK_D], bias)], { axis: { i: -1 }, epsilon: { f: 1e-5 } });
  const h = g.op('Tanh', [g.op('MatMul', [ln, g.floats('w', [SELF_CHECK_D, SELF_CHECK_N], w)])]);
  g.op('Softmax', [h], { axis: { i: -1 } }, 'p');
  g.node('TopK', ['p', g.constInts([3])], 2, { axis: { i: -1 } }, ['top', 'top_ids']);
  g.output('p', DataType.FLOAT, [SELF_CHECK_ROWS, SELF_CHECK_N]);
  g.output('top', DataType.FLOAT, [SELF_CHECK_ROWS, 3]);
  return g.build();
}

/** Deterministic numbers in [-1, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

async function runSelfCheck(provider: ExecutionProvider): Promise<Float32Array> {
  prepareOrtEnvironment(); // before ORT's environment exists (ortEnvironment.ts)
  const session = await ort.InferenceSession.create(selfCheckGraph(), { executionProviders: providerList(provider), logSeverityLevel: 3 });
  try {
    const rnd = lcg(7);
    const x = Float32Array.from({ length: SELF_CHECK_ROWS * SELF_CHECK_D }, () => rnd() * 3);
    const out = await session.run({ x: new ort.Tensor('float32', x, [SELF_CHECK_ROWS, SELF_CHECK_D]) });
    const p = out.p.data as Float32Array;
    const top = out.top.data as Float32Array;
    const both = new Float32Array(p.length + top.length);
    both.set(p);
    both.set(top, p.length);
    return both;
  } finally {
    await session.release();
  }
}

/**
 * Probes WebGPU: resolves to undefined when it works, else the reason (first line of ORT's error,
 * or the self-check's largest difference).
 */
export async function probeWebGpu(): Promise<string | undefined> {
  let gpu: Float32Array;
  try {
    gpu = await runSelfCheck('webgpu');
  } catch (err) {
    return `WebGPU is not available (${firstLine(err)})`;
  }
  const cpu = await runSelfCheck('cpu');
  let worst = 0;
  for (let i = 0; i < cpu.length; i++) {
    const d = Math.abs(cpu[i] - gpu[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  if (!(worst <= SELF_CHECK_TOLERANCE)) return `WebGPU's self-check differed from the CPU by ${worst.toExponential(2)} (> ${SELF_CHECK_TOLERANCE})`;
  return undefined;
}

let probed: Promise<string | undefined> | undefined;

/** The EP to run for `setting`; the WebGPU probe runs at most once per process (about 0.3–1 s). */
export async function chooseExecutionProvider(setting: ExecutionProviderSetting): Promise<ExecutionProviderChoice> {
  if (setting === 'cpu') return { requested: setting, provider: 'cpu', probeMs: 0 };
  if (setting === 'auto' && !hasGpuDevice()) {
    return { requested: setting, provider: 'cpu', note: 'No GPU device was found (/dev/dri/renderD*, /dev/nvidia*), so WebGPU could only use a software device; running on the CPU.', probeMs: 0 };
  }
  const started = performance.now();
  probed ??= probeWebGpu();
  const failure = await probed;
  const probeMs = performance.now() - started;
  // `auto` returned above without a device; `webgpu` runs, but the user should know on what.
  if (failure === undefined) return { requested: setting, provider: 'webgpu', probeMs, ...(hasGpuDevice() ? {} : { warning: SOFTWARE_DEVICE_WARNING }) };
  return { requested: setting, provider: 'cpu', note: `${failure}; running on the CPU.`, probeMs };
}

/** Whether WebGPU passes the probe here (for tests that need it: they skip with `reason` otherwise). */
export async function webGpuAvailability(): Promise<{ available: boolean; reason?: string }> {
  probed ??= probeWebGpu();
  const failure = await probed;
  return failure === undefined ? { available: true } : { available: false, reason: failure };
}

/** Linux: a DRM render node or an NVIDIA device exists (or WSL's /dev/dxg). Other systems: assume yes and let the probe decide. */
export function hasGpuDevice(): boolean {
  if (process.platform !== 'linux') return true;
  try {
    if (fs.readdirSync('/dev/dri').some((name) => name.startsWith('renderD'))) return true;
  } catch {
    // no /dev/dri
  }
  return fs.existsSync('/dev/nvidia0') || fs.existsSync('/dev/dxg');
}

/** The first line of an error, without ORT's source location and failed-check prefix. */
function firstLine(err: unknown): string {
  const line = (err instanceof Error ? err.message : String(err)).split('\n')[0].trim();
  return line.replace(/^.*? was false\. /, '');
}
