/**
 * Probes behind the README's eighth-stop figures on the hook overhead at T = 128 (GPT-2-small
 * shapes, the bench checkpoint). Each prints one JSON object; none is part of `npm run bench`.
 *
 *   node --import tsx bench/hookOverheadProbes.ts --per-layer     stacked hook outputs (the graph's
 *        Concat, as the engine builds it) vs one output per layer and hook, the forward alone
 *   node --import tsx bench/hookOverheadProbes.ts --phases        the engine's trace split: tokenize,
 *        instrumented session, the gap before the head, the head, the store
 *   node --import tsx bench/hookOverheadProbes.ts --head-extras   onnxruntime profile of the head alone,
 *        with and without the lens graph's rank pass (If) and dist_rows gather
 *
 * Runs are spaced (200–400 ms, then a collection), as the extension's worker runs traces.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { BENCH_DIR, ensureBenchCheckpoint, locator, textOfLength } from './engine';
import { median } from './section';
import { Engine } from '../src/engine/engine';
import { exposeGc } from '../src/engine/exposeGc';
import { buildBlocks, buildInstrumentedGraph, buildUnembedHead, Builder, HOOKS, INPUTS, type WeightLocator } from '../src/engine/graph';
import { DataType } from '../src/engine/onnx/model';
import { forwardFeeds } from '../src/engine/prefixReuse';
import { boolScalar, createSession, floatTensor, int64Tensor, sessionOptions } from '../src/engine/session';
import { tokenize } from '../src/engine/tokenizer';
import type { ModelConfig } from '../src/engine/types';

const T = 128;
const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const ids = Array.from({ length: T }, (_, i) => (i === 0 ? 50256 : 257)); // BOS + " a" × 127

function requireGc(): () => void {
  const gc = exposeGc();
  if (!gc) throw new Error('V8 gc() is not available');
  return gc;
}

async function spaced(ms: number, gc: () => void): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  gc();
}

/** The instrumented graph's blocks with every hook of every layer as its own output (no Concat). */
function perLayerGraph(config: ModelConfig, locate: WeightLocator): Uint8Array {
  const b = new Builder('per_layer_hooks', config, locate);
  const { g } = b;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = config;
  buildBlocks(b, g.input(INPUTS.ids, DataType.INT64, ['T']), true, g.input(INPUTS.prefix, DataType.FLOAT, [L, 'P', D]));
  g.output(HOOKS.embed, DataType.FLOAT, ['T', D]);
  g.output(HOOKS.posEmbed, DataType.FLOAT, ['T', D]);
  for (let l = 0; l < L; l++) {
    for (const name of [HOOKS.residPre(l), HOOKS.residMid(l), HOOKS.attnOut(l), HOOKS.mlpOut(l)]) g.output(name, DataType.FLOAT, ['T', D]);
    g.output(HOOKS.ln1Scale(l), DataType.FLOAT, ['T', 1]);
    g.output(HOOKS.ln2Scale(l), DataType.FLOAT, ['T', 1]);
    g.output(HOOKS.pattern(l), DataType.FLOAT, [H, 'T', 'keys']);
    g.output(HOOKS.z(l), DataType.FLOAT, ['T', H, Dh]);
  }
  g.output(HOOKS.residPost(L - 1), DataType.FLOAT, ['T', D]);
  return g.build();
}

/** Stacked vs per-layer outputs, 20 alternating pairs after 4, each run after 200 ms and a collection. */
async function perLayer(): Promise<Record<string, number>> {
  const gc = requireGc();
  const { locate, weightsFolder, config } = locator(ensureBenchCheckpoint());
  const stacked = await createSession(buildInstrumentedGraph(config, locate), weightsFolder);
  const separate = await createSession(perLayerGraph(config, locate), weightsFolder);
  const feeds = forwardFeeds(config, ids);
  const a: number[] = [];
  const b: number[] = [];
  let kept: unknown; // the last outputs stay alive until the next collection, as a stored trace's would
  for (let i = 0; i < 24; i++) {
    for (const [session, times] of [[stacked, a], [separate, b]] as const) {
      kept = undefined;
      await spaced(200, gc);
      const t0 = performance.now();
      kept = await session.run(feeds);
      if (i >= 4) times.push(performance.now() - t0);
    }
  }
  void kept;
  await Promise.all([stacked.release(), separate.release()]);
  return { stackedMs: round(median(a)), perLayerMs: round(median(b)), perLayerFasterMs: round(median(a) - median(b)) };
}

/** The engine's model sessions, reached for timing only (private to the engine). */
interface TimedModel {
  forward: { run: (...args: never[]) => Promise<unknown> };
  lens: { run: (...args: never[]) => Promise<unknown> };
}

/** Wraps `target[key]` (an async method) so that `before` and `after` see each call's start and end. */
function wrap<K extends string>(target: Record<K, (...args: never[]) => Promise<unknown>>, key: K, before: () => void, after: () => void): void {
  const original = target[key].bind(target);
  target[key] = async (...args: never[]) => {
    before();
    try {
      return await original(...args);
    } finally {
      after();
    }
  };
}

/** The trace's phases, medians of 12 spaced traces after 12 that fill the store. */
async function phases(): Promise<Record<string, number>> {
  const gc = requireGc();
  const folder = ensureBenchCheckpoint();
  const engine = new Engine({ reusePrefix: false });
  await engine.load({ folder, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
  const model = (engine as unknown as { model: TimedModel }).model;
  const text = textOfLength(T);
  const marks = { start: 0, forwardStart: 0, forwardEnd: 0, headStart: 0, headEnd: 0 };
  wrap(model.forward, 'run', () => (marks.forwardStart = performance.now()), () => (marks.forwardEnd = performance.now()));
  wrap(model.lens, 'run', () => (marks.headStart = performance.now()), () => (marks.headEnd = performance.now()));
  const rows: Record<string, number[]> = { tokenizeMs: [], beforeForwardMs: [], forwardMs: [], betweenMs: [], headMs: [], afterHeadMs: [], traceMs: [] };
  for (let i = 0; i < 24; i++) {
    await spaced(400, gc);
    let t0 = performance.now();
    tokenize(text, { prependBos: true, allowSpecial: false, maxTokens: 1025 });
    const tokenizeMs = performance.now() - t0;
    t0 = performance.now();
    marks.start = t0;
    await engine.trace({ text });
    const end = performance.now();
    if (i < 12) continue;
    rows.tokenizeMs.push(tokenizeMs);
    rows.beforeForwardMs.push(marks.forwardStart - marks.start);
    rows.forwardMs.push(marks.forwardEnd - marks.forwardStart);
    rows.betweenMs.push(marks.headStart - marks.forwardEnd);
    rows.headMs.push(marks.headEnd - marks.headStart);
    rows.afterHeadMs.push(end - marks.headEnd);
    rows.traceMs.push(end - t0);
  }
  await engine.dispose();
  return Object.fromEntries(Object.entries(rows).map(([key, xs]) => [key, round(median(xs))]));
}

/** The head (ln_final, W_U, top-k) over rows, with or without the lens graph's rank pass and dist_rows. */
function headGraph(config: ModelConfig, locate: WeightLocator, extras: boolean): Uint8Array {
  const b = new Builder('head_probe', config, locate);
  const { g } = b;
  const rows = g.input(INPUTS.rows, DataType.FLOAT, ['rows', config.dModel]);
  const target = extras ? g.input(INPUTS.target, DataType.INT64, ['rows']) : undefined;
  const k = g.input(INPUTS.k, DataType.INT64, [1]);
  const wantRank = extras ? g.input(INPUTS.wantRank, DataType.BOOL, []) : undefined;
  const distRows = extras ? g.input(INPUTS.distRows, DataType.INT64, ['dist_rows']) : undefined;
  buildUnembedHead(b, rows, k, target, wantRank, distRows);
  return g.build();
}

/** onnxruntime's profile of 12 runs of the head alone at 128 rows: median model_run and the If's kernel time. */
async function headExtras(): Promise<Record<string, number>> {
  const { locate, weightsFolder, config } = locator(ensureBenchCheckpoint());
  const rows = new Float32Array(T * config.dModel).map((_, i) => Math.sin(i * 0.37) * 3);
  const out: Record<string, number> = {};
  for (const extras of [false, true]) {
    const prefix = path.join(os.tmpdir(), `rl-head-probe-${extras ? 'extras' : 'plain'}-${process.pid}`);
    const session = await ort.InferenceSession.create(headGraph(config, locate, extras), { ...sessionOptions(weightsFolder), enableProfiling: true, profileFilePrefix: prefix });
    const feeds: Record<string, ort.Tensor> = { [INPUTS.rows]: floatTensor(rows, [T, config.dModel]), [INPUTS.k]: int64Tensor([10], [1]) };
    if (extras) Object.assign(feeds, { [INPUTS.target]: int64Tensor(new Array<number>(T).fill(0), [T]), [INPUTS.wantRank]: boolScalar(false), [INPUTS.distRows]: int64Tensor([], [0]) });
    for (let i = 0; i < 12; i++) await session.run(feeds);
    // The binding writes the profile to <prefix>_<date>.json and returns nothing.
    (session as unknown as { endProfiling(): void }).endProfiling();
    await session.release();
    const file = fs.readdirSync(path.dirname(prefix)).map((f) => path.join(path.dirname(prefix), f)).find((f) => f.startsWith(prefix));
    if (!file) throw new Error(`no onnxruntime profile at ${prefix}*`);
    const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { name: string; cat: string; dur: number; args?: { op_name?: string } }[];
    fs.rmSync(file, { force: true });
    const modelRuns = events.filter((e) => e.name === 'model_run').map((e) => e.dur / 1000);
    const ifMs = events.filter((e) => e.cat === 'Node' && e.args?.op_name === 'If' && e.name.endsWith('_kernel_time')).reduce((s, e) => s + e.dur / 1000, 0) / 12;
    const label = extras ? 'withExtras' : 'without';
    out[`${label}ModelRunMs`] = round(median(modelRuns));
    if (extras) out.ifKernelMs = round(ifMs);
  }
  return out;
}

async function main(): Promise<void> {
  const probes: Record<string, () => Promise<Record<string, number>>> = { '--per-layer': perLayer, '--phases': phases, '--head-extras': headExtras };
  const probe = probes[process.argv[2] ?? ''];
  if (!probe) throw new Error(`usage: node --import tsx bench/hookOverheadProbes.ts ${Object.keys(probes).join('|')}`);
  process.stdout.write(`${JSON.stringify({ [process.argv[2].slice(2)]: await probe() }, null, 2)}\n`);
}

void main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
