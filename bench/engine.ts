/**
 * Engine benchmark on a GPT-2-small-shaped random checkpoint (12 layers, d_model 768, 12 heads,
 * vocab 50257, n_ctx 1024), built deterministically into .bench/ on first use.
 * Measured in one run: session creation, cold load, plain vs instrumented forward (alternating) at
 * T = 8, 32, 128, the lens (one position, full table) next to a 2048³ MatMul, per-head results,
 * mlp.hook_post, attributeAll (DLA of every position, what hovers read) at T = 32 and 128, peak RSS
 * (in a child process), and the same with prepacking disabled.
 *
 * Run alone: node --import tsx bench/engine.ts   (prints JSON; `--attribute-all` for only the attributeAll figures,
 * `--hook-split` for only forward.T128split: where the instrumented trace's extra time goes;
 * `--idle` for only forward.T128idle, traces spaced as the extension runs them, next to back to back)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { attributeAllPositions } from '../src/analysis/attribution';
import { Engine } from '../src/engine/engine';
import { exposeGc } from '../src/engine/exposeGc';
import { ensureF32Weights, openCheckpoint, readTensor, readUnembedColumn } from '../src/engine/checkpoint';
import { createOrtMatmulBackend } from '../src/engine/matmulBackend';
import { buildInstrumentedGraph, buildLensGraph, buildMatMulGraph, buildPlainGraph, FORWARD_OUTPUTS, INPUTS, type WeightLocator } from '../src/engine/graph';
import { forwardFeeds } from '../src/engine/prefixReuse';
import { LensRunner } from '../src/engine/lens';
import { createSession, int64Tensor } from '../src/engine/session';
import type { ModelConfig } from '../src/engine/types';
import { median, variedTextOfLength } from './section';

const ROOT = path.resolve(__dirname, '..');
export const BENCH_DIR = path.join(ROOT, '.bench');
const MODEL_DIR = path.join(BENCH_DIR, 'gpt2-small-random');
const BUILD_VERSION = 'gpt2-small-random v1 seed 2026';
export const GPT2_SMALL: Partial<ModelConfig> & { seed: number } = { nLayer: 12, nHead: 12, dModel: 768, dVocab: 50257, nCtx: 1024, seed: 2026 };
const LENGTHS = [8, 32, 128] as const;

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

function run(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`bench child ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The random GPT-2-small checkpoint (built in a child process so its JS weights never count in our RSS). */
export function ensureBenchCheckpoint(): string {
  const marker = path.join(MODEL_DIR, 'bench-build.txt');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === BUILD_VERSION) return MODEL_DIR;
  log(`building ${MODEL_DIR} (once)`);
  run(['--build']);
  return MODEL_DIR;
}

async function buildCheckpoint(): Promise<void> {
  const { writeRandomCheckpoint } = await import('../test/helpers/checkpointWriter');
  fs.rmSync(MODEL_DIR, { recursive: true, force: true });
  writeRandomCheckpoint(MODEL_DIR, GPT2_SMALL);
  fs.writeFileSync(path.join(MODEL_DIR, 'bench-build.txt'), BUILD_VERSION);
}

/** A text of exactly T tokens with BOS: " a" repeated T − 1 times. */
export function textOfLength(T: number): string {
  return ' a'.repeat(T - 1);
}

/** Wall milliseconds of one awaited call. */
export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
const mib = (bytes: number): number => round(bytes / 2 ** 20, 0);

/** FLOPs of one GPT-2 forward with the final unembedding. */
function forwardFlops(c: ModelConfig, T: number): number {
  const D = c.dModel;
  return c.nLayer * (2 * T * D * (3 * D + D + 2 * c.dMlp) + 4 * T * T * D) + 2 * T * D * c.dVocab;
}

/** The bench checkpoint's F32 weights (cached under .bench/cache) as a graph's external-data locator. */
export function locator(folder: string): { locate: WeightLocator; weightsFolder: string; config: ModelConfig } {
  const ckpt = openCheckpoint(folder);
  const f32 = ensureF32Weights(ckpt, path.join(BENCH_DIR, 'cache'));
  const locate: WeightLocator = (name, dims) => ({
    location: path.basename(f32.path),
    offset: f32.offsets.get(name) as number,
    byteLength: dims.reduce((a, b) => a * b, 1) * 4,
  });
  return { locate, weightsFolder: path.dirname(f32.path), config: ckpt.config };
}

/** A single MatMul [n, n] × [n, n] through ORT: the machine's reference GFLOP/s. */
async function matmulSession(n: number): Promise<{ session: ort.InferenceSession; feeds: Record<string, ort.Tensor> }> {
  const session = await createSession(buildMatMulGraph(), undefined);
  const data = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  return { session, feeds: { A: new ort.Tensor('float32', data, [n, n]), B: new ort.Tensor('float32', data.slice(), [n, n]) } };
}

/** Child: cold load (checkpoint → first trace), then peak RSS around a T=128 trace and the full lens table. */
async function childMemory(folder: string, disablePrepacking: boolean): Promise<void> {
  const t0 = performance.now();
  const engine = new Engine({ disablePrepacking, reusePrefix: false }); // full traces (the 128-token one starts like the 8-token one)
  await engine.load({ folder, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
  const loaded = performance.now();
  await engine.trace({ text: textOfLength(8) });
  const coldLoadMs = performance.now() - t0;
  const rssAfterLoad = process.memoryUsage().rss;
  const t = await engine.trace({ text: textOfLength(128) });
  const peakRssTrace128 = process.resourceUsage().maxRSS * 1024;
  await engine.lens({ traceId: t.traceId });
  const peakRssWithLens = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(JSON.stringify({ coldLoadMs, loadMs: loaded - t0, firstTraceMs: coldLoadMs - (loaded - t0), rssAfterLoad, peakRssTrace128, peakRssWithLens }));
  await engine.dispose();
}

export async function benchEngine(): Promise<Record<string, unknown>> {
  const folder = ensureBenchCheckpoint();
  const { locate, weightsFolder, config } = locator(folder);
  const result: Record<string, unknown> = {
    model: 'GPT-2-small-shaped random checkpoint (12 layers, d_model 768, 12 heads, vocab 50257, n_ctx 1024), F32',
    threads: os.availableParallelism(),
    ortVersion: ort.env.versions.common,
  };

  // Cold load and peak RSS in fresh processes (first, while the machine is quiet for us).
  log('cold load + peak RSS (child processes)');
  // Three fresh processes: the median cold load, the largest peak RSS.
  const runs = [0, 1, 2].map(() => JSON.parse(run(['--memory', folder])) as Record<string, number>);
  const memory: Record<string, number> = {
    coldLoadMs: median(runs.map((r) => r.coldLoadMs)),
    loadMs: median(runs.map((r) => r.loadMs)),
    firstTraceMs: median(runs.map((r) => r.firstTraceMs)),
    rssAfterLoad: Math.max(...runs.map((r) => r.rssAfterLoad)),
    peakRssTrace128: Math.max(...runs.map((r) => r.peakRssTrace128)),
    peakRssWithLens: Math.max(...runs.map((r) => r.peakRssWithLens)),
  };
  const coldLoadRunsMs = runs.map((r) => round(r.coldLoadMs));
  const memoryNoPrepack = JSON.parse(run(['--memory', folder, '--no-prepack'])) as Record<string, number>;

  log('session creation');
  const createMs: Record<string, number> = {};
  const graphs = { instrumented: buildInstrumentedGraph(config, locate), lens: buildLensGraph(config, locate), plain: buildPlainGraph(config, locate) };
  const sessions: Record<string, ort.InferenceSession> = {};
  for (const [name, bytes] of Object.entries(graphs)) {
    const t0 = performance.now();
    sessions[name] = await createSession(bytes, weightsFolder);
    createMs[name] = round(performance.now() - t0);
  }
  await sessions.instrumented.release();

  // Full traces: the same text is traced again and again (prefix reuse is bench/prefixReuse.ts).
  const engine = new Engine({ reusePrefix: false });
  await engine.load({ folder, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
  const engineMapped = new Engine({ disablePrepacking: true, reusePrefix: false });
  await engineMapped.load({ folder, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
  const plain = sessions.plain;

  log('plain vs instrumented forward, alternating');
  const forward: Record<string, unknown> = {};
  for (const T of LENGTHS) {
    const text = textOfLength(T);
    const reps = T === 128 ? 8 : 12;
    const mappedMs: number[] = [];
    // Plain and instrumented alternate alone: a third engine in the same loop (the memory-mapped
    // one, whose traces read 500 MB of unpacked weights and leave 34 MB of garbage each) put its
    // cache misses and collections into the pair (T = 128: ratio 1.44–1.46 with it, 1.21–1.23
    // without, four runs in one period). It is timed in a loop of its own after.
    const { plainMs, instrMs, faults } = await alternatePlainAndTrace(engine, plain, T, { warmup: 2, runs: reps });
    for (let i = 0; i < reps + 2; i++) {
      const r = await time(() => engineMapped.trace({ text }));
      if (i >= 2) mappedMs.push(r);
    }
    const flops = forwardFlops(config, T);
    // The machine is shared: each instrumented run is compared with the plain run just before it.
    const pairedRatios = instrMs.map((q, i) => q / plainMs[i]);
    forward[`T${T}`] = {
      plainMs: round(median(plainMs)),
      instrumentedMs: round(median(instrMs)),
      ratio: round(median(pairedRatios), 3),
      ratioOfMedians: round(median(instrMs) / median(plainMs), 3),
      ratioOfMinimums: round(Math.min(...instrMs) / Math.min(...plainMs), 3),
      plainGflops: round(flops / median(plainMs) / 1e6),
      instrumentedGflops: round(flops / median(instrMs) / 1e6),
      instrumentedNoPrepackMs: round(median(mappedMs)),
      // Pages the trace touched for the first time (kernel faults that zero a page each): traced
      // back to back, the hook outputs land in fresh pages, as the traces the store evicts are
      // freed only at the next collection (in the extension the worker collects when idle).
      faultsPerTrace: median(faults),
    };
  }

  log('plain vs instrumented at T=128, spaced as the extension runs them');
  forward.T128idle = await idleSpacedRatio(engine, plain, 128);

  log('hook overhead at T=128, split');
  forward.T128split = await hookOverheadSplit(config, locate, weightsFolder, plain, sessions.lens);

  log('lens: one position, full table, next to a 2048³ MatMul');
  const lensRunner = new LensRunner(sessions.lens, config);
  const trace128 = await engine.trace({ text: textOfLength(128) });
  const D = config.dModel;
  const T128 = trace128.tokens.length;
  const onePos = new Float32Array((config.nLayer + 1) * D);
  for (let r = 0; r <= config.nLayer; r++) onePos.set(trace128.resid.subarray((r * T128 + 64) * D, (r * T128 + 65) * D), r * D);
  const onePosTargets = new Int32Array(config.nLayer + 1).fill(257);
  const mm = await matmulSession(2048);
  const onePosMs: number[] = [];
  const distMs: number[] = [];
  const tableMs: number[] = [];
  const matmulMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const a = await time(() => mm.session.run(mm.feeds));
    const b = await time(() => lensRunner.run(onePos, onePosTargets, 10));
    const c = await time(() => engine.lensDistribution({ traceId: trace128.traceId, layer: 6, pos: 64 }));
    const d = i < 4 ? await time(() => engine.lens({ traceId: trace128.traceId })) : undefined;
    if (i >= 1) {
      matmulMs.push(a);
      onePosMs.push(b);
      distMs.push(c);
      if (d !== undefined) tableMs.push(d);
    }
  }
  const matmulGflops = (2 * 2048 ** 3) / median(matmulMs) / 1e6;
  const tableRows = (config.nLayer + 1) * T128;
  const tableGflops = (2 * tableRows * D * config.dVocab) / median(tableMs) / 1e6;
  const lens = {
    onePositionMs: round(median(onePosMs)),
    oneCellDistributionMs: round(median(distMs)),
    fullTableT128Ms: round(median(tableMs)),
    fullTableRows: tableRows,
    fullTableGflops: round(tableGflops),
    matmul2048Ms: round(median(matmulMs)),
    matmul2048Gflops: round(matmulGflops),
    fullTableVsMatmul: round(tableGflops / matmulGflops, 3),
  };

  log('per-head results and mlp.hook_post at T=128');
  const headMs: number[] = [];
  const headJsMs: number[] = [];
  const mlpMs: number[] = [];
  const noMlpMs: number[] = [];
  const text128 = textOfLength(128);
  for (let i = 0; i < 4; i++) {
    headMs.push(await time(() => engine.headResults({ traceId: trace128.traceId, layer: 5 })));
    headJsMs.push(await time(async () => headResultsJs(trace128.z, config, T128, 5)));
    mlpMs.push(await time(() => engine.trace({ text: text128, options: { withMlpPost: true } })));
    noMlpMs.push(await time(() => engine.trace({ text: text128 })));
  }
  const onDemand = {
    headResultsGraphMs: round(median(headMs.slice(1))),
    headResultsPlainJsMs: round(median(headJsMs.slice(1))),
    traceT128WithMlpPostMs: round(median(mlpMs.slice(1))),
    traceT128Ms: round(median(noMlpMs.slice(1))),
  };

  log('attributeAll at T=32 and T=128');
  const attributeAll = await benchAttributeAll(engine, folder);

  await engine.dispose();
  await engineMapped.dispose();
  for (const s of [sessions.lens, sessions.plain, mm.session]) await s.release();

  const gib = 2 ** 30;
  Object.assign(result, {
    sessionCreateMs: createMs,
    coldLoadMs: round(memory.coldLoadMs),
    coldLoadRunsMs,
    loadMs: round(memory.loadMs),
    /** Includes the tokenizer's one-time vocabulary build (about 0.5 s). */
    firstTraceMs: round(memory.firstTraceMs),
    forward,
    lens,
    onDemand,
    attribute_all_ms: attributeAll.attribute_all_ms,
    attributeAll: attributeAll.detail,
    peakRssMiB: { trace128: mib(memory.peakRssTrace128), withFullLensTable: mib(memory.peakRssWithLens), afterLoad: mib(memory.rssAfterLoad) },
    noPrepacking: {
      coldLoadMs: round(memoryNoPrepack.coldLoadMs),
      peakRssMiB: { trace128: mib(memoryNoPrepack.peakRssTrace128), withFullLensTable: mib(memoryNoPrepack.peakRssWithLens), afterLoad: mib(memoryNoPrepack.rssAfterLoad) },
    },
    targets: {
      'instrumented/plain at T=32 <= 1.25': (forward.T32 as { ratio: number }).ratio <= 1.25,
      'one position lens <= 15 ms': lens.onePositionMs <= 15,
      'full table >= 80% of MatMul GFLOP/s': lens.fullTableVsMatmul >= 0.8,
      'cold load <= 3 s': memory.coldLoadMs <= 3000,
      'peak RSS <= 1.3 GiB at T=128': memory.peakRssTrace128 <= 1.3 * gib,
    },
  });
  return result;
}

/** Pause before each run, as between a user's traces; long enough for the worker's idle collection (300 ms). */
const IDLE_GAP_MS = 400;

/**
 * The plain forward and the engine's trace alternating as above, but each after an idle pause in
 * which the collection the engine's worker makes when idle (src/engine/worker.ts: 300 ms without
 * requests, once evicted traces add up) runs; then the traces the store evicted are freed before
 * the next one allocates, and its hook outputs reuse their pages (`faultsPerTrace` ~100 instead of
 * ~4,600 back to back). 12 pairs after 12 that fill the trace store.
 */
async function idleSpacedRatio(engine: Engine, plain: ort.InferenceSession, T: number): Promise<Record<string, number>> {
  const gc = exposeGc();
  const pause = async (): Promise<void> => {
    await new Promise((resolve) => setTimeout(resolve, IDLE_GAP_MS));
    gc?.();
  };
  const { plainMs, instrMs, faults } = await alternatePlainAndTrace(engine, plain, T, { warmup: 12, runs: 12, pause });
  return {
    gapMs: IDLE_GAP_MS,
    collected: gc ? 1 : 0,
    plainMs: round(median(plainMs)),
    instrumentedMs: round(median(instrMs)),
    ratio: round(median(instrMs.map((q, i) => q / plainMs[i])), 3),
    faultsPerTrace: median(faults),
  };
}

/**
 * The plain forward (top-k of the final logits) and the engine's full trace of T tokens, alternating
 * (`pause` before each run, when given); times of the `runs` pairs after `warmup`, and the minor
 * page faults of each trace (pages new to the process: a kernel fault that zeroes each).
 */
async function alternatePlainAndTrace(
  engine: Engine,
  plain: ort.InferenceSession,
  T: number,
  o: { readonly warmup: number; readonly runs: number; readonly pause?: () => Promise<void> },
): Promise<{ plainMs: number[]; instrMs: number[]; faults: number[] }> {
  const ids = int64Tensor(Array.from({ length: T }, (_, i) => (i === 0 ? 50256 : 257)), [T]);
  const k = int64Tensor([10], [1]);
  const text = textOfLength(T);
  const out = { plainMs: [] as number[], instrMs: [] as number[], faults: [] as number[] };
  for (let i = 0; i < o.warmup + o.runs; i++) {
    await o.pause?.();
    const p = await time(() => plain.run({ [INPUTS.ids]: ids, [INPUTS.k]: k }));
    await o.pause?.();
    const before = process.resourceUsage().minorPageFault;
    const q = await time(() => engine.trace({ text }));
    if (i >= o.warmup) {
      out.plainMs.push(p);
      out.instrMs.push(q);
      out.faults.push(process.resourceUsage().minorPageFault - before);
    }
  }
  return out;
}

/**
 * Where the instrumented trace's extra time goes at T = 128, the sessions run directly (no engine),
 * alternating, medians of 10: the plain forward (blocks + head, top-k only); the instrumented forward
 * fetching every hook, and fetching only `resid` (onnxruntime computes every output either way: the
 * difference is the binding's copy of the other hooks into new JS buffers); the head (ln_final,
 * unembedding, top-k) through the lens session on the final rows, as a trace runs it.
 */
async function hookOverheadSplit(config: ModelConfig, locate: WeightLocator, weightsFolder: string, plain: ort.InferenceSession, lensSession: ort.InferenceSession): Promise<Record<string, number>> {
  const T = 128;
  const instrumented = await createSession(buildInstrumentedGraph(config, locate), weightsFolder);
  try {
    const lens = new LensRunner(lensSession, config);
    const ids = Array.from({ length: T }, (_, i) => (i === 0 ? 50256 : 257));
    const feeds = forwardFeeds(config, ids);
    const k = int64Tensor([10], [1]);
    const plainIds = int64Tensor(ids, [T]);
    let finalRows = new Float32Array(0);
    const noTargets = new Int32Array(T).fill(-1);
    const ms = { plain: [] as number[], forwardAllHooks: [] as number[], forwardResidOnly: [] as number[], headLensSession: [] as number[] };
    for (let i = 0; i < 12; i++) {
      const p = await time(() => plain.run({ [INPUTS.ids]: plainIds, [INPUTS.k]: k }));
      const a = await time(async () => {
        const out = await instrumented.run(feeds);
        finalRows = (out[FORWARD_OUTPUTS.resid].data as Float32Array).slice(config.nLayer * T * config.dModel);
      });
      const r = await time(() => instrumented.run(feeds, [FORWARD_OUTPUTS.resid]));
      const h = await time(() => lens.run(finalRows, noTargets, 10));
      if (i >= 2) {
        ms.plain.push(p);
        ms.forwardAllHooks.push(a);
        ms.forwardResidOnly.push(r);
        ms.headLensSession.push(h);
      }
    }
    const m = Object.fromEntries(Object.entries(ms).map(([key, xs]) => [key, median(xs)])) as Record<keyof typeof ms, number>;
    return {
      plainMs: round(m.plain),
      forwardAllHooksMs: round(m.forwardAllHooks),
      forwardResidOnlyMs: round(m.forwardResidOnly),
      headLensSessionMs: round(m.headLensSession),
      /** The binding's copies of the hooks other than resid. */
      hookCopiesMs: round(m.forwardAllHooks - m.forwardResidOnly),
      /** Forward with every hook plus the head, over the plain forward. */
      sessionsRatio: round((m.forwardAllHooks + m.headLensSession) / m.plain, 3),
    };
  } finally {
    await instrumented.release();
  }
}

/**
 * attributeAll (one request per trace: DLA of every position to its top-1) at T = 32 and 128 through
 * the engine, the distinct top-1 count it had (one W_O · V′ column each), the worst case of T distinct
 * tokens at T = 128 (the analysis with the same ORT backend), and one `attribute` for comparison.
 */
export async function benchAttributeAll(engine: Engine, folder: string): Promise<{ attribute_all_ms: Record<string, number>; detail: Record<string, number> }> {
  const ms: Record<string, number> = {};
  const detail: Record<string, number> = {};
  let last: Awaited<ReturnType<Engine['trace']>> | undefined;
  for (const T of [32, 128] as const) {
    const t = await engine.trace({ text: variedTextOfLength(T) });
    if (t.tokens.length !== T) throw new Error(`bench: the varied text has ${t.tokens.length} tokens, not ${T}`);
    const runs: number[] = [];
    for (let i = 0; i < 8; i++) runs.push(await time(() => engine.attributeAll({ traceId: t.traceId })));
    ms[`T${T}`] = round(median(runs.slice(2)));
    const table = await engine.attributeAll({ traceId: t.traceId });
    detail[`distinctTop1T${T}`] = new Set(table.tokenIds).size;
    last = t;
  }
  const t = last!;
  const oneRuns: number[] = [];
  for (let i = 0; i < 8; i++) oneRuns.push(await time(() => engine.attribute({ traceId: t.traceId, pos: 64 })));
  detail.attributeOnePositionT128Ms = round(median(oneRuns.slice(2)));
  // Worst case: every position a different top-1 (n = T columns).
  const ckpt = openCheckpoint(folder);
  const c = ckpt.config;
  const backend = await createOrtMatmulBackend();
  const input = {
    config: c, embed: t.embed, posEmbed: t.posEmbed, z: t.z, mlpOut: t.mlpOut, lnFinalScale: t.lnFinalScale,
    targets: Int32Array.from({ length: t.tokens.length }, (_, p) => 1000 + 97 * p),
    attnProjWeight: Array.from({ length: c.nLayer }, (_, l) => readTensor(ckpt, `h.${l}.attn.c_proj.weight`)),
    attnProjBias: Array.from({ length: c.nLayer }, (_, l) => readTensor(ckpt, `h.${l}.attn.c_proj.bias`)),
    lnFinalWeight: readTensor(ckpt, 'ln_f.weight'), lnFinalBias: readTensor(ckpt, 'ln_f.bias'),
    unembedColumn: (id: number) => readUnembedColumn(ckpt, id),
  };
  const worst: number[] = [];
  for (let i = 0; i < 8; i++) worst.push(await time(() => attributeAllPositions(input, backend)));
  detail.allDistinctT128Ms = round(median(worst.slice(2)));
  await backend.release();
  return { attribute_all_ms: ms, detail };
}

/** The per-head results of one layer in plain JS loops, for comparison with the graph. [T, H, D] */
function headResultsJs(z: Float32Array, c: ModelConfig, T: number, layer: number): Float32Array {
  // Stand-in W_O: the timing, not the values, matters here.
  const { nHead: H, dHead: Dh, dModel: D } = c;
  const wO = new Float32Array(D * D).fill(0.01);
  const out = new Float32Array(T * H * D);
  for (let t = 0; t < T; t++)
    for (let h = 0; h < H; h++) {
      const zb = ((layer * T + t) * H + h) * Dh;
      const ob = (t * H + h) * D;
      for (let j = 0; j < Dh; j++) {
        const zj = z[zb + j];
        const wb = (h * Dh + j) * D;
        for (let i = 0; i < D; i++) out[ob + i] += zj * wO[wb + i];
      }
    }
  return out;
}

/** Only the attributeAll figures (node --import tsx bench/engine.ts --attribute-all). */
async function probeAttributeAll(): Promise<void> {
  const folder = ensureBenchCheckpoint();
  const engine = new Engine();
  await engine.load({ folder, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
  const r = await benchAttributeAll(engine, folder);
  await engine.dispose();
  process.stdout.write(`${JSON.stringify({ attribute_all_ms: r.attribute_all_ms, attributeAll: r.detail }, null, 2)}\n`);
}

/** Only the idle-spaced ratio (node --import tsx bench/engine.ts --idle), next to the back-to-back one of the same process. */
async function probeIdle(): Promise<void> {
  const folder = ensureBenchCheckpoint();
  const { locate, weightsFolder, config } = locator(folder);
  const plain = await createSession(buildPlainGraph(config, locate), weightsFolder);
  const engine = new Engine({ reusePrefix: false });
  await engine.load({ folder, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
  try {
    const backToBack = await alternatePlainAndTrace(engine, plain, 128, { warmup: 2, runs: 12 });
    const ratio = round(median(backToBack.instrMs.map((q, i) => q / backToBack.plainMs[i])), 3);
    const idle = await idleSpacedRatio(engine, plain, 128);
    process.stdout.write(`${JSON.stringify({ T128backToBackRatio: ratio, T128idle: idle }, null, 2)}\n`);
  } finally {
    await plain.release();
  }
}

/** Only the hook-overhead split (node --import tsx bench/engine.ts --hook-split). */
async function probeHookSplit(): Promise<void> {
  const folder = ensureBenchCheckpoint();
  const { locate, weightsFolder, config } = locator(folder);
  const plain = await createSession(buildPlainGraph(config, locate), weightsFolder);
  const lens = await createSession(buildLensGraph(config, locate), weightsFolder);
  try {
    process.stdout.write(`${JSON.stringify({ T128split: await hookOverheadSplit(config, locate, weightsFolder, plain, lens) }, null, 2)}\n`);
  } finally {
    await plain.release();
    await lens.release();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--hook-split') return probeHookSplit();
  if (args[0] === '--idle') return probeIdle();
  if (args[0] === '--build') return buildCheckpoint();
  if (args[0] === '--memory') return childMemory(args[1], args.includes('--no-prepack'));
  if (args[0] === '--attribute-all') return probeAttributeAll();
  process.stdout.write(`${JSON.stringify(await benchEngine(), null, 2)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
