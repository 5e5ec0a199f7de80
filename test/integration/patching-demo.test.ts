/**
 * The induction experiment of issue 11 on the planted demo model (models/demo, see its README):
 * clean = a random token sequence repeated, corrupted = the same with the earlier copy of the last
 * token replaced (so induction finds nothing to copy); metric = logit of the clean answer minus
 * that of the corrupted run's top-1. Patching heads by position must rank the induction head L1H0
 * at the last position and the previous-token head L0H0 at the position after the replaced token
 * on top. Skips when models/demo/model.safetensors has not been built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { tokenize } from '../../src/engine/tokenizer';
import { INTERVENTIONS_SCHEMA_VERSION as schema } from '../../src/protocol/interventions';

const folder = path.resolve(__dirname, '../../models/demo');
const built = fs.existsSync(path.join(folder, 'model.safetensors'));

const WORDS = [' apple', ' river', ' green', ' house', ' seven', ' table', ' music', ' paper'];
const REPLACEMENT = ' window';

test('demo model: head patching by position puts L1H0 (last position) and L0H0 (after the replaced token) on top', { skip: built ? false : 'models/demo/model.safetensors is not built yet' }, async () => {
  for (const w of [...WORDS, REPLACEMENT]) assert.equal(tokenize(w, { prependBos: false }).tokens.length, 1, `${JSON.stringify(w)} is one token`);
  const n = WORDS.length;
  const clean = WORDS.join('') + WORDS.join('');
  const corrupted = [...WORDS.slice(0, n - 1), REPLACEMENT].join('') + WORDS.join('');
  const engine = new Engine({ threads: 1 });
  try {
    await engine.load({ folder, name: 'demo' });
    const c = await engine.traceSummary({ text: clean });
    const k = await engine.traceSummary({ text: corrupted });
    const T = c.tokens.length;
    assert.equal(T, 2 * n + 1);
    const answer = c.tokens[n + 1]!.id; // the token after the earlier copy of the last one
    const corruptedTop = k.logitsTop.ids[(T - 1) * k.logitsTop.k]!;
    assert.equal(c.logitsTop.ids[(T - 1) * c.logitsTop.k], answer, 'the clean run predicts the induction answer');
    assert.notEqual(corruptedTop, answer, 'the corrupted run does not');
    const metric = { kind: 'logit_diff' as const, correct: answer, wrong: corruptedTop };
    const heads = [];
    for (let layer = 0; layer < 2; layer++) for (let head = 0; head < 4; head++) heads.push({ layer, head });
    const r = await engine.patchSweep({ schema, cleanTraceId: c.traceId, corruptedTraceId: k.traceId, metric, what: 'heads_by_pos', heads });
    assert.ok(r.normalisation.ok && r.scores);
    const cells = [...r.scores].map((score, i) => ({ score, label: `${r.rowLabels[Math.floor(i / r.cols)]}@${i % r.cols}` })).sort((a, b) => b.score - a.score);
    const top2 = cells.slice(0, 2).map((x) => x.label).sort();
    assert.deepEqual(top2, [`L0H0@${n + 1}`, `L1H0@${T - 1}`].sort(), `top cells: ${JSON.stringify(cells.slice(0, 4))}`);
    // Each planted cell alone restores most of the clean logit difference; the rest do little.
    assert.ok(cells[1]!.score > 0.5, `second cell ${cells[1]!.score}`);
    assert.ok(Math.abs(cells[2]!.score) < 0.2, `third cell ${cells[2]!.score}`);
    // Whole-head patching agrees: L1H0 and L0H0 are the top heads.
    const h = await engine.patchSweep({ schema, cleanTraceId: c.traceId, corruptedTraceId: k.traceId, metric, what: 'heads' });
    const order = [...h.scores!].map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s).map((x) => `L${Math.floor(x.i / 4)}H${x.i % 4}`);
    assert.deepEqual(order.slice(0, 2).sort(), ['L0H0', 'L1H0']);
  } finally {
    await engine.dispose();
  }
});
