/**
 * The prefix-reuse plan and splice (src/engine/prefixReuse.ts) on synthetic arrays, without ORT:
 * every element of a "full" trace is a known function of (array, group, position, column), so a
 * splice of stored rows 0..P−1 and computed rows P..T−1 must reproduce it exactly; patterns are
 * zero above the diagonal. The ORT side is test/integration/prefixReuse.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FORWARD_OUTPUTS, INPUTS, type ForwardArray } from '../../src/engine/graph';
import { forwardFeeds, headReusable, MIN_COMPUTED_ROWS, minReusedPositions, planReuse, spliceForward, spliceHead, type ReusableTrace } from '../../src/engine/prefixReuse';
import type { ModelConfig, ModelInfo } from '../../src/engine/types';

const config: ModelConfig = { nLayer: 2, nHead: 3, dModel: 6, dHead: 2, dMlp: 24, nCtx: 16, dVocab: 50, layerNormEps: 1e-5 };
const { nLayer: L, nHead: H, dModel: D } = config;
const model = { name: 'synthetic', config } as ModelInfo;
const KEYS = Object.keys(FORWARD_OUTPUTS) as ForwardArray[];
const K = 2;

/** [groups, rows of width] of each array. */
const LAYOUT: Record<Exclude<ForwardArray, 'pattern'>, { groups: number; width: number }> = {
  embed: { groups: 1, width: D }, posEmbed: { groups: 1, width: D }, resid: { groups: L + 1, width: D },
  residMid: { groups: L, width: D }, ln1Scale: { groups: L, width: 1 }, ln2Scale: { groups: L, width: 1 },
  z: { groups: L, width: D }, attnOut: { groups: L, width: D }, mlpOut: { groups: L, width: D },
};

const value = (key: number, g: number, pos: number, col: number): number => key * 1e6 + g * 1e4 + pos * 100 + col + 1;

/** The arrays of positions from..to−1 of a full trace (patterns over `keys` keys). */
function rowsOf(from: number, to: number, keys: number): Record<ForwardArray, Float32Array> {
  const S = to - from;
  const out = {} as Record<ForwardArray, Float32Array>;
  KEYS.forEach((key, ki) => {
    if (key === 'pattern') {
      const a = new Float32Array(L * H * S * keys);
      for (let g = 0; g < L * H; g++) for (let q = 0; q < S; q++) for (let k = 0; k <= from + q; k++) a[(g * S + q) * keys + k] = value(ki, g, from + q, k);
      out.pattern = a;
      return;
    }
    const { groups, width } = LAYOUT[key];
    const a = new Float32Array(groups * S * width);
    for (let g = 0; g < groups; g++) for (let p = 0; p < S; p++) for (let c = 0; c < width; c++) a[(g * S + p) * width + c] = value(ki, g, from + p, c);
    out[key] = a;
  });
  return out;
}

function stored(ids: number[], k = K): ReusableTrace {
  const T = ids.length;
  const head = (T2: number, base: number): Float32Array => Float32Array.from({ length: T2 * k }, (_, i) => base + i);
  return {
    traceId: 1, model, ids: Int32Array.from(ids), forward: rowsOf(0, T, T),
    head: { top: { k, ids: Int32Array.from({ length: T * k }, (_, i) => i), logits: head(T, 100), probs: head(T, 200) }, scale: Float32Array.from({ length: T }, (_, i) => i + 0.5) },
  };
}

describe('prefix reuse plan', () => {
  const prev = stored([9, 1, 2, 3, 4]);
  it('reuses the common id prefix, leaving at least MIN_COMPUTED_ROWS rows', () => {
    assert.equal(MIN_COMPUTED_ROWS, 2);
    assert.equal(planReuse(prev, model, [9, 1, 2, 3, 4, 5, 6], 1)?.P, 5);
    assert.equal(planReuse(prev, model, [9, 1, 2, 3, 4, 5], 1)?.P, 4);
    assert.equal(planReuse(prev, model, [9, 1, 2, 3, 4], 1)?.P, 3, 'identical');
    assert.equal(planReuse(prev, model, [9, 1, 7, 3, 4], 1)?.P, 2, 'edit at 2');
    assert.equal(planReuse(prev, model, [9, 8, 7], 1)?.P, 1);
    assert.equal(planReuse(prev, model, [9, 1], 1), undefined, 'too short to leave two rows');
    assert.equal(planReuse(prev, model, [8, 1, 2, 3], 1), undefined, 'first id differs');
    assert.equal(planReuse(undefined, model, [9, 1, 2], 1), undefined);
    assert.equal(planReuse(prev, { ...model }, [9, 1, 2, 3, 4, 5], 1), undefined, 'another load (another ModelInfo)');
  });
  it('by default reuses only a prefix worth it: max(4, ⌈T/8⌉) shared positions', () => {
    assert.equal(minReusedPositions(7), 4);
    assert.equal(minReusedPositions(32), 4);
    assert.equal(minReusedPositions(128), 16);
    assert.equal(planReuse(prev, model, [9, 8, 7]), undefined, 'only one shared');
    assert.equal(planReuse(prev, model, [9, 1, 2, 7, 4]), undefined, 'three shared');
    assert.equal(planReuse(prev, model, [9, 1, 2, 3, 4, 5])?.P, 4, 'four shared');
  });
  it('refuses a stored trace whose arrays were transferred away', () => {
    const t = stored([9, 1, 2, 3]);
    structuredClone(t.forward.z, { transfer: [t.forward.z.buffer as ArrayBuffer] });
    assert.equal(planReuse(t, model, [9, 1, 2, 3, 4], 1), undefined);
  });
  it('reuses the head only for the same k and whole arrays', () => {
    const plan = planReuse(prev, model, [9, 1, 2, 3, 4, 5], 1);
    assert.ok(headReusable(plan, K));
    assert.ok(!headReusable(plan, K + 1));
    const t = stored([9, 1, 2, 3]);
    const p2 = planReuse(t, model, [9, 1, 2, 3, 4], 1);
    structuredClone(t.head.top.probs, { transfer: [t.head.top.probs.buffer as ArrayBuffer] });
    assert.ok(p2 && !headReusable(p2, K));
  });
  it('feeds the stored resid_pre rows 0..P−1 of each layer as the prefix [L, P, D]', () => {
    const plan = planReuse(prev, model, [9, 1, 2, 3, 4, 5], 1);
    assert.ok(plan);
    const feeds = forwardFeeds(config, [4, 5], plan);
    assert.deepEqual(feeds[INPUTS.prefix].dims, [L, plan.P, D]);
    assert.deepEqual(feeds[INPUTS.ids].dims, [2]);
    const data = feeds[INPUTS.prefix].data as Float32Array;
    const resid = KEYS.indexOf('resid');
    for (let l = 0; l < L; l++) for (let p = 0; p < plan.P; p++) for (let c = 0; c < D; c++) assert.equal(data[(l * plan.P + p) * D + c], value(resid, l, p, c));
    assert.deepEqual(forwardFeeds(config, [1, 2, 3])[INPUTS.prefix].dims, [L, 0, D], 'a full forward: P = 0');
  });
});

describe('prefix reuse splice', () => {
  for (const [Tp, T, P] of [[5, 7, 5], [5, 5, 3], [6, 4, 2], [8, 8, 1]]) {
    it(`stored ${Tp} rows + computed rows ${P}..${T - 1} = the full ${T}-row arrays (patterns zero above the diagonal)`, () => {
      const prev = stored(Array.from({ length: Tp }, (_, i) => i));
      const spliced = spliceForward({ from: prev, P }, rowsOf(P, T, T), T);
      const full = rowsOf(0, T, T);
      for (const key of KEYS) assert.deepEqual(spliced[key], full[key], key);
    });
  }
  it('the head: stored rows 0..P−1, then the computed ones', () => {
    const prev = stored([0, 1, 2, 3]);
    const T = 5;
    const P = 3;
    const suffix = { top: { k: K, ids: Int32Array.of(-1, -2, -3, -4), logits: Float32Array.of(1, 2, 3, 4), probs: Float32Array.of(5, 6, 7, 8) }, scale: Float32Array.of(9, 10) };
    const h = spliceHead({ from: prev, P }, suffix, T);
    assert.deepEqual([...h.top.ids], [0, 1, 2, 3, 4, 5, -1, -2, -3, -4]);
    assert.deepEqual([...h.top.logits], [100, 101, 102, 103, 104, 105, 1, 2, 3, 4]);
    assert.deepEqual([...h.top.probs], [200, 201, 202, 203, 204, 205, 5, 6, 7, 8]);
    assert.deepEqual([...h.scale], [0.5, 1.5, 2.5, 9, 10]);
  });
});
