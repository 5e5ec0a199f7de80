/**
 * Acceptance of the planted-circuit demo model (models/demo, built by scripts/build-demo-model.ts).
 *
 * 20 seeded random sequences of 30 distinct tokens, repeated twice, BOS first (T = 61):
 * - top-1 prediction at query positions 31..59 (second copy, next token known) = the true next
 *   token for ≥ 90 % of positions;
 * - the induction head (L1H0) attends from q to q − 29 (the token after the earlier occurrence of
 *   the current token) with weight ≥ 0.5 on average over those positions;
 * - the previous-token head (L0H0) attends from i to i − 1 with weight ≥ 0.8 on average, i = 1..60.
 * The engine only traces text, so the tokens are drawn from "word" tokens (" " + ASCII letters)
 * whose concatenation tokenizes back to exactly those ids (checked).
 * Measured through the real engine (all 20) and through the slow reference forward (the first
 * REFERENCE_SEQUENCES, ~2 s each), and the two are compared on those.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureDemoModel, DEMO_FOLDER, expectedDemoSha256, sha256OfFile } from '../../scripts/build-demo-model';
import { openCheckpoint, readWeights } from '../../src/engine/checkpoint';
import { decodeToken, tokenize } from '../../src/engine/tokenizer';
import {
  DEMO_CONFIG, INDUCTION_HEAD, PREVIOUS_TOKEN_HEAD, SUBSPACE_DIM, demoSubspaces, positionCodes, positionStep,
} from '../../src/models/demoModel';
import { referenceForward } from '../helpers/referenceForward';
import { Random } from '../helpers/random';

const SEQUENCES = 20;
const HALF = 30;
const REFERENCE_SEQUENCES = 4;
const { nHead: H, dVocab: V } = DEMO_CONFIG;

/** Tokens " word" that tokenize back to themselves, so a sequence of them is its own tokenization. */
function wordTokens(): number[] {
  const out: number[] = [];
  for (let id = 0; id < 50256; id++) {
    const text = decodeToken(id);
    if (!/^ [A-Za-z]+$/.test(text)) continue;
    const back = tokenize(text, { prependBos: false }).tokens;
    if (back.length === 1 && back[0]?.id === id) out.push(id);
  }
  return out;
}

function sequences(): { ids: number[]; text: string }[] {
  const pool = wordTokens();
  const rng = new Random(4242);
  const out: { ids: number[]; text: string }[] = [];
  for (let s = 0; s < SEQUENCES; s++) {
    const half: number[] = [];
    while (half.length < HALF) {
      const id = rng.pick(pool);
      if (!half.includes(id)) half.push(id);
    }
    const body = [...half, ...half];
    out.push({ ids: [50256, ...body], text: body.map(decodeToken).join('') });
  }
  return out;
}

interface Figures { top1: number; induction: number; previous: number }

/** The three acceptance figures from top-1 ids [T] and patterns [L, H, T, T] of each sequence. */
function figures(runs: readonly { ids: readonly number[]; top1: ArrayLike<number>; pattern: Float32Array }[]): Figures {
  let correct = 0, predicted = 0, induction = 0, previous = 0, previousCount = 0;
  for (const { ids, top1, pattern } of runs) {
    const T = ids.length;
    const at = (layer: number, head: number, q: number, k: number): number => pattern[((layer * H + head) * T + q) * T + k] as number;
    for (let q = HALF + 1; q < T - 1; q++) {
      predicted++;
      if (top1[q] === ids[q + 1]) correct++;
      induction += at(INDUCTION_HEAD.layer, INDUCTION_HEAD.head, q, q - HALF + 1);
    }
    for (let i = 1; i < T; i++) {
      previous += at(PREVIOUS_TOKEN_HEAD.layer, PREVIOUS_TOKEN_HEAD.head, i, i - 1);
      previousCount++;
    }
  }
  return { top1: correct / predicted, induction: induction / predicted, previous: previous / previousCount };
}

const argmaxRows = (logits: Float32Array, T: number): number[] =>
  Array.from({ length: T }, (_, t) => {
    let best = 0;
    for (let v = 1; v < V; v++) if ((logits[t * V + v] as number) > (logits[t * V + best] as number)) best = v;
    return best;
  });

ensureDemoModel();
const SEQS = sequences();

test('the demo model on disk has the committed sha256', () => {
  assert.equal(sha256OfFile(path.join(DEMO_FOLDER, 'model.safetensors')), expectedDemoSha256());
  const ckpt = openCheckpoint(DEMO_FOLDER);
  assert.deepEqual(ckpt.config, DEMO_CONFIG);
  assert.equal(ckpt.dtype, 'F32');
});

test('the build skips a matching file, rebuilds a damaged one, and refuses a hash mismatch', () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-build-'));
  try {
    fs.mkdirSync(folder, { recursive: true });
    fs.copyFileSync(path.join(DEMO_FOLDER, 'config.json'), path.join(folder, 'config.json'));
    fs.copyFileSync(path.join(DEMO_FOLDER, 'model.safetensors'), path.join(folder, 'model.safetensors'));
    assert.equal(ensureDemoModel(folder), 'up-to-date');
    const weights = path.join(folder, 'model.safetensors');
    const fd = fs.openSync(weights, 'r+');
    fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 1000);
    fs.closeSync(fd);
    assert.equal(ensureDemoModel(folder), 'built'); // rebuilt deterministically: same bytes as the committed hash
    assert.equal(sha256OfFile(weights), expectedDemoSha256());
    assert.throws(() => ensureDemoModel(folder, { expectedSha256: '0'.repeat(64) }), {
      message: new RegExp(`^${weights.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: built weights have sha256 ${expectedDemoSha256()}, but models/demo/model\\.safetensors\\.sha256 says 0{64}; the build is not reproducible here \\(report it\\) or the construction changed \\(rerun with --update-hash\\)$`),
    });
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
});

test('construction: subspaces orthonormal and centred; R steps the position code by one', () => {
  const S = demoSubspaces();
  const D = DEMO_CONFIG.dModel;
  const cols = [S.token, S.prev, S.pos].flatMap((B) => Array.from({ length: SUBSPACE_DIM }, (_, e) => Float64Array.from({ length: D }, (_, i) => B[i * SUBSPACE_DIM + e] as number)));
  let worst = 0;
  for (let a = 0; a < cols.length; a++) {
    const u = cols[a] as Float64Array;
    worst = Math.max(worst, Math.abs(u.reduce((s, x) => s + x, 0))); // ⊥ ones
    for (let b = a; b < cols.length; b++) {
      const v = cols[b] as Float64Array;
      let dot = 0;
      for (let i = 0; i < D; i++) dot += (u[i] as number) * (v[i] as number);
      worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  assert.ok(worst < 1e-12, `orthonormality error ${worst}`);
  const P = positionCodes();
  const R = positionStep();
  let stepError = 0;
  for (const j of [0, 1, 100, 1022]) {
    for (let e = 0; e < SUBSPACE_DIM; e++) {
      let rp = 0;
      for (let f = 0; f < SUBSPACE_DIM; f++) rp += (R[e * SUBSPACE_DIM + f] as number) * (P[j * SUBSPACE_DIM + f] as number);
      stepError = Math.max(stepError, Math.abs(rp - (P[(j + 1) * SUBSPACE_DIM + e] as number)));
    }
  }
  assert.ok(stepError < 1e-9, `R·p(j) − p(j+1) up to ${stepError}`);
});

test('the sequences tokenize back to their ids', () => {
  for (const { ids, text } of SEQS) assert.deepEqual(tokenize(text).tokens.map((t) => t.id), ids);
});

test(`acceptance through the reference forward (first ${REFERENCE_SEQUENCES} sequences)`, (t) => {
  const weights = readWeights(openCheckpoint(DEMO_FOLDER));
  const runs = SEQS.slice(0, REFERENCE_SEQUENCES).map(({ ids }) => {
    const r = referenceForward(weights, ids);
    return { ids, top1: argmaxRows(r.logits, ids.length), pattern: r.pattern };
  });
  const f = figures(runs);
  t.diagnostic(`reference: top-1 ${f.top1.toFixed(6)}, induction attention ${f.induction.toFixed(6)}, previous-token attention ${f.previous.toFixed(6)}`);
  assert.ok(f.top1 >= 0.9, `top-1 ${f.top1}`);
  assert.ok(f.induction >= 0.5, `induction attention ${f.induction}`);
  assert.ok(f.previous >= 0.8, `previous-token attention ${f.previous}`);
});

test('acceptance through the real engine (all 20 sequences), matching the reference', async (t) => {
  const { Engine } = await import('../../src/engine/engine');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-accept-'));
  const engine = new Engine();
  try {
    await engine.load({ folder: DEMO_FOLDER, name: 'demo', cacheDir });
    const runs: { ids: number[]; top1: number[]; pattern: Float32Array }[] = [];
    for (const { ids, text } of SEQS) {
      const trace = await engine.trace({ text, options: { topK: 1 } });
      assert.deepEqual(trace.tokens.map((x) => x.id), ids);
      runs.push({ ids, top1: Array.from(trace.logitsTop.ids), pattern: trace.pattern });
    }
    const f = figures(runs);
    t.diagnostic(`engine: top-1 ${f.top1.toFixed(6)}, induction attention ${f.induction.toFixed(6)}, previous-token attention ${f.previous.toFixed(6)}`);
    assert.ok(f.top1 >= 0.9, `top-1 ${f.top1}`);
    assert.ok(f.induction >= 0.5, `induction attention ${f.induction}`);
    assert.ok(f.previous >= 0.8, `previous-token attention ${f.previous}`);

    // The engine's patterns equal the reference's on one sequence (tolerance 1e-4, absolute).
    const first = SEQS[0] as { ids: number[] };
    const reference = referenceForward(readWeights(openCheckpoint(DEMO_FOLDER)), first.ids);
    let worst = 0;
    (runs[0] as { pattern: Float32Array }).pattern.forEach((p, i) => { worst = Math.max(worst, Math.abs(p - (reference.pattern[i] as number))); });
    assert.ok(worst < 1e-4, `pattern difference ${worst}`);
  } finally {
    await engine.dispose();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
});
