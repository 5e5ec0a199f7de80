/**
 * headSources (which source positions fed a head's write) through the real engine on a small random
 * checkpoint, against the reference forward: Σ_s A[q, s] f(s) is the head's hook_result at q,
 * each ‖A[q, s] f(s)‖ equals one built by hand from the reference's resid_pre and the weights, and
 * Σ_s dla[s] is the head's DLA from `attribute` (1e-4 relative).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import type { ModelWeights } from '../../src/engine/types';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { layerNormRow, referenceForward } from '../helpers/referenceForward';

const CONFIG = { nLayer: 2, nHead: 3, dModel: 24, nCtx: 32, dVocab: 50257 };
const close = (a: number, b: number, what: string, tol = 1e-4): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe('headSources', () => {
  let root: string;
  let folder: string;
  let weights: ModelWeights;
  const engine = new Engine();

  before(async () => {
    root = makeTempFolder('rl-sources');
    folder = path.join(root, 'model');
    weights = writeRandomCheckpoint(folder, { ...CONFIG, seed: 77 });
    await engine.load({ folder, name: 'tiny', cacheDir: path.join(root, 'cache') });
  });
  after(async () => {
    await engine.dispose();
    removeTempFolder(root);
  });

  it('splits each head\'s write by source exactly (reference forward, attribute)', async () => {
    const summary = await engine.traceSummary({ text: 'one two three one two three' });
    const ids = summary.tokens.map((t) => t.id);
    const T = ids.length;
    const ref = referenceForward(weights, ids);
    const { nHead: H, dModel: D, dHead: Dh, layerNormEps: eps } = weights.config;
    for (const [layer, head, pos] of [[0, 0, T - 1], [1, 2, T - 1], [1, 1, 3], [0, 2, 0]] as const) {
      const r = engine.headSources({ traceId: summary.traceId, layer, head, pos });
      assert.equal(r.attention.length, T);
      const lw = weights.layers[layer]!;
      const sumWrite = new Float64Array(D);
      for (let s = 0; s < T; s++) {
        const a = ref.pattern[((layer * H + head) * T + pos) * T + s] as number;
        close(r.attention[s] as number, a, `A[${pos},${s}]`, 1e-5);
        // f(s) by hand: LN1 of the reference resid_pre, the head's value columns, then its W_O rows.
        const x = Array.from(ref.resid.subarray((layer * T + s) * D, (layer * T + s + 1) * D));
        const ln = layerNormRow(x, lw.ln1Weight, lw.ln1Bias, eps).out;
        const v = Array.from({ length: Dh }, (_, j) => ln.reduce((acc, li, i) => acc + li * (lw.attnWeight[i * 3 * D + 2 * D + head * Dh + j] as number), lw.attnBias[2 * D + head * Dh + j] as number));
        let sq = 0;
        for (let o = 0; o < D; o++) {
          const f = v.reduce((acc, vj, j) => acc + vj * (lw.attnProjWeight[(head * Dh + j) * D + o] as number), 0);
          sq += (a * f) ** 2;
          sumWrite[o] = (sumWrite[o] as number) + a * f;
        }
        close(r.norm[s] as number, Math.sqrt(sq), `‖A·f(${s})‖ L${layer}H${head}`);
        if (s > pos) assert.equal(r.norm[s], 0, 'causal: no source after pos');
      }
      for (let o = 0; o < D; o++) close(sumWrite[o] as number, ref.headResult[((layer * T + pos) * H + head) * D + o] as number, `Σ_s A f(s) = hook_result[${o}]`);
      const attribution = await engine.attribute({ traceId: summary.traceId, pos, tokenId: r.tokenId });
      close(Array.from(r.dla).reduce((x, y) => x + y, 0), attribution.headGrid[layer * H + head] as number, `Σ dla = DLA of L${layer}H${head}`);
    }
    assert.throws(() => engine.headSources({ traceId: summary.traceId, layer: 2, head: 0, pos: 0 }), /layer/);
    const full = await engine.trace({ text: 'a trace without stored patterns' });
    assert.throws(() => engine.headSources({ traceId: full.traceId, layer: 0, head: 0, pos: 0 }), /not stored with its attention patterns/);
  });
});
