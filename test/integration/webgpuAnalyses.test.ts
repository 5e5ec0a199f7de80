/**
 * The analyses that came after the first WebGPU tests, on WebGPU against the CPU, on a tiny random
 * checkpoint and SAE: interventions (every action, at every hook kind, batched and with a full
 * recompute), the patching sweeps (every target), and the SAE's features, reconstruction, splice
 * and scan. Each request runs on a WebGPU engine and a CPU engine loaded from the same files.
 * Tolerance: |webgpu − cpu| ≤ 1e-4 · max(1, |cpu|); ids equal except where two tie within it.
 *
 * NEEDS a WebGPU adapter (CI: Mesa's lavapipe from .ci/install-lavapipe); without one these tests
 * skip and say why. They also check that no graph fell back to the CPU (no engine notice).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import type { ModelConfig } from '../../src/engine/types';
import { tokenize } from '../../src/engine/tokenizer';
import { INTERVENTIONS_SCHEMA_VERSION, type Intervention, type Metric } from '../../src/protocol/interventions';
import { PATCH_TARGETS, type PositionTopK } from '../../src/protocol/patching';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { writeRandomSae } from '../helpers/saeWriter';
import { Random } from '../helpers/random';
import { interventionCases } from '../helpers/interventionCases';
import { webGpuSkipReason } from '../helpers/webGpuSkip';
import { assertClose, assertSameIdsUpToTies } from '../helpers/assertClose';

const TOL = 1e-4;
const CLEAN = 'The cat sat on the mat.';
const CORRUPT = 'The dog sat on the rug.';
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257, seed: 41 };
const schema = INTERVENTIONS_SCHEMA_VERSION;

/** Largest |webgpu − cpu| seen per test: above zero shows the values came from WebGPU's kernels. */
let largestDifference = 0;

function close(actual: number, expected: number, what: string): void {
  assert.ok(Number.isFinite(actual), `${what}: ${actual} is not finite`);
  largestDifference = Math.max(largestDifference, Math.abs(actual - expected));
  assert.ok(Math.abs(actual - expected) <= TOL * Math.max(1, Math.abs(expected)), `${what}: webgpu ${actual}, cpu ${expected}`);
}

function closeArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) largestDifference = Math.max(largestDifference, Math.abs(actual[i] - expected[i]));
  assertClose(actual, expected, what, TOL);
}

function sameTop(a: PositionTopK, b: PositionTopK, what: string): void {
  assertSameIdsUpToTies(a.ids, b.ids, a.logits, b.logits, `${what} ids`, TOL);
  closeArrays(a.logits, b.logits, `${what} logits`);
  closeArrays(a.probs, b.probs, `${what} probs`);
}

describe('WebGPU vs CPU: interventions, patching and SAE features (tiny checkpoint)', () => {
  /** Why these tests skip: no WebGPU adapter here. */
  let skip: string | undefined;
  let root: string | undefined;
  const notices: string[] = [];
  const cpu = new Engine({ threads: 1, executionProvider: 'cpu' });
  const gpu = new Engine({ threads: 1, executionProvider: 'webgpu', onGraphFallback: (text) => notices.push(text) });
  /** Trace ids per engine: clean, corrupted. */
  const ids = { cpu: { clean: 0, corrupt: 0 }, gpu: { clean: 0, corrupt: 0 } };
  const corruptIds = tokenize(CORRUPT, { prependBos: true }).tokens.map((t) => t.id);
  const T = corruptIds.length;
  let config: ModelConfig;

  before(async () => {
    skip = await webGpuSkipReason();
    if (skip) return;
    root = makeTempFolder('residual-lens-webgpu-analyses');
    const model = path.join(root, 'model');
    config = writeRandomCheckpoint(model, CONFIG).config;
    writeRandomSae(path.join(root, 'sae'), { seed: 5, dIn: CONFIG.dModel, dSae: 48, hookName: 'blocks.1.hook_resid_pre', style: '6' });
    writeRandomSae(path.join(root, 'sae-topk'), { seed: 6, dIn: CONFIG.dModel, dSae: 40, hookName: 'blocks.0.hook_mlp_out', architecture: 'topk', k: 5, style: '6' });
    const ic = await cpu.load({ folder: model, name: 'tiny', cacheDir: path.join(root, 'cache') });
    const ig = await gpu.load({ folder: model, name: 'tiny', cacheDir: path.join(root, 'cache') });
    assert.equal(ic.executionProvider, 'cpu');
    assert.equal(ig.executionProvider, 'webgpu');
    for (const [engine, key] of [[cpu, 'cpu'], [gpu, 'gpu']] as const) {
      ids[key].clean = (await engine.traceSummary({ text: CLEAN })).traceId;
      ids[key].corrupt = (await engine.traceSummary({ text: CORRUPT })).traceId;
    }
  });

  after(async () => {
    await cpu.dispose();
    await gpu.dispose();
    if (root) removeTempFolder(root);
  });

  it('interventions: every action at every hook kind, batched and fully recomputed, metrics and top-5', async (t) => {
    if (skip) return t.skip(skip);
    largestDifference = 0;
    // The reference tests' cases (every action at every hook kind), the same random values on both engines.
    const runs = (source: number): { interventions: Intervention[] }[] => interventionCases(config, T, source, new Random(3)).map((c) => ({ interventions: [c.iv] }));
    const nRuns = runs(0).length;
    const metrics: Metric[] = [
      { kind: 'logit_diff', correct: corruptIds[3], wrong: corruptIds[2] },
      { kind: 'logprob', token: corruptIds[3], pos: 4 },
      { kind: 'kl' },
    ];
    for (const metric of metrics) {
      for (const recompute of ['minimal', 'full'] as const) {
        const what = `${metric.kind}, ${recompute}`;
        const c = await cpu.runInterventions({ schema, traceId: ids.cpu.corrupt, runs: runs(ids.cpu.clean), metric, topK: 5, ...(recompute === 'full' ? { recompute } : {}) });
        const g = await gpu.runInterventions({ schema, traceId: ids.gpu.corrupt, runs: runs(ids.gpu.clean), metric, topK: 5, ...(recompute === 'full' ? { recompute } : {}) });
        assert.equal(g.metrics.length, nRuns);
        close(g.baseline, c.baseline, `${what}: baseline`);
        closeArrays(g.metrics, c.metrics, `${what}: metrics`);
        g.top!.forEach((top, i) => sameTop(top, c.top![i]!, `${what}: run ${i} top-5`));
        sameTop(g.baseTop!, c.baseTop!, `${what}: unedited top-5`);
      }
    }
    assert.deepEqual(notices, [], 'no graph fell back to the CPU');
    assert.ok(largestDifference > 0, 'some value differs from the CPU in its last bits: WebGPU computed it');
  });

  it('patching sweeps: every target, values and normalised scores', async (t) => {
    if (skip) return t.skip(skip);
    largestDifference = 0;
    const metric: Metric = { kind: 'logit_diff', correct: corruptIds[3], wrong: corruptIds[2] };
    const heads = [{ layer: 0, head: 1 }, { layer: 1, head: 0 }];
    for (const what of PATCH_TARGETS) {
      const c = await cpu.patchSweep({ schema, cleanTraceId: ids.cpu.clean, corruptedTraceId: ids.cpu.corrupt, metric, what, heads });
      const g = await gpu.patchSweep({ schema, cleanTraceId: ids.gpu.clean, corruptedTraceId: ids.gpu.corrupt, metric, what, heads });
      assert.deepEqual([g.rows, g.cols], [c.rows, c.cols], `${what}: grid`);
      assert.ok(c.rows * c.cols > 1, `${what}: a real grid`);
      closeArrays(g.values, c.values, `${what}: values`);
      close(g.normalisation.clean, c.normalisation.clean, `${what}: clean metric`);
      close(g.normalisation.corrupted, c.normalisation.corrupted, `${what}: corrupted metric`);
      assert.equal(g.normalisation.ok, c.normalisation.ok, `${what}: normalisation`);
      if (c.scores) closeArrays(g.scores!, c.scores, `${what}: scores`);
    }
    assert.deepEqual(notices, [], 'no graph fell back to the CPU');
    assert.ok(largestDifference > 0, 'some value differs from the CPU in its last bits: WebGPU computed it');
  });

  for (const sae of ['sae', 'sae-topk'] as const) {
    it(`SAE features (${sae === 'sae' ? 'ReLU at resid_pre' : 'top-k at mlp_out'}): top features, reconstruction, splice, scan`, async (t) => {
      if (skip || !root) return t.skip(skip);
      largestDifference = 0;
      const folder = path.join(root, sae);
      await cpu.loadSae({ folder });
      await gpu.loadSae({ folder });
      const fc = await cpu.saeFeatures({ traceId: ids.cpu.corrupt, k: 6 });
      const fg = await gpu.saeFeatures({ traceId: ids.gpu.corrupt, k: 6 });
      assertSameIdsUpToTies(fg.ids, fc.ids, fg.values, fc.values, 'feature ids', TOL);
      closeArrays(fg.values, fc.values, 'feature activations');
      assert.ok(fc.values.some((v) => v > 0), 'some feature fires');
      closeArrays(fg.varianceExplained, fc.varianceExplained, 'variance explained');
      closeArrays(fg.cosine, fc.cosine, 'cosine');
      const rc = await cpu.saeReconstruction({ traceId: ids.cpu.corrupt });
      const rg = await gpu.saeReconstruction({ traceId: ids.gpu.corrupt });
      closeArrays(rg.values, rc.values, 'reconstruction');
      const sc = await cpu.saeSplice({ traceId: ids.cpu.corrupt, pos: 4, topK: 3 });
      const sg = await gpu.saeSplice({ traceId: ids.gpu.corrupt, pos: 4, topK: 3 });
      assert.equal(sg.tokenId, sc.tokenId);
      close(sg.kl, sc.kl, 'KL(unedited ‖ spliced)');
      close(sg.logprobBefore, sc.logprobBefore, 'log p before');
      close(sg.logprobAfter, sc.logprobAfter, 'log p after');
      sameTop(sg.top, sc.top, 'spliced top-3');
      const wc = await cpu.saeScan({ ids: corruptIds });
      const wg = await gpu.saeScan({ ids: corruptIds });
      assert.deepEqual(Array.from(wg.features), Array.from(wc.features), 'scan: features active');
      closeArrays(wg.max, wc.max, 'scan: maxima');
      assert.deepEqual(Array.from(wg.argmax), Array.from(wc.argmax), 'scan: argmax');
      assert.deepEqual(notices, [], 'no graph fell back to the CPU');
      assert.ok(largestDifference > 0, 'some value differs from the CPU in its last bits: WebGPU computed it');
    });
  }
});
