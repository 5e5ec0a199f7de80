/**
 * TraceStore (src/engine/traceStore.ts): least-recently-used eviction by count and by bytes (the
 * newest trace always kept), access order, forgetting with prefix reuse, the evicted-bytes counter
 * and the buffers a worker must copy. Byte counts are computed by hand from the arrays' sizes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../src/protocol/engine';
import { TraceStore } from '../../src/engine/traceStore';
import type { ModelConfig, ModelInfo, Trace } from '../../src/engine/types';

const config = { nLayer: 2, nHead: 2, dModel: 4, dHead: 2, dMlp: 16, dVocab: 50, nCtx: 16, layerNormEps: 1e-5 } as ModelConfig;
const model: ModelInfo = { name: 'tiny', folder: '/nowhere', config, dtype: 'F32', fingerprint: 'f' };
const K = 3;

/** A trace of T positions with arrays of the right sizes (values do not matter here). */
function trace(traceId: number, T: number): Trace {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = config;
  const f = (n: number): Float32Array => new Float32Array(n).fill(traceId);
  return {
    schema: 1, traceId, model, text: 'x'.repeat(T),
    tokens: Array.from({ length: T }, (_, i) => ({ id: i, text: 'x', start: i, end: i + 1, partial: false, special: false })),
    embed: f(T * D), posEmbed: f(T * D), resid: f((L + 1) * T * D), residMid: f(L * T * D), ln1Scale: f(L * T), ln2Scale: f(L * T),
    pattern: f(L * H * T * T), z: f(L * T * H * Dh), attnOut: f(L * T * D), mlpOut: f(L * T * D), lnFinalScale: f(T),
    logitsTop: { k: K, ids: new Int32Array(T * K), logits: f(T * K), probs: f(T * K) },
    forwardMs: 1,
  };
}

/** Bytes a stored trace keeps: embed, posEmbed, resid, z, mlpOut, lnFinalScale, topIds (+ pattern). */
function keptBytes(T: number, withPattern: boolean): number {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = config;
  const floats = 2 * T * D + (L + 1) * T * D + L * T * H * Dh + L * T * D + T + (withPattern ? L * H * T * T : 0);
  return 4 * floats + 4 * T * K;
}

describe('TraceStore', () => {
  it('keeps at most maxTraces, evicting the least recently used; get() makes a trace the most recent', () => {
    const store = new TraceStore({ maxTraces: 3, reusePrefix: false });
    for (const id of [1, 2, 3]) store.add(trace(id, 4), false);
    assert.deepEqual(store.ids(), [1, 2, 3]);
    assert.equal(store.get(1).traceId, 1);
    assert.deepEqual(store.ids(), [2, 3, 1]);
    store.add(trace(4, 4), false);
    assert.deepEqual(store.ids(), [3, 1, 4], 'trace 2, the least recently used, is evicted');
    assert.equal(store.evictedBytes, keptBytes(4, false));
    assert.throws(() => store.get(2), (err: unknown) => err instanceof EngineError && err.code === 'unknown-trace' && /no longer stored/.test(err.message));
  });

  it('keeps within maxTraceBytes, but always the newest trace, however big', () => {
    const small = keptBytes(4, false);
    const store = new TraceStore({ maxTraces: 8, maxTraceBytes: 2 * small, reusePrefix: false });
    for (const id of [1, 2]) store.add(trace(id, 4), false);
    assert.deepEqual(store.ids(), [1, 2]);
    store.add(trace(3, 4), false);
    assert.deepEqual(store.ids(), [2, 3]);
    store.add(trace(4, 12), true); // alone above the budget
    assert.deepEqual(store.ids(), [4]);
    assert.equal(store.evictedBytes, 3 * small);
    assert.ok(store.get(4).pattern, 'a trace added with its patterns keeps them');
    assert.equal(store.get(4).bytes, keptBytes(12, true));
  });

  it('prefix reuse: the newest trace is reusable; its extra arrays count; forgetting it keeps them, detached', () => {
    const store = new TraceStore({ maxTraces: 8 });
    store.add(trace(1, 4), false);
    assert.equal(store.reusable()?.traceId, 1);
    store.add(trace(2, 4), false);
    assert.equal(store.reusable()?.traceId, 2, 'only the newest');
    // Trace 1's reuse arrays were dropped when trace 2 came: residMid, ln scales, attnOut, pattern, head logits and probs.
    const { nLayer: L, nHead: H, dModel: D } = config;
    const T = 4;
    const extra = 4 * (L * T * D + 2 * L * T + L * T * D + L * H * T * T + 2 * T * K);
    assert.equal(store.evictedBytes, extra);
    const t2 = store.reusable();
    store.forget(2);
    assert.deepEqual(store.ids(), [1]);
    assert.equal(store.reusable(), t2, 'forgotten, but still the source of reuse');
    assert.equal(store.evictedBytes, extra, 'its bytes are not evicted while detached for reuse');
    const retained = store.retainedBuffers();
    assert.ok(t2 && Object.values(t2.forward).every((a) => retained.has(a.buffer)), 'a worker copies the detached arrays');
    store.add(trace(3, 4), false);
    assert.equal(store.evictedBytes, 2 * extra + keptBytes(4, false), 'the detached trace is dropped when a newer one comes');
    store.forget(1);
    assert.equal(store.evictedBytes, 2 * extra + 2 * keptBytes(4, false));
    store.forget(99); // unknown: nothing happens
    assert.deepEqual(store.ids(), [3]);
  });

  it('no reuse when disabled or when the reuse arrays would not fit the budget', () => {
    const off = new TraceStore({ reusePrefix: false });
    off.add(trace(1, 4), false);
    assert.equal(off.reusable(), undefined);
    const tight = new TraceStore({ maxTraceBytes: keptBytes(4, false) });
    tight.add(trace(1, 4), false);
    assert.equal(tight.reusable(), undefined);
    assert.deepEqual(tight.ids(), [1]);
  });

  it('retainedBuffers: every kept array of every stored trace; clear() forgets all', () => {
    const store = new TraceStore({ reusePrefix: false });
    const a = trace(1, 4);
    const b = trace(2, 4);
    store.add(a, true);
    store.add(b, false);
    const kept = store.retainedBuffers();
    for (const t of [a, b]) for (const arr of [t.embed, t.posEmbed, t.resid, t.z, t.mlpOut, t.lnFinalScale, t.logitsTop.ids]) assert.ok(kept.has(arr.buffer));
    assert.ok(kept.has(a.pattern.buffer));
    assert.ok(!kept.has(b.pattern.buffer), 'patterns only when added with them');
    assert.ok(!kept.has(a.residMid.buffer), 'arrays the store does not keep');
    store.clear();
    assert.deepEqual(store.ids(), []);
    assert.equal(store.retainedBuffers().size, 0);
  });
});
