/**
 * The ORT MatmulBackend (src/engine/matmulBackend.ts) against the pure-TypeScript products, within
 * 1e-5 relative to the product's scale (ORT accumulates in float32); subarray views with a byte
 * offset are read correctly. The MLP neuron-pair drill-down through ORT returns exactly the pure
 * path's pairs and values (candidates are re-ranked in float64).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOrtMatmulBackend, type OrtMatmulBackend } from '../../src/engine/matmulBackend';
import { matmul, transpose } from '../../src/analysis/linalg';
import { mlpPairReport, mlpPairReportWith } from '../../src/analysis/mlpVirtual';
import { processWeights } from '../../src/analysis/processWeights';
import { randomWeights } from '../helpers/checkpointWriter';
import { mulberry32 } from '../helpers/random';

const REL = 1e-5;

function randomMatrix(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * next() - 1);
}

/** |got − want| ≤ REL · max|want| element-wise (the products' entries can be near 0 by cancellation). */
function assertCloseMatrix(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  for (const x of want) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs((got[i] as number) - (want[i] as number)) <= REL * scale, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('ORT matmul backend', () => {
  let ort: OrtMatmulBackend;
  before(async () => {
    ort = await createOrtMatmulBackend();
  });
  after(async () => {
    await ort.release();
  });

  for (const [m, k, n] of [
    [1, 1, 1],
    [3, 5, 7],
    [64, 96, 33],
    [17, 300, 129],
  ] as const) {
    it(`A·B, A·Bᵀ and Aᵀ·B equal the TypeScript products for [${m}, ${k}] × [${k}, ${n}]`, async () => {
      const a = randomMatrix(m * k, m * 1000 + k);
      const b = randomMatrix(k * n, n * 1000 + k);
      const want = matmul(a, b, m, k, n);
      assertCloseMatrix(await ort.matmul(a, b, m, k, n), want, 'matmul');
      assertCloseMatrix(await ort.matmulTransB(a, transpose(b, k, n), m, k, n), want, 'matmulTransB');
      assertCloseMatrix(await ort.matmulTransA(transpose(a, m, k), b, m, k, n), want, 'matmulTransA');
    });
  }

  it('reads subarray views at their byte offset', async () => {
    const big = randomMatrix(1000, 7);
    const a = big.subarray(13, 13 + 6 * 8); // [6, 8]
    const b = big.subarray(501, 501 + 8 * 5); // [8, 5]
    const want = matmul(a.slice(), b.slice(), 6, 8, 5);
    assertCloseMatrix(await ort.matmul(a, b, 6, 8, 5), want, 'matmul of views');
    assertCloseMatrix(await ort.matmulTransB(a, transpose(b, 8, 5), 6, 8, 5), want, 'matmulTransB of views');
  });

  it('the MLP drill-down through ORT gives the pure path\'s exact top-N pairs and values; norms within 1e-5', async () => {
    const weights = randomWeights({ nLayer: 3, nHead: 2, dModel: 32, dHead: 16, dMlp: 300, nCtx: 16, dVocab: 64, seed: 5 });
    const pw = processWeights(weights);
    for (const [writer, reader, topN] of [
      [0, 1, 20],
      [1, 2, 1],
      [0, 2, 700], // many compactions of the candidate list
    ] as const) {
      const pure = mlpPairReport(pw, { writer, reader, topN });
      const viaOrt = await mlpPairReportWith(pw, { writer, reader, topN }, ort);
      assert.equal(viaOrt.pairs.length, topN);
      assert.deepEqual(viaOrt.pairs, pure.pairs, `MLP ${writer} → ${reader}, top ${topN}`);
      assert.ok(Math.abs(viaOrt.norm - pure.norm) <= REL * pure.norm, `norm ${viaOrt.norm} vs ${pure.norm}`);
      for (let r = 1; r < pure.pairs.length; r++) assert.ok(Math.abs(pure.pairs[r - 1]!.value) >= Math.abs(pure.pairs[r]!.value));
    }
  });
});
