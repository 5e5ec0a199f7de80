/**
 * Circuits on the planted demo model (models/demo, see its README): L0H0 is a previous-token head,
 * L1H0 an induction head that K-composes with it. Detector patterns come from the real engine (ORT).
 * Skips with a message when models/demo/model.safetensors has not been built yet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { headRole } from '../../src/viewModels/circuits';
import { Engine } from '../../src/engine/engine';
import { topPairs } from '../../src/cli/circuits';

const folder = path.resolve(__dirname, '../../models/demo');
const built = fs.existsSync(path.join(folder, 'model.safetensors'));

test('demo model: L0H0 → L1H0 is the top K-composition pair (1/√64); detectors find the planted heads', { skip: built ? false : 'models/demo/model.safetensors is not built yet (node --import tsx scripts/build-demo-model.ts)' }, async () => {
  const engine = new Engine();
  try {
    await engine.load({ folder, name: 'demo' });
    const r = await engine.circuits({ seed: 0 });
    const { nLayer: L, nHead: H } = r;
    assert.equal(L, 2);
    const top = topPairs(r.composition.k, L, H, 3);
    assert.deepEqual(top[0] && [top[0].from, top[0].to], ['L0H0', 'L1H0']);
    // two perfectly aligned rank-64 maps: 1/√64 (tolerance 1e-4: float32 weights)
    assert.ok(Math.abs(top[0]!.score - 0.125) < 1e-4, `K-composition L0H0 → L1H0 = ${top[0]!.score}`);
    // every other pair (and every Q / V pair) is orthogonal or reads a zero head
    for (const kind of ['q', 'k', 'v'] as const) {
      r.composition[kind].forEach((v, i) => {
        if (kind === 'k' && i === (0 * H + 0) * L * H + 1 * H + 0) return;
        assert.ok(v < 1e-3, `${kind}-composition entry ${i} = ${v}`);
      });
    }
    assert.ok(r.compositionBaseline > 0.125 / 4 && r.compositionBaseline < 0.125, `baseline ${r.compositionBaseline} sits below the planted score`);
    const byScore = (key: 'previousToken' | 'induction' | 'copying') => [...r.heads].sort((a, b) => b[key] - a[key]);
    const prev = byScore('previousToken');
    const ind = byScore('induction');
    assert.deepEqual([prev[0]!.layer, prev[0]!.head], [0, 0]);
    assert.deepEqual([ind[0]!.layer, ind[0]!.head], [1, 0]);
    // sequences are BOS + 20 tokens twice (T = 41): a perfect previous-token head scores 40/41,
    // a perfect induction head 20/41 (the first copy has nothing to match)
    assert.ok(prev[0]!.previousToken > 0.97, `L0H0 previous-token ${prev[0]!.previousToken}`);
    assert.ok(ind[0]!.induction > 0.48, `L1H0 induction ${ind[0]!.induction}`);
    assert.ok(prev[1]!.previousToken < 0.2, `runner-up previous-token ${prev[1]!.previousToken}`);
    assert.ok(ind[1]!.induction < 0.1, `runner-up induction ${ind[1]!.induction}`);
    const l1h0 = r.heads.find((h) => h.layer === 1 && h.head === 0)!;
    // …so roles are given relative to those ceilings: the panel's and the CLI's Role column names both planted heads, and only them.
    assert.ok(Math.abs(r.detectorCeilings.previousToken - 40 / 41) < 1e-6 && Math.abs(r.detectorCeilings.induction - 20 / 41) < 1e-6, JSON.stringify(r.detectorCeilings));
    assert.deepEqual(
      r.heads.map((h) => headRole(h, r.detectorCeilings) ?? '-'),
      r.heads.map((h) => (h.layer === 0 && h.head === 0 ? 'previous-token' : h.layer === 1 && h.head === 0 ? 'induction' : '-')),
    );
    assert.ok(l1h0.copying > 0.99, `L1H0 copies tokens: ${l1h0.copying}`);
    // the planted heads use all 64 dimensions of their write subspace, the zero heads none
    assert.ok(Math.abs(l1h0.writeEffectiveRank - 64) < 0.01);
    assert.equal(r.heads.find((h) => h.layer === 0 && h.head === 1)!.writeEffectiveRank, 0);
    const pair = await engine.headPair({ layer1: 0, head1: 0, layer2: 1, head2: 0, kind: 'k' });
    assert.ok(Math.abs(pair.score - 0.125) < 1e-4, `headPair score ${pair.score}`);
    process.stdout.write(
      `# demo: K L0H0→L1H0 ${top[0]!.score.toFixed(6)}, baseline ${r.compositionBaseline.toFixed(4)}, prev L0H0 ${prev[0]!.previousToken.toFixed(4)}, ` +
        `induction L1H0 ${ind[0]!.induction.toFixed(4)}, copying L1H0 ${l1h0.copying.toFixed(4)}, W_E 50/80/90 % ${r.subspaces.embedding.at50}/${r.subspaces.embedding.at80}/${r.subspaces.embedding.at90}, ` +
        `W_pos ${r.subspaces.positional.at50}/${r.subspaces.positional.at80}/${r.subspaces.positional.at90}\n`,
    );
  } finally {
    await engine.dispose();
  }
});
