/**
 * Dense helpers of src/analysis/linalg.ts against obvious references (naive loops, reconstruction,
 * polynomials with known roots). Tolerances are relative unless stated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generalEigenvalues,
  gramColumns,
  matmul,
  matmul64,
  psdFactor,
  symmetricEigen,
  symmetricEigenvalues,
} from '../../src/analysis/linalg';
import { SeededRandom } from '../../src/analysis/random';
import { effectiveRank, rowCovariance, subspaceOverlap, varianceCurve } from '../../src/analysis/subspaces';
import { Random } from '../helpers/random';

function naiveMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): number[] {
  const c: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[i * k + p] as number) * (b[p * n + j] as number);
      c.push(s);
    }
  }
  return c;
}

function assertClose(actual: number, expected: number, rel: number, what: string): void {
  const scale = Math.max(1e-12, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= rel * scale, `${what}: ${actual} vs ${expected} (relative tolerance ${rel})`);
}

test('matmul equals the naive triple loop (1e-6 relative to the row scale)', () => {
  const r = new Random(1);
  for (const [m, k, n] of [[3, 5, 7], [9, 17, 4], [1, 1, 1]] as const) {
    const a = r.gaussianArray(m * k);
    const b = r.gaussianArray(k * n);
    const got = matmul(a, b, m, k, n);
    const want = naiveMatmul(a, b, m, k, n);
    want.forEach((w, i) => assert.ok(Math.abs((got[i] as number) - w) <= 1e-5 * Math.sqrt(k), `entry ${i}: ${got[i]} vs ${w}`));
  }
});

test('psdFactor gives Fᵀ F = G, also for singular G (1e-10 relative to ‖G‖)', () => {
  const r = new Random(2);
  for (const rank of [6, 3, 0]) {
    const n = 6;
    const w = new Float64Array(10 * n);
    for (let i = 0; i < 10; i++) for (let j = 0; j < rank; j++) w[i * n + j] = r.gaussian();
    // mix columns so the null space is not axis-aligned
    const mix = Float64Array.from(r.gaussianArray(n * n));
    const wm = matmul64(w, mix, 10, n, n);
    const g = gramColumns(wm, 10, n);
    const f = psdFactor(g, n);
    const ftf = gramColumns(f, n, n);
    const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0)) || 1;
    g.forEach((x, i) => assert.ok(Math.abs((ftf[i] as number) - x) <= 1e-10 * norm, `rank ${rank} entry ${i}`));
  }
});

test('symmetric eigen (Jacobi) reconstructs the matrix; tridiagonal QL agrees on the eigenvalues (1e-9)', () => {
  const r = new Random(3);
  const n = 12;
  const a = Float64Array.from(r.gaussianArray(n * n));
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s[i * n + j] = (a[i * n + j] as number) + (a[j * n + i] as number);
  const { values, vectors } = symmetricEigen(s, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let rec = 0;
      for (let k = 0; k < n; k++) rec += (values[k] as number) * (vectors[k * n + i] as number) * (vectors[k * n + j] as number);
      assert.ok(Math.abs(rec - (s[i * n + j] as number)) < 1e-9, `reconstruction (${i}, ${j})`);
    }
  }
  const ql = symmetricEigenvalues(s, n);
  ql.forEach((v, i) => assertClose(v, values[i] as number, 1e-9, `eigenvalue ${i}`));
  for (let i = 1; i < n; i++) assert.ok((values[i - 1] as number) >= (values[i] as number), 'descending');
});

test('generalEigenvalues finds the known roots of a companion matrix, complex pairs included (1e-8)', () => {
  // roots 2, -1, 0.5, 3 ± 4i, -2 ± 1i  → monic polynomial coefficients by expansion
  const roots: [number, number][] = [[2, 0], [-1, 0], [0.5, 0], [3, 4], [3, -4], [-2, 1], [-2, -1]];
  let coef: [number, number][] = [[1, 0]]; // highest degree first, complex
  for (const [rr, ri] of roots) {
    const next: [number, number][] = coef.map((c) => [c[0], c[1]]);
    next.push([0, 0]);
    for (let i = 0; i < coef.length; i++) {
      const [cr, ci] = coef[i]!;
      next[i + 1]![0] -= cr * rr - ci * ri;
      next[i + 1]![1] -= cr * ri + ci * rr;
    }
    coef = next;
  }
  const n = roots.length;
  const comp = new Float64Array(n * n);
  for (let j = 0; j < n; j++) comp[j] = -coef[j + 1]![0];
  for (let i = 1; i < n; i++) comp[i * n + i - 1] = 1;
  const { re, im } = generalEigenvalues(comp, n);
  const found = Array.from(re, (x, i) => [x, im[i] as number] as [number, number]);
  for (const [rr, ri] of roots) {
    const best = Math.min(...found.map(([x, y]) => Math.hypot(x - rr, y - ri)));
    assert.ok(best < 1e-8, `root ${rr}+${ri}i: nearest eigenvalue is ${best} away`);
  }
});

test('generalEigenvalues matches the symmetric solver on symmetric input and the trace on random input', () => {
  const r = new Random(4);
  const n = 20;
  const a = Float64Array.from(r.gaussianArray(n * n));
  const { re, im } = generalEigenvalues(a, n);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a[i * n + i] as number;
  assertClose(re.reduce((s, x) => s + x, 0), trace, 1e-9, 'Σλ = trace');
  assert.ok(Math.abs(im.reduce((s, x) => s + x, 0)) < 1e-9, 'imaginary parts cancel in conjugate pairs');
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s[i * n + j] = (a[i * n + j] as number) + (a[j * n + i] as number);
  const sym = symmetricEigen(s, n).values;
  const gen = generalEigenvalues(s, n).re.sort((x, y) => y - x);
  gen.forEach((v, i) => assertClose(v, sym[i] as number, 1e-8, `symmetric eigenvalue ${i}`));
});

test('SeededRandom.distinct: same seed, same draw; all distinct and in range', () => {
  const a = new SeededRandom(7).distinct(50, 10, 70);
  const b = new SeededRandom(7).distinct(50, 10, 70);
  assert.deepEqual(a, b);
  assert.equal(new Set(a).size, 50);
  assert.ok(a.every((x) => x >= 10 && x < 70));
  assert.throws(() => new SeededRandom(1).distinct(5, 0, 3), /5 values requested from a range of 3/);
});

test('PCA of data with a known spectrum: covariance eigenvalues and 50/80/90 % counts are exact', async () => {
  // rows ±a_i q_i for orthonormal q_i: mean 0, covariance eigenvalues a_i² / k
  const d = 8;
  const amps = [4, 3, 2, 1];
  const k = amps.length;
  const r = new Random(5);
  const basis = symmetricEigen(Float64Array.from(gramColumns(r.gaussianArray(20 * d), 20, d)), d).vectors; // orthonormal rows
  const rows: Float32Array[] = [];
  amps.forEach((amp, i) => {
    for (const sign of [1, -1]) rows.push(Float32Array.from({ length: d }, (_, j) => sign * amp * (basis[i * d + j] as number)));
  });
  const cov = await rowCovariance(rows.length, d, (i, out) => out.set(rows[i]!), undefined, 3);
  const values = symmetricEigenvalues(cov, d);
  amps.forEach((amp, i) => assertClose(values[i] as number, (amp * amp) / k, 1e-5, `eigenvalue ${i}`));
  const curve = varianceCurve(values);
  // variances 16, 9, 4, 1 of 30: cumulative 0.533, 0.833, 0.967, 1
  assert.equal(curve.at50, 1);
  assert.equal(curve.at80, 2);
  assert.equal(curve.at90, 3);
  assertClose(curve.cumulative[1] as number, 25 / 30, 1e-5, 'cumulative at 2');
});

test('effective rank and subspace overlap on known cases', () => {
  assertClose(effectiveRank([2, 2, 2, 2]), 4, 1e-12, 'four equal singular values');
  assertClose(effectiveRank([5, 0, 0]), 1, 1e-12, 'rank one');
  assert.equal(effectiveRank([0, 0]), 0);
  const d = 4;
  const e = (i: number): number[] => Array.from({ length: d }, (_, j) => (j === i ? 1 : 0));
  assertClose(subspaceOverlap([...e(0), ...e(1)], 2, [...e(1), ...e(0)], 2, d), 1, 1e-9, 'same plane');
  assert.ok(subspaceOverlap([...e(0), ...e(1)], 2, [...e(2), ...e(3)], 2, d) < 1e-12, 'orthogonal planes');
  assertClose(subspaceOverlap([...e(0), ...e(1)], 2, [...e(1), ...e(2)], 2, d), 0.5, 1e-9, 'one shared axis of two');
  // spanning rows need not be orthonormal or independent
  assertClose(subspaceOverlap([1, 1, 0, 0, 2, 2, 0, 0], 2, [1, 0, 0, 0, 0, 1, 0, 0], 2, d), 1, 1e-9, 'line inside plane');
});
