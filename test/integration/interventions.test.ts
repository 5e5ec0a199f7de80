/**
 * Interventions and patching vs the slow reference forward with the same edits
 * (test/helpers/referenceInterventions.ts) on small random checkpoints in both key styles.
 * Tolerance: |engine − reference| ≤ 1e-4 · max(1, |reference|) for metrics and top-k logits.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { tokenize } from '../../src/engine/tokenizer';
import type { ModelWeights } from '../../src/engine/types';
import { EngineError } from '../../src/protocol/engine';
import { INTERVENTIONS_SCHEMA_VERSION, type Intervention, type Metric } from '../../src/protocol/interventions';
import type { PatchRow } from '../../src/protocol/patching';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint, type WriteCheckpointOptions } from '../helpers/checkpointWriter';
import { captureHooks, referenceWithInterventions } from '../helpers/referenceInterventions';
import { Random } from '../helpers/random';
import { interventionCases } from '../helpers/interventionCases';

const TOL = 1e-4;
const CLEAN = 'The cat sat on the mat.';
const CORRUPT = 'The dog sat on the rug.';
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };
const schema = INTERVENTIONS_SCHEMA_VERSION;

function close(actual: number, expected: number, what: string, tol = TOL): void {
  assert.ok(Number.isFinite(actual), `${what}: ${actual} is not finite`);
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what}: engine ${actual}, reference ${expected}`);
}

/** Final logits at `pos` of a reference trace. */
function logitsAt(ref: { logits: Float32Array }, V: number, pos: number): Float32Array {
  return ref.logits.subarray(pos * V, (pos + 1) * V);
}

function logSoftmaxAt(logits: ArrayLike<number>, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(logits[i] - max);
  return logits[id] - max - Math.log(s);
}

const ids = (text: string): number[] => tokenize(text, { prependBos: true }).tokens.map((t) => t.id);

const VARIANTS: { name: string; opts: WriteCheckpointOptions; seed: number }[] = [
  { name: 'plain keys', opts: { dtype: 'F32' }, seed: 31 },
  { name: 'transformer. keys + lm_head + mask buffers', opts: { dtype: 'F32', prefix: true, lmHead: true, maskBuffers: true }, seed: 32 },
];

for (const variant of VARIANTS) {
  describe(`interventions vs the reference forward (${variant.name})`, () => {
    let root: string;
    let engine: Engine;
    let w: ModelWeights;
    let cleanId: number;
    let corruptId: number;
    const cleanIds = ids(CLEAN);
    const corruptIds = ids(CORRUPT);
    const T = cleanIds.length;
    let sources: Map<number, Map<string, number[][]>>;

    before(async () => {
      root = makeTempFolder('interventions');
      w = writeRandomCheckpoint(path.join(root, 'model'), { ...CONFIG, seed: variant.seed }, variant.opts);
      engine = new Engine({ threads: 1 });
      await engine.load({ folder: path.join(root, 'model'), name: 'tiny', cacheDir: path.join(root, 'cache') });
      cleanId = (await engine.traceSummary({ text: CLEAN })).traceId;
      corruptId = (await engine.traceSummary({ text: CORRUPT })).traceId;
      assert.equal(corruptIds.length, T, 'the two prompts have equal token counts');
      sources = new Map([[cleanId, captureHooks(w, cleanIds)]]);
    });
    after(async () => {
      await engine.dispose();
      removeTempFolder(root);
    });

    it('every action at every hook kind equals the reference (logit difference, log-prob, top-5 logits), batched in one request', async () => {
      const rng = new Random(variant.seed);
      const cases = interventionCases(w.config, T, cleanId, rng);
      // One more run: several interventions at once (two at one hook, composed in order; two layers).
      cases.push({ name: 'resid_mid L0 pos 3: scale 0.5', iv: { site: { hook: 'blocks.0.hook_resid_mid', positions: [3] }, action: { kind: 'scale', factor: 0.5 } } });
      const V = CONFIG.dVocab;
      const correct = corruptIds[3];
      const wrong = corruptIds[2];
      const runs = cases.map((c) => ({ interventions: [c.iv] }));
      const composed: Intervention[] = [
        { site: { hook: 'blocks.1.hook_mlp_out' }, action: { kind: 'zero' } },
        { site: { hook: 'blocks.0.hook_resid_mid', positions: [3] }, action: { kind: 'scale', factor: 0.5 } },
        { site: { hook: 'blocks.0.hook_resid_mid', positions: [3, 4] }, action: { kind: 'add', vector: rng.gaussianArray(CONFIG.dModel, 1) } },
        { site: { hook: 'blocks.0.attn.hook_z', head: 0 }, action: { kind: 'patch', sourceTraceId: cleanId } },
      ];
      runs.push({ interventions: composed });
      const names = [...cases.map((c) => c.name), 'four interventions, two at one hook'];
      const ld = await engine.runInterventions({ schema, traceId: corruptId, runs, metric: { kind: 'logit_diff', correct, wrong }, topK: 5 });
      const lp = await engine.runInterventions({ schema, traceId: corruptId, runs, metric: { kind: 'logprob', token: correct, pos: 4 } });
      const full = await engine.runInterventions({ schema, traceId: corruptId, runs, metric: { kind: 'logit_diff', correct, wrong }, recompute: 'full' });
      assert.equal(ld.pos, T - 1);
      const refs = runs.map((r) => referenceWithInterventions(w, corruptIds, r.interventions, sources));
      refs.forEach((ref, i) => {
        const last = logitsAt(ref, V, T - 1);
        close(ld.metrics[i], last[correct] - last[wrong], `${names[i]}: logit_diff`);
        close(full.metrics[i], last[correct] - last[wrong], `${names[i]}: logit_diff, full recompute`);
        close(lp.metrics[i], logSoftmaxAt(logitsAt(ref, V, 4), correct), `${names[i]}: logprob at pos 4`);
        const top = ld.top![i];
        for (let j = 0; j < 5; j++) close(top.logits[j], last[top.ids[j]], `${names[i]}: top-${j} logit`);
        assert.equal(top.ids[0], last.indexOf(Math.max(...last)), `${names[i]}: top-1 id`);
      });
      // The baseline is the unedited corrupted trace.
      const base = logitsAt(referenceWithInterventions(w, corruptIds, [], sources), V, T - 1);
      close(ld.baseline, base[correct] - base[wrong], 'baseline');
    });

    it('prob and KL metrics equal the reference', async () => {
      const V = CONFIG.dVocab;
      const iv: Intervention = { site: { hook: 'blocks.0.attn.hook_z', head: 1, positions: [5] }, action: { kind: 'zero' } };
      const ref = logitsAt(referenceWithInterventions(w, corruptIds, [iv], sources), V, T - 1);
      const base = logitsAt(referenceWithInterventions(w, corruptIds, [], sources), V, T - 1);
      const prob = await engine.runInterventions({ schema, traceId: corruptId, runs: [{ interventions: [iv] }], metric: { kind: 'prob', token: 11 } });
      close(prob.metrics[0], Math.exp(logSoftmaxAt(ref, 11)), 'prob');
      const kl = await engine.runInterventions({ schema, traceId: corruptId, runs: [{ interventions: [iv] }, { interventions: [] }], metric: { kind: 'kl' } });
      const lseBase = logSoftmaxAt(base, 0) - base[0];
      const lseRun = logSoftmaxAt(ref, 0) - ref[0];
      let expected = 0;
      for (let v = 0; v < V; v++) {
        const lpRef = base[v] + lseBase;
        expected += Math.exp(lpRef) * (lpRef - (ref[v] + lseRun));
      }
      close(kl.metrics[0], expected, 'KL(base ‖ run)', 1e-3);
      close(kl.metrics[1], 0, 'KL of the unedited run', 1e-5);
      close(kl.baseline, 0, 'KL baseline', 1e-5);
    });

    it('patching clean into clean changes nothing, and a sweep with equal baselines says so instead of NaN', async () => {
      const metric: Metric = { kind: 'logit_diff', correct: cleanIds[3], wrong: cleanIds[2] };
      const r = await engine.patchSweep({ schema, cleanTraceId: cleanId, corruptedTraceId: cleanId, metric, what: 'resid_pre' });
      assert.equal(r.normalisation.ok, false);
      assert.match(r.normalisation.message ?? '', /same metric/);
      assert.equal(r.scores, undefined);
      for (const v of r.values) close(v, r.normalisation.clean, 'clean → clean cell', 1e-5);
      const every = await engine.runInterventions({
        schema, traceId: cleanId, metric,
        runs: [{ interventions: ['hook_resid_pre', 'attn.hook_z', 'attn.hook_pattern', 'mlp.hook_post', 'hook_resid_post'].flatMap((h) => [0, 1].map((l) => ({ site: { hook: `blocks.${l}.${h}` }, action: { kind: 'patch' as const, sourceTraceId: cleanId } }))) }],
      });
      close(every.metrics[0], every.baseline, 'clean patched everywhere from clean', 1e-5);
    });

    it('patching resid_pre at layer 0, every position, from the clean run gives the clean metric (score 1)', async () => {
      const metric: Metric = { kind: 'logit_diff', correct: cleanIds[2], wrong: corruptIds[2] };
      const clean = await engine.traceMetric({ schema, traceId: cleanId, metric });
      const corrupted = await engine.traceMetric({ schema, traceId: corruptId, metric });
      const r = await engine.runInterventions({ schema, traceId: corruptId, metric, runs: [{ interventions: [{ site: { hook: 'blocks.0.hook_resid_pre' }, action: { kind: 'patch', sourceTraceId: cleanId } }] }] });
      close(r.metrics[0], clean.value, 'patched = clean', 1e-5);
      close((r.metrics[0] - corrupted.value) / (clean.value - corrupted.value), 1, 'normalised score', 1e-5);
    });

    it('sweeps: every target equals the full recompute and the reference; rows stream in order', async () => {
      const metric: Metric = { kind: 'logit_diff', correct: cleanIds[2], wrong: corruptIds[2] };
      const V = CONFIG.dVocab;
      const heads = [{ layer: 0, head: 1 }, { layer: 1, head: 0 }];
      for (const what of ['resid_pre', 'attn_out', 'mlp_out', 'heads', 'heads_by_pos', 'patterns'] as const) {
        const streamed: PatchRow[] = [];
        const r = await engine.patchSweep({ schema, cleanTraceId: cleanId, corruptedTraceId: corruptId, metric, what, heads }, { emit: (p) => p.kind === 'patch-row' && streamed.push(p.row) });
        assert.ok(r.normalisation.ok);
        assert.deepEqual(streamed.map((s) => s.row), Array.from({ length: r.rows }, (_, i) => i), `${what}: rows streamed in order`);
        assert.equal(r.values.length, r.rows * r.cols);
        streamed.forEach((s) => assert.deepEqual([...s.values], [...r.values.subarray(s.row * r.cols, (s.row + 1) * r.cols)]));
        // Every cell: the same run, recomputed in full, and (a few cells) the reference.
        const hook = { resid_pre: 'hook_resid_pre', attn_out: 'hook_attn_out', mlp_out: 'hook_mlp_out' } as const;
        const cell = (row: number, col: number): Intervention => {
          const action = { kind: 'patch' as const, sourceTraceId: cleanId };
          if (what === 'heads') return { site: { hook: `blocks.${row}.attn.hook_z`, head: col }, action };
          if (what === 'patterns') return { site: { hook: `blocks.${row}.attn.hook_pattern`, head: col }, action };
          if (what === 'heads_by_pos') return { site: { hook: `blocks.${heads[row].layer}.attn.hook_z`, head: heads[row].head, positions: [col] }, action };
          return { site: { hook: `blocks.${row}.${hook[what]}`, positions: [col] }, action };
        };
        const runs = [];
        for (let row = 0; row < r.rows; row++) for (let col = 0; col < r.cols; col++) runs.push({ interventions: [cell(row, col)] });
        const full = await engine.runInterventions({ schema, traceId: corruptId, metric, runs, recompute: 'full' });
        full.metrics.forEach((v, i) => close(r.values[i], v, `${what} cell ${i} vs full recompute`, 1e-5));
        for (const i of [0, r.values.length - 1, Math.floor(r.values.length / 2)]) {
          const ref = logitsAt(referenceWithInterventions(w, corruptIds, runs[i].interventions, sources), V, T - 1);
          close(r.values[i], ref[cleanIds[2]] - ref[corruptIds[2]], `${what} cell ${i} vs reference`);
        }
        r.scores!.forEach((s, i) => close(s, (r.values[i] - r.normalisation.corrupted) / (r.normalisation.clean - r.normalisation.corrupted), `${what} score ${i}`, 1e-9));
      }
    });

    it('positions the two prompts share (BOS, " The") are no edit: those cells are the corrupted metric exactly', async () => {
      const metric: Metric = { kind: 'logit_diff', correct: cleanIds[2], wrong: corruptIds[2] };
      assert.deepEqual(cleanIds.slice(0, 2), corruptIds.slice(0, 2));
      assert.notEqual(cleanIds[2], corruptIds[2]);
      for (const what of ['resid_pre', 'attn_out', 'mlp_out'] as const) {
        const r = await engine.patchSweep({ schema, cleanTraceId: cleanId, corruptedTraceId: corruptId, metric, what });
        for (let row = 0; row < r.rows; row++) for (const col of [0, 1]) assert.equal(r.values[row * r.cols + col], r.normalisation.corrupted, `${what} L${row} pos ${col}`);
      }
      // A run of one patch that writes the base's own values is the base trace.
      const same = await engine.runInterventions({ schema, traceId: corruptId, metric, runs: [{ interventions: [{ site: { hook: 'blocks.1.attn.hook_z', head: 0, positions: [0, 1] }, action: { kind: 'patch', sourceTraceId: cleanId } }] }] });
      assert.equal(same.metrics[0], same.baseline);
    });

    it('1000 runs (more rows than one wave holds) equal the same runs recomputed one by one', async () => {
      const metric: Metric = { kind: 'logit_diff', correct: cleanIds[2], wrong: corruptIds[2] };
      const hooks = ['hook_resid_pre', 'attn.hook_z', 'hook_mlp_out', 'mlp.hook_post'];
      const runs = Array.from({ length: 1000 }, (_, i) => ({
        interventions: [{ site: { hook: `blocks.${i % 2}.${hooks[i % 4]}`, positions: [i % T] }, action: { kind: 'scale' as const, factor: 1 + (i % 7) / 3 } }],
      }));
      const batched = await engine.runInterventions({ schema, traceId: corruptId, metric, runs });
      const full = await engine.runInterventions({ schema, traceId: corruptId, metric, runs, recompute: 'full' });
      batched.metrics.forEach((v, i) => close(v, full.metrics[i] as number, `run ${i}`, 1e-5));
    });

    it('a cancelled sweep stops at the next block call', async () => {
      let calls = 0;
      const between = async (): Promise<void> => {
        calls++;
        if (calls > 1) throw new EngineError('cancelled', 'Cancelled.');
      };
      await assert.rejects(
        engine.patchSweep({ schema, cleanTraceId: cleanId, corruptedTraceId: corruptId, metric: { kind: 'logit_diff', correct: 1, wrong: 2 }, what: 'resid_pre' }, { between }),
        (err: unknown) => err instanceof EngineError && err.code === 'cancelled',
      );
      assert.equal(calls, 2);
    });
  });
}
