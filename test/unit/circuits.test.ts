/**
 * Weight-only circuits against explicit products computed the slow, obvious way on small random
 * weights: an independent fold_ln / center_writing_weights written here in plain loops, explicit
 * d_model × d_model (and d_mlp × d_mlp) matrices, naive Frobenius norms. Tolerance: 1e-5 relative
 * (the fast paths store some intermediates in float32), unless a line says otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig, ModelWeights } from '../../src/engine/types';
import { computeCircuits, headPair, mlpPair } from '../../src/analysis/circuits';
import { compositionBaseline, compositionScores, headFactors, lowRankPairScore } from '../../src/analysis/composition';
import { detectHeads, detectorCeilings, duplicateTokenPattern, inductionPattern, previousTokenPattern, repeatedRandomSequences } from '../../src/analysis/detectors';
import { generalEigenvalues, symmetricEigen } from '../../src/analysis/linalg';
import { headMlpStrengths, mlpGrams, mlpVirtualNorms } from '../../src/analysis/mlpVirtual';
import { processWeights, projectOnUnembed, unembedColumn } from '../../src/analysis/processWeights';
import { ovCircuits, positionalQk } from '../../src/analysis/qkov';
import { embeddingSubspaces, headSubspaceOverlap, headSubspaceOverlaps, varianceCurve } from '../../src/analysis/subspaces';
import { randomWeights } from '../helpers/checkpointWriter';
import { Random } from '../helpers/random';
import { referenceForward } from '../helpers/referenceForward';

const CONFIG = { nLayer: 3, nHead: 3, dModel: 24, dHead: 8, dMlp: 48, nCtx: 24, dVocab: 90, layerNormEps: 1e-5 } satisfies ModelConfig;
const REL = 1e-5;

type Mat = { rows: number; cols: number; data: number[] };
const mat = (rows: number, cols: number, f: (i: number, j: number) => number): Mat => {
  const data: number[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data.push(f(i, j));
  return { rows, cols, data };
};
const at = (m: Mat, i: number, j: number): number => m.data[i * m.cols + j] as number;
const mul = (a: Mat, b: Mat): Mat => {
  assert.equal(a.cols, b.rows);
  return mat(a.rows, b.cols, (i, j) => {
    let s = 0;
    for (let k = 0; k < a.cols; k++) s += at(a, i, k) * at(b, k, j);
    return s;
  });
};
const tr = (a: Mat): Mat => mat(a.cols, a.rows, (i, j) => at(a, j, i));
const fro = (a: Mat): number => Math.sqrt(a.data.reduce((s, x) => s + x * x, 0));
/** Subtract the mean over d_model: rows of a reading matrix [D, n] (axis 0) or of a writing matrix [n, D] (axis 1). */
const centreAxis0 = (a: Mat): Mat => {
  const mean = Array.from({ length: a.cols }, (_, j) => Array.from({ length: a.rows }, (_, i) => at(a, i, j)).reduce((s, x) => s + x, 0) / a.rows);
  return mat(a.rows, a.cols, (i, j) => at(a, i, j) - (mean[j] as number));
};
const centreAxis1 = (a: Mat): Mat => {
  const mean = Array.from({ length: a.rows }, (_, i) => Array.from({ length: a.cols }, (_, j) => at(a, i, j)).reduce((s, x) => s + x, 0) / a.cols);
  return mat(a.rows, a.cols, (i, j) => at(a, i, j) - (mean[i] as number));
};

/** The slow fold: explicit per-head matrices as TransformerLens builds them. */
function naiveHeads(w: ModelWeights) {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh, dMlp: M } = w.config;
  const layers = [];
  for (let l = 0; l < L; l++) {
    const lw = w.layers[l]!;
    const read = (part: number, h: number): Mat =>
      centreAxis0(mat(D, Dh, (i, j) => (lw.ln1Weight[i] as number) * (lw.attnWeight[i * 3 * D + part * D + h * Dh + j] as number)));
    const heads = [];
    for (let h = 0; h < H; h++) {
      const wQ = read(0, h);
      const wK = read(1, h);
      const wV = read(2, h);
      const wO = centreAxis1(mat(Dh, D, (j, i) => lw.attnProjWeight[(h * Dh + j) * D + i] as number));
      heads.push({ wQ, wK, wV, wO, ov: mul(wV, wO), qk: mul(wQ, tr(wK)) });
    }
    const wIn = centreAxis0(mat(D, M, (i, m) => (lw.ln2Weight[i] as number) * (lw.fcWeight[i * M + m] as number)));
    const wOut = centreAxis1(mat(M, D, (m, i) => lw.mlpProjWeight[m * D + i] as number));
    layers.push({ heads, wIn, wOut });
  }
  return layers;
}

function assertRel(actual: number, expected: number, rel: number, what: string): void {
  const scale = Math.max(Math.abs(expected), 1e-9);
  assert.ok(Math.abs(actual - expected) <= rel * scale, `${what}: got ${actual}, expected ${expected} (relative tolerance ${rel})`);
}

const weights = randomWeights({ ...CONFIG, seed: 11 });
const naive = naiveHeads(weights);

test('processWeights matches the independent fold_ln + centring (1e-6 absolute)', () => {
  const pw = processWeights(weights);
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh, dMlp: M } = CONFIG;
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const n = naive[l]!.heads[h]!;
      for (let i = 0; i < D; i++) {
        for (let j = 0; j < Dh; j++) {
          assert.ok(Math.abs((pw.layers[l]!.wQ[(h * D + i) * Dh + j] as number) - at(n.wQ, i, j)) < 1e-6);
          assert.ok(Math.abs((pw.layers[l]!.wV[(h * D + i) * Dh + j] as number) - at(n.wV, i, j)) < 1e-6);
          assert.ok(Math.abs((pw.layers[l]!.wO[(h * Dh + j) * D + i] as number) - at(n.wO, j, i)) < 1e-6);
        }
      }
    }
    for (let i = 0; i < D; i++) for (let m = 0; m < M; m++) assert.ok(Math.abs((pw.layers[l]!.wIn[i * M + m] as number) - at(naive[l]!.wIn, i, m)) < 1e-6);
  }
});

test('fold_ln algebra: LN(x)·W = (x/σ)·W_folded + b_ln·W, and logits = (x/σ)·W_U + b_lnf·W_E[t] + one shift per input (1e-6 relative)', () => {
  const pw = processWeights(weights);
  const { dModel: D, dHead: Dh, dMlp: M, dVocab: V } = CONFIG;
  const lw = weights.layers[1]!;
  const x = Array.from({ length: D }, (_, i) => Math.sin(i * 1.7) * 3 + 0.5);
  const mean = x.reduce((s, v) => s + v, 0) / D;
  const sigma = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / D + CONFIG.layerNormEps);
  const ln = (w: Float32Array, b: Float32Array): number[] => x.map((v, i) => ((v - mean) / sigma) * (w[i] as number) + (b[i] as number));
  const ln1 = ln(lw.ln1Weight, lw.ln1Bias);
  for (const h of [0, 2]) {
    for (let j = 0; j < Dh; j++) {
      let raw = 0;
      let bias = 0;
      let folded = 0;
      for (let i = 0; i < D; i++) {
        const wij = lw.attnWeight[i * 3 * D + D + h * Dh + j] as number; // W_K
        raw += (ln1[i] as number) * wij;
        bias += (lw.ln1Bias[i] as number) * wij;
        folded += ((x[i] as number) / sigma) * (pw.layers[1]!.wK[(h * D + i) * Dh + j] as number);
      }
      assertRel(folded + bias, raw, 1e-6, `head ${h} key ${j}`);
    }
  }
  const ln2 = ln(lw.ln2Weight, lw.ln2Bias);
  for (const m of [0, 17, M - 1]) {
    let raw = 0;
    let bias = 0;
    let folded = 0;
    for (let i = 0; i < D; i++) {
      raw += (ln2[i] as number) * (lw.fcWeight[i * M + m] as number);
      bias += (lw.ln2Bias[i] as number) * (lw.fcWeight[i * M + m] as number);
      folded += ((x[i] as number) / sigma) * (pw.layers[1]!.wIn[i * M + m] as number);
    }
    assertRel(folded + bias, raw, 1e-6, `neuron ${m}`);
  }
  // W_U: independent fold (w_lnf, centre over d_model, then centre over the vocabulary)
  const folded = mat(D, V, (i, t) => (weights.lnFinalWeight[i] as number) * (weights.wte[t * D + i] as number));
  const wU = centreAxis1(centreAxis0(folded));
  for (const t of [0, 5, V - 1]) {
    const col = unembedColumn(pw, t);
    for (let i = 0; i < D; i++) assert.ok(Math.abs((col[i] as number) - at(wU, i, t)) < 1e-6, `W_U[${i}, ${t}]`);
  }
  // logits agree up to one shift per input (center_unembed), the same for every token
  const lnf = ln(weights.lnFinalWeight, weights.lnFinalBias);
  const projected = projectOnUnembed(pw, x.map((v) => v / sigma));
  const shifts: number[] = [];
  for (const t of [0, 5, V - 1]) {
    let logit = 0;
    let bias = 0;
    for (let i = 0; i < D; i++) {
      logit += (lnf[i] as number) * (weights.wte[t * D + i] as number);
      bias += (weights.lnFinalBias[i] as number) * (weights.wte[t * D + i] as number);
    }
    const col = unembedColumn(pw, t);
    const viaColumn = x.reduce((s, v, i) => s + (v / sigma) * (col[i] as number), 0);
    assertRel(projected[t] as number, viaColumn, 1e-5, `projected logit ${t}`);
    shifts.push(logit - (viaColumn + bias));
  }
  for (const s of shifts) assert.ok(Math.abs(s - shifts[0]!) < 1e-5, `per-input logit shift ${s} vs ${shifts[0]}`);
});

test('composition scores (Q, K, V) equal explicit ‖A·B‖/(‖A‖‖B‖) on D×D products; zero where l2 <= l1', async () => {
  const pw = processWeights(weights);
  const factors = await headFactors(pw);
  const scores = await compositionScores(CONFIG, factors);
  const { nLayer: L, nHead: H } = CONFIG;
  for (let l1 = 0; l1 < L; l1++) {
    for (let h1 = 0; h1 < H; h1++) {
      const a = naive[l1]!.heads[h1]!;
      assertRel(factors.ovNorm[l1 * H + h1] as number, fro(a.ov), REL, `‖W_OV‖ L${l1}H${h1}`);
      assertRel(factors.qkNorm[l1 * H + h1] as number, fro(a.qk), REL, `‖W_QK‖ L${l1}H${h1}`);
      for (let l2 = 0; l2 < L; l2++) {
        for (let h2 = 0; h2 < H; h2++) {
          const idx = ((l1 * H + h1) * L + l2) * H + h2;
          if (l2 <= l1) {
            assert.equal(scores.q[idx], 0);
            assert.equal(scores.k[idx], 0);
            assert.equal(scores.v[idx], 0);
            continue;
          }
          const b = naive[l2]!.heads[h2]!;
          const explicit = (m: Mat): number => fro(mul(a.ov, m)) / (fro(a.ov) * fro(m));
          assertRel(scores.q[idx] as number, explicit(b.qk), REL, `Q L${l1}H${h1}→L${l2}H${h2}`);
          assertRel(scores.k[idx] as number, explicit(tr(b.qk)), REL, `K L${l1}H${h1}→L${l2}H${h2}`);
          assertRel(scores.v[idx] as number, explicit(b.ov), REL, `V L${l1}H${h1}→L${l2}H${h2}`);
        }
      }
    }
  }
});

test('composition baseline: the low-rank pair score equals the explicit product; the mean is seeded', () => {
  const D = 20;
  const Dh = 4;
  const r = new Random(9);
  const [x1, y1, x2, y2] = [r.gaussianArray(D * Dh), r.gaussianArray(Dh * D), r.gaussianArray(D * Dh), r.gaussianArray(Dh * D)];
  const a = mul(mat(D, Dh, (i, j) => x1[i * Dh + j] as number), mat(Dh, D, (i, j) => y1[i * D + j] as number));
  const b = mul(mat(D, Dh, (i, j) => x2[i * Dh + j] as number), mat(Dh, D, (i, j) => y2[i * D + j] as number));
  assertRel(lowRankPairScore(x1, y1, x2, y2, D, Dh), fro(mul(a, b)) / (fro(a) * fro(b)), REL, 'random pair score');
  const b1 = compositionBaseline(64, 8, 3, 6);
  assert.equal(compositionBaseline(64, 8, 3, 6), b1);
  assert.ok(b1 > 0.05 && b1 < 0.6, `baseline ${b1}`);
});

test('head virtual weights: norm, singular values, score and top written directions equal the explicit SVD', () => {
  const pw = processWeights(weights);
  const { dModel: D, dHead: Dh, dVocab: V } = CONFIG;
  const wU = mat(D, V, (i, t) => unembedColumn(pw, t)[i] as number);
  for (const kind of ['q', 'k', 'v'] as const) {
    const report = headPair(weights, { layer1: 0, head1: 1, layer2: 2, head2: 2, kind, topDirections: 3 });
    const a = naive[0]!.heads[1]!;
    const b = naive[2]!.heads[2]!;
    const read = kind === 'q' ? b.wQ : kind === 'k' ? b.wK : b.wV;
    const x = mul(a.ov, read); // [D, Dh]
    assertRel(report.norm, fro(x), REL, `${kind} norm`);
    const eig = symmetricEigen(mul(tr(x), x).data, Dh);
    eig.values.forEach((v, i) => assert.ok(Math.abs((report.singularValues[i] as number) - Math.sqrt(Math.max(0, v))) <= REL * fro(x), `${kind} σ${i}`));
    const bMat = kind === 'q' ? b.qk : kind === 'k' ? tr(b.qk) : b.ov;
    assertRel(report.score, fro(mul(a.ov, bMat)) / (fro(a.ov) * fro(bMat)), REL, `${kind} score`);
    assert.equal(report.directions.length, 3);
    for (let i = 0; i < 3; i++) {
      const w = mat(Dh, 1, (j) => eig.vectors[i * Dh + j] as number);
      const u = mul(x, w); // [D, 1]
      const written = mul(tr(u), a.ov); // [1, D]
      const len = fro(written);
      const proj = mul(written, wU).data.map((v) => v / len);
      const order = proj.map((_, t) => t).sort((p, q) => Math.abs(proj[q] as number) - Math.abs(proj[p] as number));
      const sign = (proj[order[0]!] as number) < 0 ? -1 : 1;
      const got = report.directions[i]!.topTokens;
      assert.equal(got[0]!.id, order[0]);
      got.slice(0, 3).forEach((tok, r) => {
        assert.equal(tok.id, order[r], `${kind} direction ${i} rank ${r}`);
        assert.ok(Math.abs(tok.value - sign * (proj[order[r]!] as number)) < 1e-4, `${kind} direction ${i} value ${r}`);
      });
    }
  }
  assert.throws(() => headPair(weights, { layer1: 2, head1: 0, layer2: 1, head2: 0, kind: 'q' }), /must come before/);
  assert.throws(() => headPair(weights, { layer1: 0, head1: 7, layer2: 1, head2: 0, kind: 'q' }), /outside the model/);
});

test('MLP virtual norms (Gram trick) equal ‖W_in(j)ᵀ W_out(i)ᵀ‖ from the explicit M×M product; drill-down top pairs are exact', async () => {
  const pw = processWeights(weights);
  const grams = await mlpGrams(pw);
  const norms = mlpVirtualNorms(grams, CONFIG.nLayer);
  const L = CONFIG.nLayer;
  for (let j = 0; j < L; j++) {
    for (let i = 0; i < L; i++) {
      if (j <= i) {
        assert.equal(norms[j * L + i], 0);
        continue;
      }
      const virtual = mul(tr(naive[j]!.wIn), tr(naive[i]!.wOut)); // [M, M]: [m, k] = W_in(j)[:, m] · W_out(i)[k, :]
      assertRel(norms[j * L + i] as number, fro(virtual), REL, `MLP ${i} → MLP ${j}`);
      const report = mlpPair(weights, { writer: i, reader: j, topN: 5 });
      assertRel(report.norm, fro(virtual), REL, `drill-down norm ${i}→${j}`);
      const M = CONFIG.dMlp;
      const entries = virtual.data.map((value, idx) => ({ readerNeuron: Math.floor(idx / M), writerNeuron: idx % M, value }));
      entries.sort((p, q) => Math.abs(q.value) - Math.abs(p.value));
      report.pairs.forEach((p, r) => {
        assert.equal(p.readerNeuron, entries[r]!.readerNeuron);
        assert.equal(p.writerNeuron, entries[r]!.writerNeuron);
        assertRel(p.value, entries[r]!.value, REL, `pair ${r}`);
      });
    }
  }
  assert.throws(() => mlpPair(weights, { writer: 2, reader: 1 }), /writer layer < reader layer/);
});

test('head → MLP and MLP → head strengths equal explicit products', async () => {
  const pw = processWeights(weights);
  const factors = await headFactors(pw);
  const grams = await mlpGrams(pw);
  const { headToMlp, mlpToHead } = await headMlpStrengths(pw, factors, grams);
  const { nLayer: L, nHead: H } = CONFIG;
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const head = naive[l]!.heads[h]!;
      for (let j = 0; j < L; j++) {
        const v = headToMlp[(l * H + h) * L + j] as number;
        if (j < l) assert.equal(v, 0);
        else assertRel(v, fro(mul(head.ov, naive[j]!.wIn)), REL, `L${l}H${h} → MLP ${j}`);
      }
      for (let i = 0; i < L; i++) {
        const v = mlpToHead[(i * L + l) * H + h] as number;
        if (i >= l) {
          assert.equal(v, 0);
          continue;
        }
        const wOut = naive[i]!.wOut;
        const expected = Math.sqrt(fro(mul(wOut, head.qk)) ** 2 + fro(mul(wOut, tr(head.qk))) ** 2 + fro(mul(wOut, head.ov)) ** 2);
        assertRel(v, expected, REL, `MLP ${i} → L${l}H${h}`);
      }
    }
  }
});

test('OV copying score equals Σλ/Σ|λ| of the explicit full OV circuit on the token sample; positional QK is explicit', async () => {
  const pw = processWeights(weights);
  const { nLayer: L, nHead: H, dModel: D } = CONFIG;
  const sample = [3, 10, 11, 40, 41, 42, 50, 60, 61, 62, 70, 71, 72, 80, 81, 82, 85, 86, 87, 88];
  const ov = await ovCircuits(pw, sample, undefined, 3);
  const scores = ov.copying;
  const rowE = (t: number): number[] => {
    const r = Array.from({ length: D }, (_, i) => weights.wte[t * D + i] as number);
    const m = r.reduce((s, v) => s + v, 0) / D;
    return r.map((v) => v - m);
  };
  const wE = mat(sample.length, D, (s, i) => rowE(sample[s]!)[i] as number);
  const wU = mat(D, sample.length, (i, s) => unembedColumn(pw, sample[s]!)[i] as number);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const full = mul(mul(wE, naive[l]!.heads[h]!.ov), wU); // [k, k]
      const { re, im } = generalEigenvalues(full.data, sample.length);
      let sum = 0;
      let abs = 0;
      re.forEach((r, i) => {
        sum += r;
        abs += Math.hypot(r, im[i] as number);
      });
      assert.ok(Math.abs((scores[l * H + h] as number) - sum / abs) < 1e-5, `copying L${l}H${h}: ${scores[l * H + h]} vs ${sum / abs}`);
      const order = full.data.map((_, i) => i).sort((p, q) => (full.data[q] as number) - (full.data[p] as number));
      ov.top[l * H + h]!.forEach((entry, r) => {
        const i = order[r]!;
        assert.equal(entry.source, sample[Math.floor(i / sample.length)]);
        assert.equal(entry.target, sample[i % sample.length]);
        assertRel(entry.value, full.data[i] as number, REL, `OV top ${r} L${l}H${h}`);
      });
    }
  }
  const n = 6;
  const qk = positionalQk(pw, n);
  const pos = centreAxis1(mat(n, D, (p, i) => weights.wpe[p * D + i] as number));
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const explicit = mul(mul(pos, naive[l]!.heads[h]!.qk), tr(pos));
      explicit.data.forEach((v, idx) => assert.ok(Math.abs((qk[(l * H + h) * n * n + idx] as number) - v) <= 1e-5 * Math.max(1, Math.abs(v)), `pos QK L${l}H${h} ${idx}`));
    }
  }
});

test('detectors: TransformerLens detection patterns and "mul" scores on synthetic heads with known answers', () => {
  const n = 5;
  const tokens = Int32Array.from([99, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
  const T = tokens.length;
  // pattern definitions
  assert.equal(previousTokenPattern(tokens)[3 * T + 2], 1);
  assert.equal(duplicateTokenPattern(tokens)[6 * T + 1], 1);
  assert.equal(duplicateTokenPattern(tokens)[1 * T + 6], 0); // causal
  assert.equal(inductionPattern(tokens)[6 * T + 2], 1);
  assert.equal(inductionPattern(tokens)[10 * T + 6], 1);
  const heads = 3;
  const pattern = new Float32Array(heads * T * T);
  for (let i = 0; i < T; i++) {
    pattern[0 * T * T + i * T + Math.max(0, i - 1)] = 1; // previous-token head
    pattern[1 * T * T + i * T + (i > n ? i - n + 1 : 0)] = 1; // induction head (BOS until the repeat)
    for (let j = 0; j <= i; j++) pattern[2 * T * T + i * T + j] = 1 / (i + 1); // uniform causal
  }
  const scores = detectHeads([tokens], [pattern], 1, heads);
  const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
  close(scores.previousToken[0] as number, (T - 1) / T, 'prev head: previous');
  close(scores.duplicateToken[0] as number, 0, 'prev head: duplicate');
  close(scores.induction[0] as number, 0, 'prev head: induction');
  close(scores.previousToken[1] as number, 1 / T, 'induction head: previous (row 1 attends BOS)');
  close(scores.induction[1] as number, n / T, 'induction head: induction');
  close(scores.duplicateToken[1] as number, 0, 'induction head: duplicate');
  let prev = 0;
  let later = 0;
  for (let i = 1; i < T; i++) prev += 1 / (i + 1);
  for (let i = n + 1; i < T; i++) later += 1 / (i + 1);
  close(scores.previousToken[2] as number, prev / T, 'uniform: previous');
  close(scores.duplicateToken[2] as number, later / T, 'uniform: duplicate');
  close(scores.induction[2] as number, later / T, 'uniform: induction');
  // The ceilings are exactly what the perfect heads above reach (previous-token: rows 1…T-1; induction: the repeat).
  const ceilings = detectorCeilings([tokens]);
  close(ceilings.previousToken, scores.previousToken[0] as number, 'previous-token ceiling = perfect head');
  close(ceilings.induction, scores.induction[1] as number, 'induction ceiling = perfect head');
  close(ceilings.induction, n / T, 'induction ceiling n/(2n+1)');
  close(ceilings.duplicateToken, n / T, 'duplicate ceiling n/(2n+1)');
  const two = detectorCeilings([tokens, Int32Array.from([7, 1, 2, 1, 2])]);
  close(two.induction, (n / T + 2 / 5) / 2, 'mean over sequences');
  assert.throws(() => detectHeads([tokens], [new Float32Array(5)], 1, heads), /sequence 0 has 11 tokens/);
  const seqs = repeatedRandomSequences(1, 3, 8, 90, 89);
  assert.deepEqual(seqs, repeatedRandomSequences(1, 3, 8, 90, 89));
  for (const s of seqs) {
    assert.equal(s.length, 17);
    assert.equal(s[0], 89);
    assert.deepEqual(Array.from(s.subarray(1, 9)), Array.from(s.subarray(9)));
    assert.equal(new Set(s.subarray(1, 9)).size, 8);
    assert.ok(!s.subarray(1).includes(89));
  }
});

test('embedding / positional PCA equals the explicit covariance spectrum of the centred embeddings', async () => {
  const pw = processWeights(weights);
  const { dModel: D, dVocab: V, nCtx } = CONFIG;
  const got = await embeddingSubspaces(pw);
  const explicitCurve = (rows: number, source: Float32Array) => {
    const x = centreAxis1(mat(rows, D, (r, i) => source[r * D + i] as number));
    const centred = centreAxis0(x);
    const cov = mul(tr(centred), centred).data.map((v) => v / rows);
    return varianceCurve(symmetricEigen(cov, D).values);
  };
  for (const [name, curve, expected] of [
    ['embedding', got.embedding, explicitCurve(V, weights.wte)],
    ['positional', got.positional, explicitCurve(nCtx, weights.wpe)],
  ] as const) {
    assert.equal(curve.at50, expected.at50, `${name} at50`);
    assert.equal(curve.at80, expected.at80, `${name} at80`);
    assert.equal(curve.at90, expected.at90, `${name} at90`);
    expected.cumulative.forEach((v, i) => assert.ok(Math.abs((curve.cumulative[i] as number) - v) < 1e-5, `${name} cumulative ${i}`));
  }
});

test('computeCircuits assembles the pieces; detectors run on the reference forward', async () => {
  const calls: number[] = [];
  const runPatterns = async (batch: readonly Int32Array[]): Promise<Float32Array[]> => {
    calls.push(batch.length);
    return batch.map((ids) => referenceForward(weights, Array.from(ids)).pattern);
  };
  const report = await computeCircuits(weights, runPatterns, { seed: 4, tokenSample: 30 });
  const { nLayer: L, nHead: H } = CONFIG;
  assert.equal(report.nLayer, L);
  assert.equal(report.heads.length, L * H);
  assert.equal(calls.length, 1);
  const pw = processWeights(weights);
  const scores = await compositionScores(CONFIG, await headFactors(pw));
  assert.deepEqual(report.composition.k, scores.k);
  assert.equal(report.mlpVirtualNorms.length, L * L);
  assert.equal(report.positionalQk.length, L * H * report.positionalQkSize ** 2);
  assert.ok(report.compositionBaseline > 0 && report.compositionBaseline < 1);
  // the detector scores are the mean "mul" scores of the reference patterns on the seeded sequences
  const seqs = repeatedRandomSequences(4, 4, Math.min(20, Math.floor((CONFIG.nCtx - 1) / 2)), CONFIG.dVocab, CONFIG.dVocab - 1);
  const direct = detectHeads(seqs, seqs.map((s) => referenceForward(weights, Array.from(s)).pattern), L, H);
  report.heads.forEach((head, i) => {
    assert.ok(Math.abs(head.previousToken - (direct.previousToken[i] as number)) < 1e-7);
    assert.ok(Math.abs(head.induction - (direct.induction[i] as number)) < 1e-7);
    assert.ok(head.copying >= -1 && head.copying <= 1);
    assert.ok(head.writeEffectiveRank >= 1 && head.writeEffectiveRank <= CONFIG.dHead);
  });
  await assert.rejects(() => computeCircuits(weights, runPatterns, { tokenSample: 0 }), /tokenSample must be a positive integer/);
});

test('write/read subspace overlap of two heads equals the explicit projector formula (1e-6)', () => {
  // explicit: orthonormal bases by Gram–Schmidt, overlap = ‖Q_wᵀ Q_r‖_F² / min(rank)
  const gramSchmidt = (rows: number[][]): number[][] => {
    const basis: number[][] = [];
    for (const r of rows) {
      const v = [...r];
      for (const b of basis) {
        const d = v.reduce((s, x, i) => s + x * (b[i] as number), 0);
        b.forEach((x, i) => (v[i] = (v[i] as number) - d * x));
      }
      const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      if (n > 1e-9) basis.push(v.map((x) => x / n));
    }
    return basis;
  };
  const { dModel: D, dHead: Dh } = CONFIG;
  const w = naive[0]!.heads[2]!.wO;
  const r = naive[2]!.heads[1]!.wK;
  const qw = gramSchmidt(Array.from({ length: Dh }, (_, j) => Array.from({ length: D }, (_, i) => at(w, j, i))));
  const qr = gramSchmidt(Array.from({ length: Dh }, (_, j) => Array.from({ length: D }, (_, i) => at(r, i, j))));
  let s = 0;
  for (const a of qw) for (const b of qr) s += a.reduce((t, x, i) => t + x * (b[i] as number), 0) ** 2;
  const expected = s / Math.min(qw.length, qr.length);
  const got = headSubspaceOverlap(weights, { layer: 0, head: 2 }, { layer: 2, head: 1, kind: 'k' });
  assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
  assert.throws(() => headSubspaceOverlap(weights, { layer: 0, head: 9 }, { layer: 1, head: 0, kind: 'q' }), /outside the model/);
});

/** Orthonormal basis of the span of `rows` by classical Gram–Schmidt with re-orthogonalisation (explicit reference). */
function gramSchmidtBasis(rows: number[][], relTol = 1e-6): number[][] {
  const maxNorm = Math.max(...rows.map((r) => Math.sqrt(r.reduce((s, x) => s + x * x, 0))));
  const basis: number[][] = [];
  for (const r of rows) {
    const v = [...r];
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        const d = v.reduce((s, x, i) => s + x * (b[i] as number), 0);
        b.forEach((x, i) => (v[i] = (v[i] as number) - d * x));
      }
    }
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    if (n > Math.sqrt(relTol) * maxNorm) basis.push(v.map((x) => x / n));
  }
  return basis;
}

/** ‖Q_aᵀ Q_b‖_F² / min(rank): explicit projector overlap. */
function explicitOverlap(qa: number[][], qb: number[][]): number {
  let s = 0;
  for (const a of qa) for (const b of qb) s += a.reduce((t, x, i) => t + x * (b[i] as number), 0) ** 2;
  const rank = Math.min(qa.length, qb.length);
  return rank > 0 ? s / rank : 0;
}

test('every head pair\'s write/read subspace overlap (report field) equals explicit Gram–Schmidt projectors (1e-5 absolute), rank-deficient heads included', async () => {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = CONFIG;
  // A copy whose L0H1 writes through only 3 directions and whose L2H0 reads keys through 2: the rank logic matters.
  const deficient = randomWeights({ ...CONFIG, seed: 11 });
  const proj = deficient.layers[0]!.attnProjWeight; // [H·Dh, D] rows of W_O
  for (let j = 3; j < Dh; j++) for (let i = 0; i < D; i++) proj[(1 * Dh + j) * D + i] = (j % 3 + 1) * (proj[(1 * Dh + (j % 3)) * D + i] as number);
  const attn = deficient.layers[2]!.attnWeight; // [D, 3D]: W_K of head 0 is columns D … D + Dh − 1
  for (let i = 0; i < D; i++) for (let j = 2; j < Dh; j++) attn[i * 3 * D + D + j] = -0.5 * (attn[i * 3 * D + D + (j % 2)] as number);
  for (const w of [weights, deficient]) {
    const heads = naiveHeads(w);
    const got = await headSubspaceOverlaps(processWeights(w));
    assert.ok(Math.abs(got.baseline - Dh / (D - 1)) < 1e-12);
    const writeBasis = (l: number, h: number) => gramSchmidtBasis(Array.from({ length: Dh }, (_, j) => Array.from({ length: D }, (_, i) => at(heads[l]!.heads[h]!.wO, j, i))));
    const readBasis = (m: Mat) => gramSchmidtBasis(Array.from({ length: Dh }, (_, j) => Array.from({ length: D }, (_, i) => at(m, i, j))));
    if (w === deficient) {
      assert.equal(writeBasis(0, 1).length, 3);
      assert.equal(readBasis(heads[2]!.heads[0]!.wK).length, 2);
    }
    for (let l1 = 0; l1 < L; l1++) {
      for (let h1 = 0; h1 < H; h1++) {
        const qw = writeBasis(l1, h1);
        for (let l2 = 0; l2 < L; l2++) {
          for (let h2 = 0; h2 < H; h2++) {
            const idx = ((l1 * H + h1) * L + l2) * H + h2;
            const n2 = heads[l2]!.heads[h2]!;
            (['q', 'k', 'v'] as const).forEach((kind) => {
              const value = got[kind][idx] as number;
              if (l2 <= l1) return assert.equal(value, 0);
              const expected = explicitOverlap(qw, readBasis(kind === 'q' ? n2.wQ : kind === 'k' ? n2.wK : n2.wV));
              assert.ok(Math.abs(value - expected) <= 1e-5, `${kind} L${l1}H${h1} → L${l2}H${h2}: ${value} vs ${expected}`);
            });
          }
        }
      }
    }
  }
  // the full report carries the same tensors
  const report = await computeCircuits(weights, async (batch) => batch.map((ids) => referenceForward(weights, Array.from(ids)).pattern), { tokenSample: 8 });
  const direct = await headSubspaceOverlaps(processWeights(weights));
  assert.deepEqual(report.subspaces.headOverlap, direct);
});
