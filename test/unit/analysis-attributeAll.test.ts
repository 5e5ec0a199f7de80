/**
 * attributeAllPositions (DLA at every position in one pass, centring moved onto the unembedding
 * direction) against the per-position path directLogitAttribution(decomposeResidual(…)) and against
 * the reference forward's logits, on small random models (test/helpers/referenceForward.ts).
 * Tolerance: |got − want| ≤ 1e-5 · max(1, |want|) per value.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig, ModelInfo, TokenInfo } from '../../src/engine/types';
import { attributeAllPositions, directLogitAttribution } from '../../src/analysis/attribution';
import { componentLabels, decomposeResidual } from '../../src/analysis/decomposition';
import { matmul, type MatmulBackend } from '../../src/analysis/linalg';
import { makeConfig, randomWeights } from '../helpers/checkpointWriter';
import { referenceForward } from '../helpers/referenceForward';
import { Random } from '../helpers/random';

const TOL = 1e-5;
const close = (got: number, want: number): boolean => Math.abs(got - want) <= TOL * Math.max(1, Math.abs(want));

/** Top-1 id of each row of [T, V] logits. */
function argmaxRows(logits: Float32Array, T: number, V: number): Int32Array {
  const out = new Int32Array(T);
  for (let p = 0; p < T; p++) {
    let best = 0;
    for (let v = 1; v < V; v++) if ((logits[p * V + v] as number) > (logits[p * V + best] as number)) best = v;
    out[p] = best;
  }
  return out;
}

function setup(partial: Partial<ModelConfig>, seed: number, T: number) {
  const config = makeConfig(partial);
  const weights = randomWeights({ ...config, seed });
  const random = new Random(seed + 1);
  const ids = Array.from({ length: T }, () => random.int(0, config.dVocab));
  const ref = referenceForward(weights, ids);
  const D = config.dModel;
  const model: ModelInfo = { name: 'random', folder: '/nowhere', config, dtype: 'F32', fingerprint: 'test' };
  const tokens: TokenInfo[] = ids.map((id) => ({ id, text: String(id), start: 0, end: 0, partial: false, special: false }));
  const proj = { attnProjWeight: weights.layers.map((l) => l.attnProjWeight), attnProjBias: weights.layers.map((l) => l.attnProjBias) };
  const column = (t: number): Float32Array => weights.wte.subarray(t * D, (t + 1) * D);
  const input = (targets: Int32Array) => ({
    config, embed: ref.embed, posEmbed: ref.posEmbed, z: ref.z, mlpOut: ref.mlpOut, lnFinalScale: ref.lnFinalScale, targets,
    attnProjWeight: proj.attnProjWeight, attnProjBias: proj.attnProjBias, lnFinalWeight: weights.lnFinalWeight, lnFinalBias: weights.lnFinalBias,
    unembedColumn: column,
  });
  /** The per-position path, one position and token at a time. */
  const perPosition = (pos: number, t: number) =>
    directLogitAttribution(
      decomposeResidual({ embed: ref.embed, posEmbed: ref.posEmbed, z: ref.z, mlpOut: ref.mlpOut, tokens, model }, proj, pos),
      D, ref.lnFinalScale[pos] as number, weights.lnFinalWeight, weights.lnFinalBias, column(t),
    );
  return { config, ref, input, perPosition, T };
}

describe('attributeAllPositions', () => {
  const cases: [string, Partial<ModelConfig>, number, number][] = [
    ['2 layers, 2 heads, d 16', { nLayer: 2, nHead: 2, dModel: 16, dVocab: 64, nCtx: 16 }, 7, 9],
    ['3 layers, 3 heads, d 18 (Dh 6, not a multiple of 4)', { nLayer: 3, nHead: 3, dModel: 18, dVocab: 40, nCtx: 16 }, 8, 12],
    ['1 layer, 4 heads, d 32, one position', { nLayer: 1, nHead: 4, dModel: 32, dVocab: 30, nCtx: 8 }, 9, 1],
  ];
  for (const [name, partial, seed, T] of cases) {
    test(`${name}: every position equals directLogitAttribution(decomposeResidual) and Σ + lnBiasTerm = the logit`, async () => {
      const { config, ref, input, perPosition } = setup(partial, seed, T);
      const V = config.dVocab;
      const C = componentLabels(config).length;
      const top1 = argmaxRows(ref.logits, T, V);
      const all = await attributeAllPositions(input(top1));
      assert.equal(all.values.length, T * C);
      assert.deepEqual(all.tokenIds, top1);
      for (let p = 0; p < T; p++) {
        const want = perPosition(p, top1[p] as number);
        for (let c = 0; c < C; c++) {
          const got = all.values[p * C + c] as number;
          assert.ok(close(got, want.values[c] as number), `pos ${p} component ${componentLabels(config)[c]?.name}: ${got} vs ${want.values[c]}`);
        }
        assert.ok(Math.abs((all.lnBiasTerm[p] as number) - want.lnBiasTerm) < 1e-9, `pos ${p} lnBiasTerm`);
        let sum = all.lnBiasTerm[p] as number;
        for (let c = 0; c < C; c++) sum += all.values[p * C + c] as number;
        const logit = ref.logits[p * V + (top1[p] as number)] as number;
        assert.ok(close(sum, logit), `pos ${p}: Σ + lnBiasTerm = ${sum}, logit ${logit}`);
      }
    });
  }

  test('repeated and arbitrary targets: one column per distinct token, each position still matches', async () => {
    const { config, ref, input, perPosition, T } = setup({ nLayer: 2, nHead: 2, dModel: 16, dVocab: 64, nCtx: 16 }, 11, 10);
    const targets = Int32Array.from([5, 5, 63, 0, 5, 63, 17, 17, 0, 5]);
    const requested: number[] = [];
    const base = input(targets);
    const all = await attributeAllPositions({ ...base, unembedColumn: (t) => (requested.push(t), base.unembedColumn(t)) });
    assert.deepEqual(requested, [5, 63, 0, 17]);
    const C = componentLabels(config).length;
    for (let p = 0; p < T; p++) {
      const want = perPosition(p, targets[p] as number);
      for (let c = 0; c < C; c++) assert.ok(close(all.values[p * C + c] as number, want.values[c] as number), `pos ${p} component ${c}`);
      let sum = all.lnBiasTerm[p] as number;
      for (let c = 0; c < C; c++) sum += all.values[p * C + c] as number;
      assert.ok(close(sum, ref.logits[p * config.dVocab + (targets[p] as number)] as number), `pos ${p} sum`);
    }
  });

  test('uses the given matmul backend once per layer with [D, D] × [D, n]; results as with the default', async () => {
    const { config, input, T } = setup({ nLayer: 3, nHead: 2, dModel: 16, dVocab: 64, nCtx: 16 }, 12, 8);
    const targets = Int32Array.from([1, 2, 3, 1, 2, 3, 4, 4]);
    const shapes: string[] = [];
    // A backend with only the required matmul: the function must fall back correctly.
    const plain: MatmulBackend = {
      matmul: async (a, b, m, k, n) => {
        shapes.push(`${m}x${k}x${n}`);
        return matmul(a, b, m, k, n);
      },
    };
    const viaPlain = await attributeAllPositions(input(targets), plain);
    assert.deepEqual(shapes, ['16x16x4', '16x16x4', '16x16x4']);
    const viaDefault = await attributeAllPositions(input(targets));
    assert.equal(viaPlain.values.length, T * componentLabels(config).length);
    for (let i = 0; i < viaPlain.values.length; i++) assert.ok(close(viaPlain.values[i] as number, viaDefault.values[i] as number), `value ${i}`);
  });

  test('bad input: a wrong-sized tensor or a non-positive scale is a one-line RangeError', async () => {
    const { input } = setup({ nLayer: 1, nHead: 2, dModel: 16, dVocab: 64, nCtx: 16 }, 13, 4);
    const ok = input(Int32Array.from([1, 2, 3, 4]));
    await assert.rejects(attributeAllPositions({ ...ok, embed: ok.embed.subarray(1) }), /embed has 63 values, expected 64/);
    const scale = Float32Array.from(ok.lnFinalScale);
    scale[2] = 0;
    await assert.rejects(attributeAllPositions({ ...ok, lnFinalScale: scale }), /scale at position 2 must be positive, got 0/);
  });
});
