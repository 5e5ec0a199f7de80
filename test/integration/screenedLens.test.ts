/**
 * The int8-screened exact lens (src/engine/screenedLens.ts) against the float32 lens (lens.ts) on
 * small random checkpoints: random rows, and adversarial ones (exact ties and one-ulp near-ties in
 * W_E, inside the top-k and at its boundary). Required: the same top-k ids bit for bit, the same
 * logits bit for bit (so within 1e-6), probabilities within 1e-6, next-token ranks equal where the
 * runner says they are exact. d_model 64 (one MLAS K block; d_vocab 3000, screened in blocks of 30)
 * and 600 (three K blocks, the last padded; d_vocab 3001, prime, so the screen pads it to blocks of 32).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { nextTokenTargets } from '../../src/engine/lens';
import { ensureDemoModel, DEMO_FOLDER } from '../../scripts/build-demo-model';
import { DEFAULT_PRODUCTS, quantizeUnembed, screenBlock, screenedLensForCheckpoint, type ScreenedLensRows } from '../../src/engine/screenedLens';
import type { LensRows } from '../../src/engine/lens';
import { makeTempFolder, randomWeights, removeTempFolder, writeCheckpoint } from '../helpers/checkpointWriter';
import { Random } from '../helpers/random';

const PROB_TOL = 1e-6;

function compare(screened: ScreenedLensRows, exact: LensRows, what: string): void {
  const a = screened.top;
  const b = exact.top;
  assert.equal(a.ids.length, b.ids.length);
  for (let i = 0; i < b.ids.length; i++) {
    assert.equal(a.ids[i], b.ids[i], `${what}: id ${i} (row ${Math.floor(i / b.k)})`);
    assert.ok(Object.is(a.logits[i], b.logits[i]), `${what}: logit ${i} is ${a.logits[i]}, float32 table ${b.logits[i]}`);
    assert.ok(Math.abs(a.probs[i] - b.probs[i]) <= PROB_TOL, `${what}: prob ${i} is ${a.probs[i]}, float32 table ${b.probs[i]}`);
  }
  for (let r = 0; r < exact.rank.length; r++) {
    if (screened.rankExact[r]) assert.equal(screened.rank[r], exact.rank[r], `${what}: rank of row ${r}`);
  }
  assert.deepEqual([...screened.scale], [...exact.scale], `${what}: ln_final scales`);
}

/** Rows of residuals: N(0, 1) plus a multiple of one token's embedding, so that token (and its ties) score high. */
function rowsNear(wte: Float32Array, D: number, tokens: readonly number[], random: Random, strength: number): Float32Array {
  const rows = new Float32Array(tokens.length * D);
  tokens.forEach((t, r) => {
    for (let i = 0; i < D; i++) rows[r * D + i] = random.gaussian() + strength * wte[t * D + i];
  });
  return rows;
}

for (const [D, V] of [
  [64, 3000],
  [600, 3001],
]) {
  describe(`screened lens vs float32 lens, d_model ${D}, d_vocab ${V}`, () => {
    let folder: string;
    let lens: Awaited<ReturnType<typeof screenedLensForCheckpoint>>;
    let wte: Float32Array;

    before(async () => {
      folder = makeTempFolder('residual-lens-screened');
      const weights = randomWeights({ nLayer: 1, nHead: 4, dModel: D, dVocab: V, nCtx: 8, seed: 11 });
      wte = weights.wte;
      // Adversarial W_E: exact ties (same embedding under two ids, the lower id last) and near-ties
      // (one element one ulp apart), around tokens 100, 200 and 300.
      const copy = (from: number, to: number): void => {
        wte.copyWithin(to * D, from * D, (from + 1) * D);
      };
      copy(100, 2999); // (the last id at d_vocab 3000; at 3001, id 3000 is left alone)
      copy(100, 101);
      copy(200, 201);
      wte[201 * D + 3] = nextUp(wte[201 * D + 3]);
      copy(300, 7);
      wte[7 * D] = nextDown(wte[7 * D]);
      writeCheckpoint(folder, weights);
      lens = await screenedLensForCheckpoint(folder, folder, { threads: 1 });
    });

    after(async () => {
      await lens?.release();
      removeTempFolder(folder);
    });

    it('re-scoring reproduces the float32 Gemm bit for bit on this ORT build', () => {
      assert.equal(lens.screened.reproduces, true);
    });

    it('random rows: same top-k ids and logits bit for bit, probabilities within 1e-6, exact ranks equal', async () => {
      const random = new Random(3);
      const N = 60;
      // Half the rows lean towards a random token (peaked lens rows, which the bound separates), half are plain noise (flat rows, which fall back).
      const rows = rowsNear(wte, D, Array.from({ length: N }, () => random.int(0, V)), random, 1);
      for (let r = 0; r < N; r += 2) for (let i = 0; i < D; i++) rows[r * D + i] = random.gaussian() * 2;
      const targets = Int32Array.from({ length: N }, (_, i) => (i === N - 1 ? -1 : random.int(0, V)));
      for (const k of [1, 10]) {
        const exact = await lens.exact.run(rows, targets, k);
        const screened = await lens.screened.run(rows, targets, k);
        compare(screened, exact, `random k=${k}`);
        const s = screened.stats;
        assert.ok(s.candidates >= (N - s.fallbackRows) * k, 'every screened row re-scores at least k tokens');
        assert.ok((s.probabilityFallbackRows ?? 0) <= s.fallbackRows, 'probability fallbacks are fallbacks');
        if (s.medianBound !== undefined) assert.ok(s.medianBound > 0 && Number.isFinite(s.medianBound), `the median bound ${s.medianBound} is a positive number`);
        // Peaked rows at GPT-2 widths are screened; flat rows (and every row at d_model 64, where the
        // int8 error is large next to the logits' spread) fall back to the float32 lens.
        if (D === 600 && k === 10) assert.ok(s.fallbackRows < N, `some rows are screened: ${JSON.stringify(s)}`);
        if (D === 64) assert.ok(s.fallbackRows > 0, `rows the bound does not separate fall back: ${JSON.stringify(s)}`);
      }
    });

    it('ties and near-ties in W_E, in the top-k and at its boundary', async (t) => {
      const random = new Random(5);
      // Rows pointing at the tied tokens: they are the top-1/top-2; with k = 1 the tie is the boundary.
      const tokens = [100, 200, 300, 100, 200, 300, 101, 7, 2999];
      const rows = rowsNear(wte, D, tokens, random, 3);
      const targets = Int32Array.from(tokens, (t, i) => (i % 2 === 0 ? t : 2999));
      for (const k of [1, 2, 3, 10]) {
        const exact = await lens.exact.run(rows, targets, k);
        const screened = await lens.screened.run(rows, targets, k);
        compare(screened, exact, `ties k=${k}`);
        t.diagnostic(`k=${k}: ${tokens.length - screened.stats.fallbackRows} of ${tokens.length} rows screened, ${screened.stats.candidates} candidates`);
        if (k === 10) assert.ok(screened.stats.fallbackRows < tokens.length, 'the tied rows are screened, not only computed in float32');
      }
      // The exact ties really are in the table: ids 100 and 101 (equal logits) at rows 0 and 3.
      const exact = await lens.exact.run(rows, targets, 3);
      const top = [...exact.top.ids.subarray(0, 3)];
      assert.ok(top.includes(100) && top.includes(101), `row 0's top-3 ${top.join(', ')} holds the tied ids`);
    });

    it('one, two and three int8 products (narrower bounds, fewer candidates), dense and per-row re-scoring: the same table', async () => {
      assert.equal(lens.screened.products, DEFAULT_PRODUCTS);
      assert.equal(lens.screened.rescoreMode, 'dense');
      const random = new Random(4);
      const N = 20;
      const rows = rowsNear(wte, D, Array.from({ length: N }, () => random.int(0, V)), random, 1);
      const targets = Int32Array.from({ length: N }, () => random.int(0, V));
      const exact = await lens.exact.run(rows, targets, 10);
      const candidates = new Map<string, number>();
      for (const [products, mode] of [
        [1, 'dense'],
        [2, 'dense'],
        [3, 'dense'],
        [2, 'perRow'],
        [3, 'perRow'],
      ] as const) {
        const other = await screenedLensForCheckpoint(folder, folder, { threads: 1 }, products, mode);
        try {
          assert.equal(other.screened.reproduces, true, `${products} products, ${mode}: re-scoring reproduces the Gemm`);
          const screened = await other.screened.run(rows, targets, 10);
          compare(screened, exact, `${products} products, ${mode}`);
          candidates.set(`${products}${mode}`, screened.stats.candidates);
          if (mode === 'dense' && screened.stats.fallbackRows < N) assert.ok((screened.stats.denseCells ?? 0) >= screened.stats.candidates, 'dense re-scoring computes every candidate');
        } finally {
          await other.release();
        }
      }
      // Both re-scorings see the same candidates; more products, fewer of them (at GPT-2-like widths).
      assert.equal(candidates.get('2dense'), candidates.get('2perRow'));
      if (D === 600) {
        assert.ok((candidates.get('1dense') ?? 0) >= (candidates.get('2dense') ?? 0), `one product re-scores at least as many tokens as two: ${JSON.stringify([...candidates])}`);
        assert.ok((candidates.get('2dense') ?? 0) >= (candidates.get('3dense') ?? 0), `two re-score at least as many as three: ${JSON.stringify([...candidates])}`);
      }
    });

    it('one row alone (the dense product sends it twice: MLAS sums one row differently)', async () => {
      const random = new Random(21);
      const rows = rowsNear(wte, D, [300], random, 3);
      const targets = Int32Array.from([300]);
      const screened = await lens.screened.run(rows, targets, 5);
      compare(screened, await lens.exact.run(rows, targets, 5), 'one row');
      if (D === 600) assert.equal(screened.stats.fallbackRows, 0, 'the row is screened');
    });

    it('k above the number of screen blocks: every row by the float32 lens', async () => {
      const random = new Random(12);
      const N = 4;
      const rows = rowsNear(wte, D, Array.from({ length: N }, () => random.int(0, V)), random, 1);
      const targets = Int32Array.from({ length: N }, () => random.int(0, V));
      const k = Math.ceil(V / screenBlock(V)) + 1;
      const screened = await lens.screened.run(rows, targets, k);
      compare(screened, await lens.exact.run(rows, targets, k), `k=${k}`);
      assert.equal(screened.stats.fallbackRows, N);
    });

    it('a build whose re-scoring differs falls back to the float32 lens for every row', async () => {
      const random = new Random(9);
      const N = 5;
      const rows = Float32Array.from({ length: N * D }, () => random.gaussian());
      const targets = new Int32Array(N).fill(17);
      lens.screened.reproduces = false;
      try {
        const screened = await lens.screened.run(rows, targets, 4);
        compare(screened, await lens.exact.run(rows, targets, 4), 'fallback');
        assert.equal(screened.stats.fallbackRows, N);
      } finally {
        lens.screened.reproduces = true;
      }
    });
  });
}

describe('quantizeUnembed', () => {
  it('per-token int8 in two halves, with exact error norms', () => {
    const V = 5;
    const D = 4;
    const wte = Float32Array.from([1, -2, 0.5, 0.25, 0, 0, 0, 0, 3, 3, -3, 1, 0.1, 0.2, 0.3, -0.4, 127, 63.5, -1, 0]);
    const q = quantizeUnembed(wte, V, D);
    for (let j = 0; j < V; j++) {
      let e2 = 0;
      let n2 = 0;
      for (let i = 0; i < D; i++) {
        const w = wte[j * D + i];
        const qi = q.q[i * V + j];
        const lo = q.qLo[i * V + j];
        assert.ok(qi >= -127 && qi <= 127 && lo >= -127 && lo <= 127);
        assert.equal(q.loScale[j], q.scale[j] / 256);
        assert.ok(Math.abs(w - q.scale[j] * qi) <= q.scale[j] / 2 + 1e-12, `token ${j} element ${i}`);
        const e = w - q.scale[j] * qi - q.loScale[j] * lo;
        assert.ok(Math.abs(e) <= q.loScale[j] + 1e-12, `token ${j} element ${i}: low half`);
        e2 += e ** 2;
        n2 += w * w;
      }
      assert.ok(q.errNorm[j] >= Math.sqrt(e2) && q.errNorm[j] <= Math.sqrt(e2) * (1 + 1e-9) + 1e-200);
      assert.ok(q.norm[j] >= Math.sqrt(n2) && q.norm[j] <= Math.sqrt(n2) * (1 + 1e-9) + 1e-200);
    }
    assert.equal(q.q[0 * V + 4], 127, 'the largest element maps to ±127');
  });
});

function nextUp(x: number): number {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  u[0] += x >= 0 ? 1 : -1;
  return f[0];
}

function nextDown(x: number): number {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  u[0] += x > 0 ? -1 : 1;
  return f[0];
}

describe('screenBlock', () => {
  it('a divisor of V near 32, else 32 (the screen pads V)', () => {
    assert.equal(screenBlock(50257), 29); // GPT-2: 29 × 1733
    assert.equal(screenBlock(3000), 30);
    assert.equal(screenBlock(3001), 32);
    assert.equal(screenBlock(64), 32);
  });
});

describe('screened lens on flat rows (the demo model: real vocabulary, planted weights)', () => {
  it('every row separates its top-k but cannot certify its probabilities: all fall back, the table is the float32 one', async () => {
    ensureDemoModel();
    const cacheDir = makeTempFolder('residual-lens-screened-demo');
    const engine = new Engine({ threads: 1 });
    try {
      await engine.load({ folder: DEMO_FOLDER, name: 'demo', cacheDir });
      const trace = await engine.trace({ text: 'When Mary and John went to the store, John gave a drink to Mary.' });
      const rows = trace.model.config.nLayer + 1;
      const targets = nextTokenTargets(trace.tokens.map((t) => t.id), rows);
      const lens = await screenedLensForCheckpoint(path.resolve(DEMO_FOLDER), cacheDir, { threads: 1 });
      try {
        assert.equal(lens.screened.reproduces, true);
        const exact = await lens.exact.run(trace.resid, targets, 10);
        const screened = await lens.screened.run(trace.resid, targets, 10);
        compare(screened, exact, 'demo');
        const N = rows * trace.tokens.length;
        // Flat rows: the tokens outside the candidates hold most of the mass, known only to a factor
        // e^±bound (about 0.15 nats here), far from the 5e-7 the probabilities must be certified to.
        const top1 = Array.from({ length: N }, (_, r) => exact.top.probs[r * 10]).sort((a, b) => a - b);
        assert.ok(top1[N >> 1] < 0.6, `the rows are flat (median top-1 probability ${top1[N >> 1]})`);
        assert.equal(screened.stats.fallbackRows, N);
        assert.equal(screened.stats.probabilityFallbackRows, N, 'each for its probabilities, not for its top-k');
        assert.ok(screened.stats.medianBound !== undefined && screened.stats.medianBound > 0.01 && screened.stats.medianBound < 1, `median bound ${screened.stats.medianBound} nats`);
      } finally {
        await lens.release();
      }
    } finally {
      await engine.dispose();
      removeTempFolder(cacheDir);
    }
  });
});
