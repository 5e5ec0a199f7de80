/**
 * The demo SAE on the demo model, through the real engine: each planted feature fires on its
 * tokens (activation ≥ 1.2; an exact match gives 1.6) and nowhere else (activation exactly 0),
 * on texts of planted and unplanted words; its "token is" features are excited by no other
 * token's embedding of the whole vocabulary; reconstruction is near-exact where every part of
 * the stream is planted. models/demo-sae/README.md states these figures.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { BOS_ID, DEMO_SAE_HOOK, DEMO_SAE_POSITIONS, demoSaeFeatures } from '../../src/models/sae/demoSae';
import { ensureDemoSae } from '../../scripts/build-demo-sae';
import { ensureDemoModel } from '../../scripts/build-demo-model';
import { makeTempFolder, removeTempFolder } from '../helpers/checkpointWriter';

const ROOT = path.resolve(__dirname, '../..');
const MIN_ON = 1.2;
const features = demoSaeFeatures();
let engine: Engine;
let cache: string;

before(async () => {
  ensureDemoModel();
  ensureDemoSae();
  cache = makeTempFolder('residual-lens-demo-sae');
  engine = new Engine({ threads: 1 });
  await engine.load({ folder: path.join(ROOT, 'models/demo'), name: 'demo', cacheDir: cache });
  const info = await engine.loadSae({ folder: path.join(ROOT, 'models/demo-sae', DEMO_SAE_HOOK) });
  assert.equal(info.dSae, features.length);
  assert.equal(info.centredInput, false);
});

after(async () => {
  await engine.dispose();
  removeTempFolder(cache);
});

function expectedActive(ids: readonly number[], pos: number): Set<number> {
  const on = new Set<number>();
  for (const f of features) {
    if (f.kind === 'bos' && ids[pos] === BOS_ID) on.add(f.id);
    if (f.kind === 'token' && ids[pos] === f.target) on.add(f.id);
    if (f.kind === 'after' && pos > 0 && ids[pos - 1] === f.target) on.add(f.id);
    if (f.kind === 'position' && pos === f.target) on.add(f.id);
  }
  return on;
}

describe('demo SAE', () => {
  for (const text of [' The cat sat on the mat, the city of Paris.', ' Mary and John went to the city of Paris. The cat sat on the mat. gimbal quokka vortex the cat.']) {
    it(`fires exactly on its planted tokens: ${JSON.stringify(text.slice(0, 30))}…`, async () => {
      const trace = await engine.trace({ text });
      const k = features.length;
      const got = await engine.saeFeatures({ traceId: trace.traceId, k });
      const ids = trace.tokens.map((t) => t.id);
      for (let pos = 0; pos < ids.length; pos++) {
        const want = expectedActive(ids, pos);
        const active = new Map<number, number>();
        for (let i = 0; i < k; i++) {
          const id = got.ids[pos * k + i];
          if (id >= 0) active.set(id, got.values[pos * k + i]);
        }
        for (const f of want) assert.ok((active.get(f) ?? 0) >= MIN_ON, `pos ${pos} ${JSON.stringify(trace.tokens[pos].text)}: ${features[f].label} = ${active.get(f) ?? 0}`);
        for (const [f, v] of active) assert.ok(want.has(f), `pos ${pos} ${JSON.stringify(trace.tokens[pos].text)}: ${features[f].label} fired (${v}) off its tokens`);
        assert.equal(got.l0[pos], want.size);
        // Where the token, the previous token and the position are all planted, the three parts of the stream are reconstructed.
        if (pos > 0 && pos < DEMO_SAE_POSITIONS && want.size === 3) {
          assert.ok(got.varianceExplained[pos] > 0.99, `pos ${pos}: variance explained ${got.varianceExplained[pos]}`);
          assert.ok(got.cosine[pos] > 0.995, `pos ${pos}: cosine ${got.cosine[pos]}`);
        }
      }
    });
  }

  it('"token is" features: no other token embedding of the 50257 excites them', async () => {
    for (const f of features.filter((x) => x.kind === 'token' || x.kind === 'bos')) {
      const detail = await engine.saeFeature({ feature: f.id, n: 2 });
      assert.equal(detail.topEmbeddingTokens[0].id, f.target, f.label);
      assert.ok(detail.topEmbeddingTokens[0].value > MIN_ON, f.label);
      assert.ok(detail.topEmbeddingTokens[1].value <= 0, `${f.label}: token ${detail.topEmbeddingTokens[1].id} pre-activation ${detail.topEmbeddingTokens[1].value}`);
      // The decoder writes the token's own code into TOKEN, which the tied unembedding reads: it promotes that token.
      assert.equal(detail.promoted[0].id, f.target, `${f.label}: promoted`);
    }
  });
});
