/**
 * Soak: 200 traces in a row through EngineClient (worker thread), as the extension runs them,
 * each followed by the lens table and an attribution like the trace panel asks for. Resident
 * memory after trace 10 vs after trace 200 must grow less than 10 %.
 * Model: models/demo when built, else a small random checkpoint in .bench/.
 *
 * Run alone: node --expose-gc --import tsx bench/soak.ts   (prints JSON)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineClient } from '../src/engine/client';
import { printWhenRunAlone } from './section';

const ROOT = path.resolve(__dirname, '..');
const BENCH_DIR = path.join(ROOT, '.bench');
const TRACES = 200;
const BASELINE_AFTER = 10;

const TEXT =
  'When Mary and John went to the store, John gave a drink to Mary. The quick brown fox jumps over the lazy dog, ' +
  'and the quick brown fox jumps over the lazy dog again.';

async function soakModel(): Promise<{ folder: string; name: string }> {
  const demo = path.join(ROOT, 'models', 'demo');
  if (fs.existsSync(path.join(demo, 'model.safetensors')) && fs.existsSync(path.join(demo, 'config.json'))) return { folder: demo, name: 'demo' };
  const folder = path.join(BENCH_DIR, 'soak-random');
  if (!fs.existsSync(path.join(folder, 'model.safetensors'))) {
    const { writeRandomCheckpoint } = await import('../test/helpers/checkpointWriter');
    writeRandomCheckpoint(folder, { nLayer: 2, nHead: 4, dModel: 256, nCtx: 1024, dVocab: 50257, seed: 7 });
  }
  return { folder, name: 'soak-random' };
}

/** The worker entry: the TypeScript source through tsx (dist/ may be stale while developing). */
export function workerEntry(): string {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const boot = path.join(BENCH_DIR, 'worker-bootstrap.cjs');
  fs.writeFileSync(boot, `require(${JSON.stringify(require.resolve('tsx/cjs'))});\nrequire(${JSON.stringify(path.join(ROOT, 'src/engine/worker.ts'))});\n`);
  return boot;
}

/**
 * RSS after collecting this thread's garbage when gc is exposed (node --expose-gc, as bench.ts runs
 * this file): the results this loop throws away are the harness's garbage, not the engine's. The
 * worker collects its own (worker.ts).
 */
function settledRss(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return process.memoryUsage().rss;
}

export async function benchSoak(): Promise<Record<string, unknown>> {
  const model = await soakModel();
  const client = new EngineClient({ workerPath: workerEntry() });
  try {
    await client.request('load', { ...model, cacheDir: path.join(BENCH_DIR, 'cache') });
    let rssAfterBaseline = 0;
    let tokens = 0;
    const started = performance.now();
    for (let i = 1; i <= TRACES; i++) {
      // Vary the text a little so every trace is new work, at a near-constant length.
      const trace = await client.request('trace', { text: `${TEXT} (${i % 10})` });
      tokens = trace.tokens.length;
      await client.request('lens', { traceId: trace.traceId });
      await client.request('attribute', { traceId: trace.traceId, pos: trace.tokens.length - 1 });
      if (i === BASELINE_AFTER) rssAfterBaseline = settledRss();
    }
    const rssAfterAll = settledRss();
    const growth = rssAfterAll / rssAfterBaseline - 1;
    return {
      model: model.name,
      traces: TRACES,
      tokensPerTrace: tokens,
      msPerTraceWithLensAndAttribution: Number(((performance.now() - started) / TRACES).toFixed(1)),
      rssMiBAfter10: Math.round(rssAfterBaseline / 2 ** 20),
      rssMiBAfter200: Math.round(rssAfterAll / 2 ** 20),
      growthPercent: Number((growth * 100).toFixed(2)),
      mainThreadGcBeforeSampling: typeof (globalThis as { gc?: unknown }).gc === 'function',
      target: { 'growth < 10 %': growth < 0.1 },
    };
  } finally {
    client.dispose();
  }
}

if (require.main === module) {
  printWhenRunAlone(() => benchSoak());
}
