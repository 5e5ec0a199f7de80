/**
 * The patching panel's view models on the planted demo model, through the real engine: the maps a
 * Compare Prompts run shows put the planted heads on top, a clicked cell's re-run (the intervention
 * the panel sends) reproduces that cell's value, and ablating the induction head from the views
 * changes the prediction. Clean = random words repeated; corrupted = the earlier copy of the last
 * word replaced, so induction finds nothing to copy (issue 11's demo acceptance).
 * Skips with a message when models/demo/model.safetensors has not been built yet.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Engine } from '../../src/engine/engine';
import { INTERVENTIONS_SCHEMA_VERSION as schema } from '../../src/protocol/interventions';
import { cellIntervention, headAblation, headsForByPosition, logitDiffMetric } from '../../src/viewModels/experiments';
import { patchCells, topPatchCells, type PatchLayout } from '../../src/viewModels/patching';

const folder = path.resolve(__dirname, '../../models/demo');
const built = fs.existsSync(path.join(folder, 'model.safetensors'));
const CLEAN = ' river stone maple quiet orbit lantern river stone maple quiet orbit';
const CORRUPT = ' river stone maple quiet candle lantern river stone maple quiet orbit';

test('demo model: patching maps rank the planted heads first; cell re-runs match; ablating L1H0 changes the prediction', { skip: built ? false : 'models/demo/model.safetensors is not built yet' }, async () => {
  const engine = new Engine();
  try {
    await engine.load({ folder, name: 'demo' });
    const clean = await engine.traceSummary({ text: CLEAN, options: { topK: 5 } });
    const corrupt = await engine.traceSummary({ text: CORRUPT, options: { topK: 5 } });
    const T = clean.tokens.length;
    assert.equal(corrupt.tokens.length, T);
    const k = clean.logitsTop.k;
    // answers as Compare Prompts offers them first: the clean top-1, the corrupted top-1
    const metric = logitDiffMetric(clean.logitsTop.ids[(T - 1) * k], corrupt.logitsTop.ids[(T - 1) * k]);
    const c = (await engine.traceMetric({ schema, traceId: clean.traceId, metric })).value;
    const x = (await engine.traceMetric({ schema, traceId: corrupt.traceId, metric })).value;
    assert.ok(c - x > 5, `clean ${c} vs corrupted ${x}`);
    const top = async (layout: Omit<PatchLayout, 'rows' | 'cols'>, n: number): Promise<string[]> => {
      const r = await engine.patchSweep({ schema, cleanTraceId: clean.traceId, corruptedTraceId: corrupt.traceId, metric, what: layout.kind, ...(layout.heads && { heads: layout.heads }) });
      const full = { ...layout, rows: r.rows, cols: r.cols };
      const cells = patchCells({ ...full, metric: Float32Array.from(r.values) }, c, x);
      const ranked = topPatchCells(full, cells, n);
      // the panel's click re-runs the cell with cellIntervention: the same metric as the grid (1e-4)
      const rerun = await engine.runInterventions({ schema, traceId: corrupt.traceId, runs: [{ interventions: [cellIntervention(full, ranked[0].row, ranked[0].col, clean.traceId)] }], metric, topK: 3 });
      assert.ok(Math.abs(rerun.metrics[0] - r.values[ranked[0].row * r.cols + ranked[0].col]) < 1e-4, `${layout.kind} re-run ${rerun.metrics[0]}`);
      return ranked.filter((cell) => cell.score > 0.5).map((cell) => cell.name);
    };
    // replaced word at pos 5: the previous-token head reads it at pos 6, induction copies at the last position
    assert.deepEqual((await top({ kind: 'heads_by_pos', heads: headsForByPosition(2, 4, undefined, c, x) }, 3)).sort(), ['L0H0 pos 6', `L1H0 pos ${T - 1}`]);
    assert.deepEqual((await top({ kind: 'heads' }, 3)).sort(), ['L0H0', 'L1H0']);
    assert.deepEqual(await top({ kind: 'patterns' }, 2), ['L1H0']);
    assert.deepEqual((await top({ kind: 'resid_pre' }, 3)).sort(), ['L0 pos 5', 'L1 pos 6']);
    // Ablate L1H0 (the hover / DLA grid action): the top-1 prediction changes
    const base = clean.logitsTop.ids[(T - 1) * k];
    for (const mode of ['zero', 'mean'] as const) {
      const ab = await engine.runInterventions({ schema, traceId: clean.traceId, runs: [{ interventions: [headAblation(1, 0, mode)] }], metric: { kind: 'logprob', token: base }, topK: 3 });
      assert.equal(ab.baseTop?.ids[0], base);
      assert.notEqual(ab.top?.[0].ids[0], base, `${mode}-ablating L1H0 keeps the prediction`);
      assert.ok(ab.metrics[0] < ab.baseline - 5, `${mode}: log p ${ab.baseline} → ${ab.metrics[0]}`);
    }
  } finally {
    await engine.dispose();
  }
});
