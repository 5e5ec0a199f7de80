/**
 * The int8-screened exact lens vs today's float32 lens: the full table (13 rows × 128 positions,
 * top-10 and next-token ranks) on the GPT-2-small-shaped bench checkpoint (bench/engine.ts), both
 * in the same run, alternately, 2 ORT threads. Reports wall and CPU medians, their ratios, the
 * candidate counts and fallback rows, the screened run's time split, and a check of the result
 * (ids and logits bit-equal, largest probability difference, ranks equal where exact).
 *
 * Run alone: node --import tsx bench/screenedLens.ts   (prints JSON)
 */
import * as path from 'node:path';
import { Engine } from '../src/engine/engine';
import { nextTokenTargets } from '../src/engine/lens';
import { screenedLensForCheckpoint, type ScreenedLensRows } from '../src/engine/screenedLens';
import { BENCH_DIR, ensureBenchCheckpoint } from './engine';
import { median, round1 } from './section';

const T = 128;
const RUNS = 5;
const THREADS = 2;

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

async function measure<R>(fn: () => Promise<R>): Promise<{ wall: number; cpu: number; result: R }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000, result };
}

export async function benchScreenedLens(): Promise<Record<string, unknown>> {
  const folder = ensureBenchCheckpoint();
  const cacheDir = path.join(BENCH_DIR, 'cache');
  const engine = new Engine({ threads: THREADS });
  try {
    await engine.load({ folder, name: 'gpt2-small-random', cacheDir });
    const trace = await engine.trace({ text: variedText(engine, T) });
    const config = trace.model.config;
    const rows = config.nLayer + 1;
    const positions = trace.tokens.length;
    const targets = nextTokenTargets(trace.tokens.map((t) => t.id), rows);
    log(`creating the screened lens (quantizes W_U, checks re-scoring against the float32 Gemm)`);
    const created = await measure(() => screenedLensForCheckpoint(folder, cacheDir, { threads: THREADS }));
    const lens = created.result;
    try {
      const f32 = { wall: [] as number[], cpu: [] as number[] };
      const scr = { wall: [] as number[], cpu: [] as number[] };
      let last: ScreenedLensRows | undefined;
      let check: Record<string, unknown> = {};
      for (let i = 0; i <= RUNS; i++) {
        log(`run ${i + 1} of ${RUNS + 1} (the first is a warm-up)`);
        const a = await measure(() => lens.exact.run(trace.resid, targets, 10));
        const b = await measure(() => lens.screened.run(trace.resid, targets, 10));
        if (i === 0) {
          const x = a.result;
          const y = b.result;
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
          check = { idsEqual, logitsBitEqual, maxProbDiff: probDiff, exactRanksEqual };
          continue;
        }
        f32.wall.push(a.wall);
        f32.cpu.push(a.cpu);
        scr.wall.push(b.wall);
        scr.cpu.push(b.cpu);
        last = b.result;
      }
      const stats = last?.stats;
      const screenedRows = stats ? stats.rows - stats.fallbackRows : 0;
      return {
        shape: { nLayer: config.nLayer, dModel: config.dModel, dVocab: config.dVocab, positions, tableRows: rows * positions, k: 10, threads: THREADS },
        createMs: round1(created.wall),
        reproducesFloat32Gemm: lens.screened.reproduces,
        float32: { wallMs: round1(median(f32.wall)), cpuMs: round1(median(f32.cpu)) },
        screened: { wallMs: round1(median(scr.wall)), cpuMs: round1(median(scr.cpu)) },
        ratio: { wall: Math.round((median(scr.wall) / median(f32.wall)) * 100) / 100, cpu: Math.round((median(scr.cpu) / median(f32.cpu)) * 100) / 100, target: 0.5 },
        candidates: stats
          ? {
              screenedRows,
              fallbackRows: stats.fallbackRows,
              perScreenedRow: screenedRows ? round1(stats.candidates / screenedRows) : 0,
              maxPerRow: stats.maxCandidates,
              exactRankRows: stats.exactRankRows,
            }
          : undefined,
        screenedSplitMs: stats?.ms ? Object.fromEntries(Object.entries(stats.ms).map(([key, v]) => [key, round1(v)])) : undefined,
        check,
      };
    } finally {
      await lens.release();
    }
  } finally {
    await engine.dispose();
  }
}

if (require.main === module) {
  benchScreenedLens()
    .then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`))
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    });
}
