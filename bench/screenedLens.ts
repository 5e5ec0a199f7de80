/**
 * The int8-screened exact lens vs today's float32 lens: the full table (13 rows × 128 positions,
 * top-10 and next-token ranks) on the GPT-2-small-shaped bench checkpoint (bench/engine.ts), both
 * in the same run, alternately, 2 ORT threads. Variants (RL_SCREEN_VARIANTS, below): the number of
 * int8 products and dense or per-row re-scoring. Reports wall and CPU medians, their ratios, the
 * candidate counts (per row, dense logits per row, unions), fallback rows, the screened run's time
 * split, and a check of the result (ids and logits bit-equal, largest probability difference, ranks
 * equal where exact). Then the default variant on the embedded demo model's lens table (`demoModel`):
 * flat rows, like real GPT-2's, where the probabilities cannot be certified and rows fall back.
 *
 * Run alone: node --import tsx bench/screenedLens.ts   (prints JSON)
 */
import * as path from 'node:path';
import { Engine } from '../src/engine/engine';
import { nextTokenTargets } from '../src/engine/lens';
import type { LensRows } from '../src/engine/lens';
import { DEFAULT_PRODUCTS, screenedLensForCheckpoint, type RescoreMode, type ScreenedLensRows, type ScreenProducts } from '../src/engine/screenedLens';
import { demoModelFolder } from '../src/models/registry';
import { BENCH_DIR, ensureBenchCheckpoint } from './engine';
import { median, printWhenRunAlone, round1 } from './section';

const T = 128;
const RUNS = Number(process.env.RL_SCREEN_RUNS ?? 5);
const THREADS = 2;
/**
 * Variants measured, as `<products><d|r>` (d: dense re-scoring, r: per row); RL_SCREEN_VARIANTS
 * overrides, e.g. `1d,2d,3d,3r`. Default: the runner's default (2 products, dense) and the first version's (3, per row; its screen is the new one).
 */
const VARIANTS: readonly { products: ScreenProducts; rescore: RescoreMode }[] = (process.env.RL_SCREEN_VARIANTS ?? '2d,3r').split(',').map((v) => {
  const m = /^([123])([dr])$/.exec(v.trim());
  if (!m) throw new Error(`RL_SCREEN_VARIANTS: '${v}' is not <1|2|3><d|r>`);
  return { products: Number(m[1]) as ScreenProducts, rescore: m[2] === 'd' ? 'dense' : 'perRow' };
});

const log = (line: string): void => {
  process.stderr.write(`[bench] screened lens: ${line}\n`);
};

/** A varied English-like text of exactly T tokens with BOS (one token per word, checked by the engine's count). */
function variedText(engine: Engine, tokens: number): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'then', 'it', 'was', 'time', 'to', 'go', 'home', 'with', 'my', 'old', 'friend', 'from', 'school'];
  const picked: string[] = [];
  for (let i = 0; picked.length < tokens - 1; i++) picked.push(words[(i * 7 + (i >> 3)) % words.length]);
  let text = ` ${picked.join(' ')}`;
  while (engine.tokenize({ text, options: { prependBos: true, allowSpecial: false } }).tokens.length > tokens) text = text.slice(0, text.lastIndexOf(' '));
  return text;
}

/** The screened table against the float32 one: ids and logits bit-equal, largest probability difference, exact ranks equal. */
function check(x: LensRows, y: ScreenedLensRows): Record<string, unknown> {
  let idsEqual = true;
  let logitsBitEqual = true;
  let probDiff = 0;
  let exactRanksEqual = true;
  for (let j = 0; j < x.top.ids.length; j++) {
    idsEqual &&= x.top.ids[j] === y.top.ids[j];
    logitsBitEqual &&= Object.is(x.top.logits[j], y.top.logits[j]);
    probDiff = Math.max(probDiff, Math.abs(x.top.probs[j] - y.top.probs[j]));
  }
  for (let r = 0; r < x.rank.length; r++) if (y.rankExact[r]) exactRanksEqual &&= x.rank[r] === y.rank[r];
  return { idsEqual, logitsBitEqual, maxProbDiff: probDiff, exactRanksEqual };
}

async function measure<R>(fn: () => Promise<R>): Promise<{ wall: number; cpu: number; result: R }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000, result };
}

/**
 * English prose and a little code (76 tokens with BOS): the demo model's lens table (3 rows per
 * position) is the nearest this machine has to real rows, whose probabilities are not peaked.
 */
const DEMO_TEXT =
  'The quick brown fox jumps over the lazy dog. When Mary and John went to the store, John gave a drink to Mary. The capital of France is Paris, and the capital of Germany is Berlin. In 1492 Columbus sailed the ocean blue. def fib(n): return n if n < 2 else fib(n-1) + fib(n-2)';

/**
 * One lens table, the float32 lens and each screened variant alternately, RUNS runs after a warm-up
 * (whose results are checked against each other): the checkpoint in `folder` traced on `text`.
 */
async function benchTable(folder: string, name: string, text: (engine: Engine) => string, variantsWanted: readonly { products: ScreenProducts; rescore: RescoreMode }[]): Promise<Record<string, unknown>> {
  const cacheDir = path.join(BENCH_DIR, 'cache');
  const engine = new Engine({ threads: THREADS });
  try {
    await engine.load({ folder, name, cacheDir });
    const trace = await engine.trace({ text: text(engine) });
    const config = trace.model.config;
    const rows = config.nLayer + 1;
    const positions = trace.tokens.length;
    const targets = nextTokenTargets(trace.tokens.map((t) => t.id), rows);
    const variants: { products: ScreenProducts; rescore: RescoreMode; lens: Awaited<ReturnType<typeof screenedLensForCheckpoint>>; createMs: number }[] = [];
    try {
      for (const { products, rescore } of variantsWanted) {
        log(`${name}: creating the screened lens with ${products} int8 product(s), ${rescore} re-scoring (quantizes W_U, checks re-scoring against the float32 Gemm)`);
        const created = await measure(() => screenedLensForCheckpoint(folder, cacheDir, { threads: THREADS }, products, rescore));
        variants.push({ products, rescore, lens: created.result, createMs: created.wall });
      }
      const exact = variants[0].lens.exact;
      const f32 = { wall: [] as number[], cpu: [] as number[] };
      const scr = variants.map(() => ({ wall: [] as number[], cpu: [] as number[], last: undefined as ScreenedLensRows | undefined, check: {} as Record<string, unknown> }));
      let top1: number[] = [];
      for (let i = 0; i <= RUNS; i++) {
        log(`${name}: run ${i + 1} of ${RUNS + 1} (the first is a warm-up)`);
        const a = await measure(() => exact.run(trace.resid, targets, 10));
        if (i === 0) top1 = Array.from({ length: a.result.top.probs.length / 10 }, (_, r) => a.result.top.probs[r * 10]);
        else {
          f32.wall.push(a.wall);
          f32.cpu.push(a.cpu);
        }
        for (const [v, variant] of variants.entries()) {
          const b = await measure(() => variant.lens.screened.run(trace.resid, targets, 10));
          if (i === 0) {
            scr[v].check = check(a.result, b.result);
            continue;
          }
          scr[v].wall.push(b.wall);
          scr[v].cpu.push(b.cpu);
          scr[v].last = b.result;
        }
      }
      const f32Wall = median(f32.wall);
      const f32Cpu = median(f32.cpu);
      return {
        shape: { nLayer: config.nLayer, dModel: config.dModel, dVocab: config.dVocab, positions, tableRows: rows * positions, k: 10, threads: THREADS },
        medianTop1Probability: Math.round(median(top1) * 1000) / 1000,
        float32: { wallMs: round1(f32Wall), cpuMs: round1(f32Cpu) },
        target: 'screened / float32 ≤ 0.5',
        screened: variants.map((variant, v) => {
          const stats = scr[v].last?.stats;
          const screenedRows = stats ? stats.rows - stats.fallbackRows : 0;
          return {
            products: variant.products,
            rescore: variant.rescore,
            createMs: round1(variant.createMs),
            reproducesFloat32Gemm: variant.lens.screened.reproduces,
            wallMs: round1(median(scr[v].wall)),
            cpuMs: round1(median(scr[v].cpu)),
            ratio: { wall: Math.round((median(scr[v].wall) / f32Wall) * 100) / 100, cpu: Math.round((median(scr[v].cpu) / f32Cpu) * 100) / 100 },
            candidates: stats
              ? {
                  screenedRows,
                  fallbackRows: stats.fallbackRows,
                  probabilityFallbackRows: stats.probabilityFallbackRows,
                  perScreenedRow: screenedRows ? round1(stats.candidates / screenedRows) : 0,
                  maxPerRow: stats.maxCandidates,
                  exactRankRows: stats.exactRankRows,
                  ...(stats.medianBound === undefined ? {} : { medianBoundNats: Math.round(stats.medianBound * 1000) / 1000 }),
                  ...(stats.denseCells && screenedRows ? { denseLogitsPerRow: round1(stats.denseCells / screenedRows), unionTokens: stats.unionTokens } : {}),
                }
              : undefined,
            splitMs: stats?.ms ? Object.fromEntries(Object.entries(stats.ms).map(([key, x]) => [key, round1(x)])) : undefined,
            check: scr[v].check,
          };
        }),
      };
    } finally {
      for (const variant of variants) await variant.lens.release();
    }
  } finally {
    await engine.dispose();
  }
}

export async function benchScreenedLens(): Promise<Record<string, unknown>> {
  const bench = await benchTable(ensureBenchCheckpoint(), 'gpt2-small-random', (engine) => variedText(engine, T), VARIANTS);
  // The demo model (models/demo: real vocabulary, planted weights): flat lens rows (median top-1
  // probability about 0.37), like real GPT-2's, unlike the random bench checkpoint's.
  const demo = await benchTable(demoModelFolder(path.resolve(__dirname, '..')), 'demo', () => DEMO_TEXT, [{ products: DEFAULT_PRODUCTS, rescore: 'dense' }]);
  return { ...bench, demoModel: demo };
}

if (require.main === module) {
  printWhenRunAlone(() => benchScreenedLens());
}
