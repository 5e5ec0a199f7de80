/** The webview payloads built from the engine's trace summary and pooled patterns (no tensors on the host). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ModelInfo, TraceSummary } from '../../src/engine/types';
import { patternPayload, thumbsPayload, tracePayload } from '../../src/ui/payloads';

const model: ModelInfo = {
  name: 'tiny',
  folder: '/m',
  config: { nLayer: 1, nHead: 2, dModel: 4, dHead: 2, dMlp: 16, nCtx: 8, dVocab: 50257, layerNormEps: 1e-5 },
  dtype: 'F32',
  fingerprint: 'f',
};

describe('payloads from the trace summary', () => {
  test('tracePayload: the summary\'s norms and predictions, compact arrays, token texts for the predicted ids', () => {
    // T = 2, k = 2; the norms sit inside one larger buffer: the payload copies them compactly.
    const shared = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const summary: TraceSummary = {
      schema: 1,
      traceId: 7,
      model,
      text: 'Hi',
      tokens: [
        { id: 50256, text: '<|endoftext|>', start: 0, end: 0, partial: false, special: true },
        { id: 17250, text: 'Hi', start: 0, end: 2, partial: false, special: false },
      ],
      logitsTop: { k: 2, ids: Int32Array.from([11, 0, 11, 13]), logits: Float32Array.from([5, 4, 3, 2]), probs: Float32Array.from([0.5, 0.2, 0.6, 0.1]) },
      forwardMs: 3,
      residNorms: shared.subarray(0, 4),
      attnOutNorms: shared.subarray(4, 6),
      mlpOutNorms: shared.subarray(6, 8),
    };
    const p = tracePayload(summary, 12.5);
    assert.deepEqual(p, {
      traceId: 7,
      model: 'tiny',
      text: 'Hi',
      nLayer: 1,
      nHead: 2,
      tokens: [
        { id: 50256, text: '<|endoftext|>', partial: false, special: true },
        { id: 17250, text: 'Hi', partial: false, special: false },
      ],
      residNorms: Float32Array.from([1, 2, 3, 4]),
      attnNorms: Float32Array.from([5, 6]),
      mlpNorms: Float32Array.from([7, 8]),
      predK: 2,
      predIds: summary.logitsTop.ids,
      predProbs: summary.logitsTop.probs,
      vocab: [[11, ','], [0, '!'], [13, '.']],
      elapsedMs: 12.5,
    });
    for (const a of [p.residNorms, p.attnNorms, p.mlpNorms]) assert.equal(a.buffer.byteLength, a.byteLength, 'owns its buffer');
  });

  test('patternPayload / thumbsPayload pass the engine\'s pooled arrays through', () => {
    const values = Float32Array.from([0.25, 0.75]);
    assert.deepEqual(patternPayload({ traceId: 3, layer: 1, size: 1, values }), { traceId: 3, layer: 1, size: 1, values });
    assert.deepEqual(thumbsPayload({ traceId: 3, size: 1, values }), { traceId: 3, size: 1, values });
  });
});
