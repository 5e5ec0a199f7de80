/**
 * CPU against WebGPU on real-sized checkpoints, for a machine with a GPU (the device kit,
 * scripts/device/: bundled with esbuild, run there by scripts/device/run.sh). Per checkpoint and
 * execution provider: the engine's load (sessions created, WebGPU's self-check included), the
 * instrumented trace at each length (one warm-up, then the median of `--runs`), and the full logit
 * lens table at the longest length (one warm-up, then the median of 2); then WebGPU's traces against
 * the CPU's: the same top-1 at every position, and the largest top-k logit difference.
 *
 * node --import tsx bench/gpu.ts --model small=DIR [--model xl=DIR2] [--lengths 32,128] [--runs 5]
 *   [--providers cpu,webgpu] [--random tiny=2,64,4]   (prints JSON)
 * --random NAME=L,D,H writes a random checkpoint of that shape (vocab 50257) under .bench/gpu/ first:
 * for trying the kit where there is no Python with transformers (lavapipe here); on the GPU machine
 * Python writes GPT-2-small and XL shapes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../src/engine/engine';
import { webGpuAvailability, type ExecutionProvider } from '../src/engine/executionProvider';
import type { Trace } from '../src/engine/types';
import { median, round1, variedTextOfLength } from './section';

interface Options {
  readonly models: { readonly name: string; readonly folder: string }[];
  readonly lengths: number[];
  readonly runs: number;
  readonly providers: ExecutionProvider[];
}

const log = (line: string): void => {
  process.stderr.write(`[gpu] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
};

function parseArgs(argv: readonly string[]): Options & { readonly random: { name: string; shape: number[] }[] } {
  const models: Options['models'][number][] = [];
  const random: { name: string; shape: number[] }[] = [];
  let lengths = [32, 128];
  let runs = 5;
  let providers: ExecutionProvider[] = ['cpu', 'webgpu'];
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    const named = /^([\w.-]+)=(.+)$/.exec(value);
    if (flag === '--model' && named) models.push({ name: named[1], folder: path.resolve(named[2]) });
    else if (flag === '--random' && named) random.push({ name: named[1], shape: named[2].split(',').map(Number) });
    else if (flag === '--lengths') lengths = value.split(',').map(Number);
    else if (flag === '--runs') runs = Number(value);
    else if (flag === '--providers') providers = value.split(',') as ExecutionProvider[];
    else throw new Error(`gpu bench: unknown or incomplete argument ${flag} ${value}`);
    i++;
  }
  if (lengths.some((T) => !Number.isInteger(T) || T < 2) || !Number.isInteger(runs) || runs < 1) throw new Error('gpu bench: --lengths are whole numbers ≥ 2, --runs ≥ 1');
  if (providers.some((p) => p !== 'cpu' && p !== 'webgpu')) throw new Error('gpu bench: --providers takes cpu and webgpu');
  return { models, random, lengths, runs, providers };
}

async function time<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** One checkpoint on one provider: load, traces, lens table; the last trace per length is kept for the comparison. */
async function measure(folder: string, name: string, provider: ExecutionProvider, o: Options, cacheDir: string): Promise<{ figures: Record<string, unknown>; traces: Map<number, Trace> }> {
  const engine = new Engine({ executionProvider: provider, threads: os.availableParallelism(), reusePrefix: false });
  const traces = new Map<number, Trace>();
  try {
    const load = await time(() => engine.load({ folder, name, cacheDir }));
    const info = load.value;
    log(`${name} on ${provider}: loaded in ${round1(load.ms)} ms, running on ${info.executionProvider ?? 'cpu'}${info.executionProviderNote ? ` (${info.executionProviderNote})` : ''}`);
    const trace: Record<string, number> = {};
    for (const T of o.lengths) {
      const text = variedTextOfLength(T);
      const first = await time(() => engine.trace({ text }));
      const ms: number[] = [];
      let last = first.value;
      for (let i = 0; i < o.runs; i++) {
        const r = await time(() => engine.trace({ text }));
        ms.push(r.ms);
        last = r.value;
      }
      traces.set(T, last);
      trace[`T${last.tokens.length}FirstMs`] = round1(first.ms);
      trace[`T${last.tokens.length}Ms`] = round1(median(ms));
      log(`${name} on ${provider}: trace T=${last.tokens.length} ${round1(median(ms))} ms`);
    }
    const longest = traces.get(Math.max(...o.lengths));
    let lensTableMs: number | undefined;
    if (longest) {
      await engine.lens({ traceId: longest.traceId });
      const ms: number[] = [];
      for (let i = 0; i < 2; i++) ms.push((await time(() => engine.lens({ traceId: longest.traceId }))).ms);
      lensTableMs = round1(median(ms));
      log(`${name} on ${provider}: lens table ${lensTableMs} ms`);
    }
    return {
      figures: { ranOn: info.executionProvider ?? 'cpu', ...(info.executionProviderNote ? { note: info.executionProviderNote } : {}), loadMs: round1(load.ms), trace, lensTableMs, lensTableRows: longest ? (info.config.nLayer + 1) * longest.tokens.length : undefined },
      traces,
    };
  } finally {
    await engine.dispose();
  }
}

/** WebGPU's traces against the CPU's: top-1 agreement and the largest top-k logit difference where the ids agree. */
function compare(cpu: Map<number, Trace>, gpu: Map<number, Trace>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [T, a] of cpu) {
    const b = gpu.get(T);
    if (!b) continue;
    const k = a.logitsTop.k;
    let top1 = 0;
    let maxLogitDiff = 0;
    for (let pos = 0; pos < a.tokens.length; pos++) {
      if (a.logitsTop.ids[pos * k] === b.logitsTop.ids[pos * k]) top1++;
      for (let j = 0; j < k; j++) {
        const i = pos * k + j;
        if (a.logitsTop.ids[i] === b.logitsTop.ids[i]) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(a.logitsTop.logits[i] - b.logitsTop.logits[i]));
      }
    }
    let maxResidDiff = 0;
    for (let i = 0; i < a.resid.length; i++) maxResidDiff = Math.max(maxResidDiff, Math.abs(a.resid[i] - b.resid[i]));
    out[`T${T}`] = { sameTop1: `${top1} of ${a.tokens.length}`, maxTopKLogitDiff: maxLogitDiff, maxResidDiff };
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const root = path.resolve(__dirname, '..');
  const cacheDir = path.join(os.tmpdir(), 'residual-lens-gpu-cache');
  const models = [...args.models];
  for (const r of args.random) {
    const folder = path.join(root, '.bench', 'gpu', r.name);
    if (!fs.existsSync(path.join(folder, 'model.safetensors'))) {
      const [nLayer, dModel, nHead] = r.shape;
      log(`writing a random checkpoint ${r.name}: ${nLayer} layers, d_model ${dModel}, ${nHead} heads`);
      const { writeRandomCheckpoint } = await import('../test/helpers/checkpointWriter');
      writeRandomCheckpoint(folder, { nLayer, dModel, nHead, dVocab: 50257, nCtx: 1024, seed: 5 });
    }
    models.push({ name: r.name, folder });
  }
  if (models.length === 0) throw new Error('gpu bench: name a checkpoint with --model NAME=DIR or --random NAME=L,D,H');
  const adapter = await webGpuAvailability();
  const result: Record<string, unknown> = { cpus: os.availableParallelism(), webgpu: adapter.available ? 'available' : `unavailable: ${adapter.reason}`, lengths: args.lengths, runs: args.runs, models: {} };
  const perModel = result.models as Record<string, unknown>;
  for (const m of models) {
    const byProvider: Record<string, unknown> = {};
    const traces = new Map<ExecutionProvider, Map<number, Trace>>();
    for (const provider of args.providers) {
      if (provider === 'webgpu' && !adapter.available) {
        byProvider.webgpu = { skipped: adapter.reason };
        continue;
      }
      try {
        const r = await measure(m.folder, m.name, provider, args, cacheDir);
        byProvider[provider] = r.figures;
        traces.set(provider, r.traces);
      } catch (err) {
        byProvider[provider] = { failed: err instanceof Error ? err.message.split('\n')[0] : String(err) };
        log(`${m.name} on ${provider} failed: ${String(err)}`);
      }
    }
    const cpu = traces.get('cpu');
    const gpu = traces.get('webgpu');
    perModel[m.name] = { ...byProvider, ...(cpu && gpu ? { webgpuVsCpu: compare(cpu, gpu) } : {}) };
    // Written after every model: a run cut short by its time limit still leaves what it measured.
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
