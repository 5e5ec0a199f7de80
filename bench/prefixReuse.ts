/**
 * Prefix reuse (issue 13, src/engine/prefixReuse.ts): a 32-token trace that shares a token prefix
 * with the engine's newest stored trace, against a full 32-token trace, on the GPT-2-small-shaped
 * random checkpoint with 2 ORT threads. Cases, alternating in one run (medians):
 *   full32   a full trace (an engine with reusePrefix: false; also the P = 0 path at T = 128)
 *   full2    a full 2-token trace: the floor (what the new rows cost without the prefix's K/V)
 *   append1  after a 31-token trace of its prefix (one token typed)
 *   append2  after a 30-token trace of its prefix
 *   edit16   after the same text with another token at position 16
 *   bosOnly, bosOnly128   after a text of the same length that shares only BOS, reused anyway
 *            (reuseMinShared 1): what the default threshold (minReusedPositions) avoids. The splice
 *            copies every array, so reusing one position costs more than it saves at T = 128.
 * (append1 and append2 both compute 2 rows: at least 2 are always computed, see prefixReuse.ts.)
 * `forwardMs` is the engine's own figure (forward, head and splice); `wallMs` the whole trace call
 * (tokenize, checks, store). `cAttnMs`: what the prefix rows' unused Q columns cost, from the
 * c_attn product alone (12 layers, [M, 768] · [768, N], weights prepacked): N = 2304 (q | k | v,
 * what the graph does) vs N = 1536 (k | v only, which would need a copy of those columns). JSON on stdout: `node --import tsx bench/prefixReuse.ts`
 * (also the `prefixReuse` section of `npm run bench`); `--threads N` for other than 2 threads.
 *
 * `--baseline DIR` instead compares full traces (P = 0) at T = 32 and 128 with an older version's
 * engine, loaded from DIR in the same process and alternated with this one (paired ratios):
 * `git archive <commit> src | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/node_modules` makes DIR.
 */
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Engine } from '../src/engine/engine';
import { FORWARD_OUTPUTS, type ForwardArray } from '../src/engine/graph';
import type { Trace } from '../src/engine/types';
import { DataType, GraphBuilder } from '../src/engine/onnx/model';
import { createSession } from '../src/engine/session';
import { BENCH_DIR, ensureBenchCheckpoint, textOfLength } from './engine';
import { median, printWhenRunAlone, round1 } from './section';

/** ORT threads: 2, or `--threads N`. */
const THREADS = process.argv.includes('--threads') ? Number(process.argv[process.argv.indexOf('--threads') + 1]) : 2;
const RUNS = 15;
const WARMUP = 2;

const log = (line: string): void => {
  process.stderr.write(`[bench] prefixReuse: ${line}\n`);
};

/** 32 tokens with BOS, like textOfLength(32), with " b" instead of " a" at position 16. */
function editedAt16(): string {
  return `${' a'.repeat(15)} b${' a'.repeat(15)}`;
}

interface Figures {
  forwardMs: number[];
  wallMs: number[];
}

export async function benchPrefixReuse(): Promise<Record<string, unknown>> {
  const folder = ensureBenchCheckpoint();
  const cacheDir = path.join(BENCH_DIR, 'cache');
  const reuse = new Engine({ threads: THREADS });
  const full = new Engine({ threads: THREADS, reusePrefix: false });
  const anyReuse = new Engine({ threads: THREADS, reuseMinShared: 1 });
  try {
    for (const e of [reuse, full, anyReuse]) await e.load({ folder, name: 'gpt2-small-random', cacheDir });
    const t32 = textOfLength(32);
    const cases: Record<string, { readonly engine: Engine; readonly before?: string; readonly text: string }> = {
      full32: { engine: full, text: t32 },
      full128: { engine: full, text: textOfLength(128) },
      full2: { engine: full, text: textOfLength(2) },
      append1: { engine: reuse, before: textOfLength(31), text: t32 },
      append2: { engine: reuse, before: textOfLength(30), text: t32 },
      edit16: { engine: reuse, before: t32, text: editedAt16() },
      bosOnly: { engine: anyReuse, before: ` b${' a'.repeat(30)}`, text: t32 },
      bosOnly128: { engine: anyReuse, before: ` b${' a'.repeat(126)}`, text: textOfLength(128) },
    };
    const figures: Record<string, Figures> = {};
    const reused: Record<string, number> = {};
    const tokens: Record<string, number> = {};
    log(`${Object.keys(cases).join(', ')}; ${RUNS} runs each, alternating, ${THREADS} threads`);
    const names = Object.keys(cases);
    for (let i = 0; i < RUNS + WARMUP; i++) {
      // Each round starts at another case, so no case always follows the same one.
      for (const name of [...names.slice(i % names.length), ...names.slice(0, i % names.length)]) {
        const c = cases[name];
        if (c.before !== undefined) await c.engine.trace({ text: c.before });
        const t0 = performance.now();
        const t = await c.engine.trace({ text: c.text });
        const wall = performance.now() - t0;
        reused[name] = c.engine.reusedPositions;
        tokens[name] = t.tokens.length;
        if (i < WARMUP) continue;
        figures[name] ??= { forwardMs: [], wallMs: [] };
        figures[name].forwardMs.push(t.forwardMs);
        figures[name].wallMs.push(wall);
      }
    }
    const medians = Object.fromEntries(
      Object.entries(figures).map(([name, f]) => [name, { tokens: tokens[name], reusedPositions: reused[name], forwardMs: round1(median(f.forwardMs)), wallMs: round1(median(f.wallMs)), minForwardMs: round1(Math.min(...f.forwardMs)) }]),
    );
    // The reused traces are bitwise those of full traces (at these shapes too).
    const bitwiseEqual: Record<string, boolean> = {};
    for (const name of ['append1', 'append2', 'edit16']) {
      const c = cases[name];
      if (c.before !== undefined) await reuse.trace({ text: c.before });
      bitwiseEqual[name] = sameArrays(await reuse.trace({ text: c.text }), await full.trace({ text: c.text }));
    }
    const cAttnMs = await cAttnProducts();
    const ratio = (name: string): number => Math.round((median(figures.full32.forwardMs) / median(figures[name].forwardMs)) * 100) / 100;
    return {
      model: 'GPT-2-small-shaped random checkpoint (12 layers, d_model 768, 12 heads, vocab 50257), F32',
      threads: THREADS,
      runs: RUNS,
      medians,
      bitwiseEqual,
      speedupOverFull32: { append1: ratio('append1'), append2: ratio('append2'), edit16: ratio('edit16'), bosOnly: ratio('bosOnly') },
      bosOnly128OverFull128: Math.round((median(figures.bosOnly128.forwardMs) / median(figures.full128.forwardMs)) * 100) / 100,
      cAttnMs,
    };
  } finally {
    await reuse.dispose();
    await full.dispose();
    await anyReuse.dispose();
  }
}

/** Every array of two traces, bit for bit. */
function sameArrays(a: Trace, b: Trace): boolean {
  const pairs: [ArrayLike<number>, ArrayLike<number>][] = [
    ...(Object.keys(FORWARD_OUTPUTS) as ForwardArray[]).map((key): [Float32Array, Float32Array] => [a[key], b[key]]),
    [a.lnFinalScale, b.lnFinalScale], [a.logitsTop.ids, b.logitsTop.ids], [a.logitsTop.logits, b.logitsTop.logits], [a.logitsTop.probs, b.logitsTop.probs],
  ];
  return pairs.every(([x, y]) => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i])));
}

/** Median ms of 12 layers' [M, 768] · [768, N] MatMuls (initializer weights), M = 2 and 32, N = q|k|v and k|v. */
async function cAttnProducts(): Promise<Record<string, number>> {
  const D = 768;
  const L = 12;
  const sessionFor = async (N: number): Promise<ort.InferenceSession> => {
    const g = new GraphBuilder('c_attn', 17);
    const x = g.input('X', DataType.FLOAT, ['M', D]);
    const outs = Array.from({ length: L }, (_, l) => g.op('MatMul', [x, g.floats(`W${l}`, [D, N], new Float32Array(D * N).map((_, i) => ((i * 7919 + l) % 1000) / 1e5))]));
    g.op('Concat', outs, { axis: { i: 1 } }, 'Y');
    g.output('Y', DataType.FLOAT, ['M', N * L]);
    return createSession(g.build(), undefined, { threads: THREADS });
  };
  const sessions = { qkv: await sessionFor(3 * D), kv: await sessionFor(2 * D) };
  const ms: Record<string, number[]> = {};
  try {
    for (let i = 0; i < 30 + WARMUP; i++) {
      for (const M of [2, 32]) {
        for (const kind of ['qkv', 'kv'] as const) {
          const X = new ort.Tensor('float32', new Float32Array(M * D).fill(0.01), [M, D]);
          const t0 = performance.now();
          await sessions[kind].run({ X });
          if (i >= WARMUP) (ms[`${kind}Rows${M}`] ??= []).push(performance.now() - t0);
        }
      }
    }
  } finally {
    for (const x of Object.values(sessions)) await x.release();
  }
  return Object.fromEntries(Object.entries(ms).map(([key, xs]) => [key, Math.round(median(xs) * 100) / 100]));
}

/** Full traces, this engine vs the one in `dir` (an older commit's src/), alternating. */
export async function benchFullVersusBaseline(dir: string, runs = 20): Promise<Record<string, unknown>> {
  const older = (await import(path.resolve(dir, 'src/engine/engine.ts'))) as { Engine: new (o: { threads: number }) => Engine };
  const folder = ensureBenchCheckpoint();
  const cacheDir = path.join(BENCH_DIR, 'cache');
  const engines = { baseline: new older.Engine({ threads: THREADS }), current: new Engine({ threads: THREADS, reusePrefix: false }) };
  try {
    for (const e of Object.values(engines)) await e.load({ folder, name: 'gpt2-small-random', cacheDir });
    const ms: Record<string, number[]> = {};
    for (let i = 0; i < runs + WARMUP; i++) {
      for (const T of [32, 128]) {
        for (const name of i % 2 ? (['baseline', 'current'] as const) : (['current', 'baseline'] as const)) {
          const t = await engines[name].trace({ text: textOfLength(T) });
          if (i >= WARMUP) (ms[`${name}T${T}`] ??= []).push(t.forwardMs);
        }
      }
    }
    const out: Record<string, number> = {};
    for (const [key, xs] of Object.entries(ms)) out[`${key}Ms`] = round1(median(xs));
    for (const T of [32, 128]) {
      const current = ms[`currentT${T}`];
      const baseline = ms[`baselineT${T}`];
      out[`pairedRatioT${T}`] = Math.round(median(current.map((x, i) => x / baseline[i])) * 1000) / 1000;
    }
    return { threads: THREADS, runs, baseline: dir, forwardMs: out };
  } finally {
    for (const e of Object.values(engines)) await e.dispose();
  }
}

if (require.main === module) {
  const at = process.argv.indexOf('--baseline');
  printWhenRunAlone(() => (at > 0 ? benchFullVersusBaseline(process.argv[at + 1] ?? '') : benchPrefixReuse()));
}
