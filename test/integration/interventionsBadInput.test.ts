/**
 * Bad input to the intervention requests (issue 11 "Bad input"): each gets an EngineError with a
 * code and a one-line message that names the problem; nothing is left half-done (the traces stay
 * usable afterwards).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { EngineError, type EngineErrorCode } from '../../src/protocol/engine';
import { INTERVENTIONS_SCHEMA_VERSION as schema, type Intervention, type Metric } from '../../src/protocol/interventions';
import type { RunInterventionsParams } from '../../src/protocol/patching';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257, seed: 5 };

async function rejects(p: Promise<unknown>, code: EngineErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof EngineError, `an EngineError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

describe('interventions: bad input', () => {
  let root: string;
  let engine: Engine;
  let a: number;
  let b: number;
  let shorter: number;
  const metric: Metric = { kind: 'logit_diff', correct: 10, wrong: 20 };
  const run = (iv: unknown): RunInterventionsParams => ({ schema, traceId: a, metric, runs: [{ interventions: [iv as Intervention] }] });

  before(async () => {
    root = makeTempFolder('interventions-bad');
    writeRandomCheckpoint(path.join(root, 'model'), CONFIG);
    engine = new Engine({ threads: 1 });
    await engine.load({ folder: path.join(root, 'model'), name: 'tiny', cacheDir: path.join(root, 'cache') });
    a = (await engine.traceSummary({ text: 'The cat sat on the mat.' })).traceId;
    b = (await engine.traceSummary({ text: 'The dog sat on the rug.' })).traceId;
    shorter = (await engine.traceSummary({ text: 'The cat sat.' })).traceId;
  });
  after(async () => {
    await engine.dispose();
    removeTempFolder(root);
  });

  it('different token counts', async () => {
    await rejects(engine.patchSweep({ schema, cleanTraceId: a, corruptedTraceId: shorter, metric, what: 'resid_pre' }), 'bad-input', /clean prompt has 8 tokens and the corrupted one 5: position-wise patching needs equal token counts/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_resid_pre' }, action: { kind: 'patch', sourceTraceId: shorter } })), 'bad-input', /equal token counts; the source trace has 5 tokens, this one 8/);
  });

  it('answer equal to the wrong token, tokens outside the vocabulary, bad metric positions', async () => {
    await rejects(engine.traceMetric({ schema, traceId: a, metric: { kind: 'logit_diff', correct: 7, wrong: 7 } }), 'bad-input', /same token \(7\)/);
    await rejects(engine.traceMetric({ schema, traceId: a, metric: { kind: 'logprob', token: 50257 } }), 'bad-input', /token id 50257 is outside the vocabulary/);
    await rejects(engine.traceMetric({ schema, traceId: a, metric: { kind: 'prob', token: 1, pos: 8 } }), 'bad-input', /Metric position 8 is out of range 0\.\.7/);
    await rejects(engine.traceMetric({ schema, traceId: a, metric: { kind: 'entropy' } as unknown as Metric }), 'bad-input', /Unknown metric "entropy"/);
  });

  it('hooks, layers, positions, heads and neurons out of range', async () => {
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_q' }, action: { kind: 'zero' } })), 'bad-input', /Unknown hook point "blocks\.0\.hook_q"/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.2.hook_resid_pre' }, action: { kind: 'zero' } })), 'bad-input', /layer 2 is out of range 0\.\.1/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_resid_pre', positions: [8] }, action: { kind: 'zero' } })), 'bad-input', /position 8 is out of range 0\.\.7/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_resid_pre', positions: [] }, action: { kind: 'zero' } })), 'bad-input', /non-empty list/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.attn.hook_z', head: 2 }, action: { kind: 'zero' } })), 'bad-input', /head 2 is out of range 0\.\.1/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_attn_out', head: 0 }, action: { kind: 'zero' } })), 'bad-input', /only attn\.hook_z and attn\.hook_pattern take a head/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.mlp.hook_post', neuron: 64 }, action: { kind: 'zero' } })), 'bad-input', /neuron 64 is out of range 0\.\.63/);
    await rejects(engine.patchSweep({ schema, cleanTraceId: a, corruptedTraceId: b, metric, what: 'heads_by_pos', heads: [{ layer: 0, head: 5 }] }), 'bad-input', /out of range: layers 0\.\.1, heads 0\.\.1/);
    await rejects(engine.patchSweep({ schema, cleanTraceId: a, corruptedTraceId: b, metric, what: 'heads_by_pos' }), 'bad-input', /needs at least one head/);
  });

  it('hostile or malformed requests', async () => {
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_resid_pre' }, action: { kind: 'scale', factor: Number.NaN } })), 'bad-input', /finite number/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_resid_pre' }, action: { kind: 'add', vector: new Float32Array(3) } })), 'bad-input', /Float32Array of 16 values/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_resid_pre', positions: [1] }, action: { kind: 'set', values: new Float32Array(15) } })), 'bad-input', /set needs 16 values/);
    await rejects(engine.runInterventions(run({ site: { hook: 'blocks.0.hook_resid_pre' }, action: { kind: 'explode' } })), 'bad-input', /unknown action "explode"/);
    await rejects(engine.runInterventions(run(null)), 'bad-input', /needs a site and an action/);
    await rejects(engine.runInterventions({ schema, traceId: a, metric, runs: 'all' as unknown as [] }), 'bad-input', /list of runs/);
    await rejects(engine.runInterventions({ schema: 0, traceId: a, metric, runs: [] }), 'protocol', /Intervention schema 0 is not 1/);
    await rejects(engine.runInterventions({ schema, traceId: 424242, metric, runs: [] }), 'unknown-trace', /no longer stored/);
    await rejects(engine.patchSweep({ schema, cleanTraceId: a, corruptedTraceId: b, metric, what: 'everything' as 'heads' }), 'bad-input', /Unknown patching target "everything"/);
    await rejects(
      engine.runInterventions({ schema, traceId: a, metric, runs: [{ interventions: [
        { site: { hook: 'blocks.0.hook_resid_pre' }, action: { kind: 'zero' } },
        { site: { hook: 'blocks.0.hook_resid_pre' }, action: { kind: 'mean' } },
      ] }] }),
      'bad-input', /mean ablation must be the first intervention at its hook/,
    );
    // The traces are still usable.
    const ok = await engine.runInterventions({ schema, traceId: a, metric, runs: [{ interventions: [] }] });
    assert.equal(ok.metrics[0], ok.baseline);
  });
});
