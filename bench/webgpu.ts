/**
 * WebGPU execution provider vs CPU on tiny shapes: session creation and per-run overheads.
 * On this machine kind the only WebGPU adapter is Mesa's lavapipe (a software Vulkan device on the
 * CPU), so the figures are overheads of the EP path (upload, dispatch, read-back), not GPU speed.
 * Checkpoint: 2 layers, d_model 64, 4 heads, vocab 50257 (.bench/tiny-webgpu, built once).
 * The WebGPU probe (self-check) is timed once; then per EP, CPU / WebGPU / CPU: engine load (both sessions), the instrumented
 * trace at T = 8 and 32 (median of 7), the lens table at T = 32 (median of 3), and a 256³ MatMul session (create, run).
 *
 * Run alone: node --import tsx bench/webgpu.ts   (prints JSON; `skipped` without an adapter)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../src/engine/engine';
import { webGpuAvailability, type ExecutionProvider } from '../src/engine/executionProvider';
import { createOrtMatmulBackend } from '../src/engine/matmulBackend';
import { median, printWhenRunAlone, round1 } from './section';

const ROOT = path.resolve(__dirname, '..');
const MODEL_DIR = path.join(ROOT, '.bench', 'tiny-webgpu');
const BUILD_VERSION = 'tiny-webgpu v1 seed 7';
const CONFIG = { nLayer: 2, nHead: 4, dModel: 64, dVocab: 50257, nCtx: 128, seed: 7 };
const RUNS = 7;

const log = (line: string): void => {
  process.stderr.write(`[bench] webgpu: ${line}\n`);
};

async function ensureCheckpoint(): Promise<string> {
  const marker = path.join(MODEL_DIR, 'bench-build.txt');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === BUILD_VERSION) return MODEL_DIR;
  const { writeRandomCheckpoint } = await import('../test/helpers/checkpointWriter');
  fs.rmSync(MODEL_DIR, { recursive: true, force: true });
  writeRandomCheckpoint(MODEL_DIR, CONFIG);
  fs.writeFileSync(marker, BUILD_VERSION);
  return MODEL_DIR;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface EpFigures {
  loadMs: number;
  firstTraceMs: number;
  traceMs: Record<string, number>;
  lensTableT32Ms: number;
  matmul256: { createMs: number; firstRunMs: number; runMs: number };
}

async function measure(provider: ExecutionProvider, folder: string): Promise<EpFigures> {
  const engine = new Engine({ threads: 1, executionProvider: provider, reusePrefix: false }); // full traces of the same text
  try {
    const loadMs = await time(() => engine.load({ folder, name: 'tiny-webgpu', cacheDir: folder }));
    const text = (T: number): string => ' a'.repeat(T - 1);
    const firstTraceMs = await time(() => engine.trace({ text: text(8) }));
    const traceMs: Record<string, number> = {};
    for (const T of [8, 32]) {
      const runs: number[] = [];
      for (let i = 0; i < RUNS; i++) runs.push(await time(() => engine.trace({ text: text(T) })));
      traceMs[`T${T}`] = round1(median(runs));
    }
    const trace = await engine.trace({ text: text(32) });
    const lensRuns: number[] = [];
    for (let i = 0; i < 3; i++) lensRuns.push(await time(() => engine.lens({ traceId: trace.traceId })));

    const n = 256;
    const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
    let backend: Awaited<ReturnType<typeof createOrtMatmulBackend>> | undefined;
    const createMs = await time(async () => (backend = await createOrtMatmulBackend({ threads: 1, provider })));
    try {
      const b = backend;
      if (!b) throw new Error('no backend');
      const firstRunMs = await time(() => b.matmul(a, a, n, n, n));
      const mm: number[] = [];
      for (let i = 0; i < RUNS; i++) mm.push(await time(() => b.matmul(a, a, n, n, n)));
      return {
        loadMs: round1(loadMs),
        firstTraceMs: round1(firstTraceMs),
        traceMs,
        lensTableT32Ms: round1(median(lensRuns)),
        matmul256: { createMs: round1(createMs), firstRunMs: round1(firstRunMs), runMs: round1(median(mm)) },
      };
    } finally {
      await backend?.release();
    }
  } finally {
    await engine.dispose();
  }
}

export async function benchWebGpu(): Promise<Record<string, unknown>> {
  const probeStarted = performance.now();
  const availability = await webGpuAvailability();
  const probeMs = round1(performance.now() - probeStarted);
  if (!availability.available) return { skipped: availability.reason ?? 'no WebGPU adapter' };
  const folder = await ensureCheckpoint();
  log('cpu');
  const cpu = await measure('cpu', folder);
  log('webgpu');
  const webgpu = await measure('webgpu', folder);
  log('cpu again');
  const cpu2 = await measure('cpu', folder);
  return {
    shape: CONFIG,
    probeMs,
    note: 'single ORT thread; on this machine kind WebGPU is lavapipe (software), so these are overheads, not GPU speed',
    cpu,
    webgpu,
    cpuAgain: cpu2,
    ratios: {
      load: round1(webgpu.loadMs / cpu.loadMs),
      traceT8: round1(webgpu.traceMs.T8 / cpu.traceMs.T8),
      traceT32: round1(webgpu.traceMs.T32 / cpu.traceMs.T32),
      lensTableT32: round1(webgpu.lensTableT32Ms / cpu.lensTableT32Ms),
      matmul256Run: round1(webgpu.matmul256.runMs / cpu.matmul256.runMs),
    },
  };
}

if (require.main === module) {
  printWhenRunAlone(() => benchWebGpu());
}
