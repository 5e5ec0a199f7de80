/**
 * The lens's next-token rank pass, two ways, in one run:
 * - counting: over [166, 50257] scores (one lens chunk), the count of values above each row's limit
 *   by Cast-to-float + ReduceSum (the earlier graph) and by graph.ts countAbove (uint8 × int8
 *   MatMulInteger against a column of ones), alternately; the counts are checked equal.
 * - the head: the lens graph (LensRunner) over 128 final residual rows of the bench checkpoint with
 *   ranks (every row names a target) and without (a trace's head: the rank pass skipped by its If).
 * Medians, 2 ORT threads.
 *
 * Run alone: node --import tsx bench/rankCount.ts   (prints JSON)
 */
import * as ort from 'onnxruntime-node';
import { SeededRandom } from '../src/analysis/random';
import { buildLensGraph, countAbove, onesColumn } from '../src/engine/graph';
import { LensRunner } from '../src/engine/lens';
import { DataType, GraphBuilder } from '../src/engine/onnx/model';
import { createSession } from '../src/engine/session';
import { ensureBenchCheckpoint, locator, time } from './engine';
import { median, printWhenRunAlone, round1 } from './section';

const V = 50257;
const CHUNK_ROWS = 166; // lens.ts: 8 Mi logits per chunk
const HEAD_ROWS = 128;

/** scores [n, V], limit [n, 1] → count [n] int32, by `how`. */
function countGraph(how: 'float' | 'matmulInteger'): Uint8Array {
  const g = new GraphBuilder(`rank_count_${how}`);
  const scores = g.input('scores', DataType.FLOAT, ['n', V]);
  const limit = g.input('limit', DataType.FLOAT, ['n', 1]);
  if (how === 'matmulInteger') {
    g.op('Identity', [countAbove(g, scores, limit, onesColumn(g, V))], {}, 'count');
  } else {
    const above = g.op('Cast', [g.op('Greater', [scores, limit])], { to: { i: DataType.FLOAT } });
    const sum = g.op('ReduceSum', [above, g.constInts([1])], { keepdims: { i: 0 } });
    g.op('Cast', [sum], { to: { i: DataType.INT32 } }, 'count');
  }
  g.output('count', DataType.INT32, ['n']);
  return g.build();
}

export async function benchRankCount(): Promise<Record<string, unknown>> {
  const settings = { threads: 2 };
  const float = await createSession(countGraph('float'), undefined, settings);
  const integer = await createSession(countGraph('matmulInteger'), undefined, settings);
  const random = new SeededRandom(12345);
  const scores = new Float32Array(CHUNK_ROWS * V).map(() => random.uniform() * 20 - 10);
  const limit = new Float32Array(CHUNK_ROWS).map(() => random.uniform() * 20 - 10);
  const feeds = { scores: new ort.Tensor('float32', scores, [CHUNK_ROWS, V]), limit: new ort.Tensor('float32', limit, [CHUNK_ROWS, 1]) };
  const a = (await float.run(feeds)).count.data as Int32Array;
  const b = (await integer.run(feeds)).count.data as Int32Array;
  const countsEqual = a.length === b.length && a.every((x, i) => x === b[i]);
  const floatMs: number[] = [];
  const integerMs: number[] = [];
  for (let i = 0; i < 17; i++) {
    const f = await time(() => float.run(feeds));
    const m = await time(() => integer.run(feeds));
    if (i >= 2) {
      floatMs.push(f);
      integerMs.push(m);
    }
  }
  await float.release();
  await integer.release();

  const { locate, weightsFolder, config } = locator(ensureBenchCheckpoint());
  const lensSession = await createSession(buildLensGraph(config, locate), weightsFolder, settings);
  const lens = new LensRunner(lensSession, config);
  const rows = new Float32Array(HEAD_ROWS * config.dModel).map(() => random.uniform() * 4 - 2);
  const targets = Int32Array.from({ length: HEAD_ROWS }, (_, i) => (i * 7919) % V);
  const none = new Int32Array(HEAD_ROWS).fill(-1);
  const withMs: number[] = [];
  const withoutMs: number[] = [];
  for (let i = 0; i < 17; i++) {
    const w = await time(() => lens.run(rows, targets, 10));
    const wo = await time(() => lens.run(rows, none, 10));
    if (i >= 2) {
      withMs.push(w);
      withoutMs.push(wo);
    }
  }
  await lensSession.release();
  return {
    what: `rank count over [${CHUNK_ROWS}, ${V}] (median of 15), and the lens graph over ${HEAD_ROWS} rows with and without ranks (median of 15), 2 threads`,
    countsEqual,
    castReduceSumMs: round1(median(floatMs)),
    matMulIntegerMs: round1(median(integerMs)),
    headWithRanksMs: round1(median(withMs)),
    headWithoutRanksMs: round1(median(withoutMs)),
  };
}

if (require.main === module) printWhenRunAlone(benchRankCount);
