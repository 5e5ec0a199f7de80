/** The webviews' trace state: a trace that is no longer the latest is marked until the next trace replaces it. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TraceState } from '../../webview/traceState';
import { WEBVIEW_PROTOCOL_VERSION, type HostToWebview, type TracePayload } from '../../src/protocol/webview';

const v = WEBVIEW_PROTOCOL_VERSION;
const trace = (traceId: number): HostToWebview => ({ v, type: 'trace', trace: { traceId } as unknown as TracePayload, selection: { pos: 0, layer: 0, head: 0 } });

describe('TraceState', () => {
  it('marks the shown trace stale on a stale status, keeps it through busy statuses, clears it with the next trace', () => {
    const s = new TraceState();
    s.apply(trace(1));
    assert.equal(s.stale, undefined);
    s.apply({ v, type: 'status', text: 'Tracing 4 tokens…', busy: true });
    assert.equal(s.stale, undefined, 'busy alone does not mark it');
    s.apply({ v, type: 'status', text: 'Not traced: The selection has more than 1024 tokens', busy: false, stale: true });
    assert.equal(s.stale, 'Not traced: The selection has more than 1024 tokens');
    s.apply({ v, type: 'status', text: 'Loading model gpt2…', busy: true });
    assert.equal(s.stale, 'Not traced: The selection has more than 1024 tokens', 'still the old trace on show');
    s.apply(trace(2));
    assert.equal(s.stale, undefined);
    assert.equal(s.status, undefined);
  });

  it('predictions fill the trace on show (painted without them); those of another trace are ignored', () => {
    const s = new TraceState();
    s.apply({ v, type: 'trace', trace: { traceId: 3, predK: 0, predIds: new Int32Array(0), predProbs: new Float32Array(0), vocab: [], elapsedMs: 50, text: 'x' } as unknown as TracePayload, selection: { pos: 1, layer: 0, head: 0 } });
    const predictions = { predK: 1, predIds: Int32Array.of(7, 8), predProbs: Float32Array.of(0.5, 0.25), vocab: [[7, 'a'], [8, 'b']] as [number, string][], elapsedMs: 70 };
    assert.equal(s.apply({ v, type: 'predictions', traceId: 2, predictions }), undefined, 'another trace');
    assert.equal(s.trace?.predK, 0);
    assert.equal(s.apply({ v, type: 'predictions', traceId: 3, predictions }), 'predictions');
    assert.equal(s.trace?.predK, 1);
    assert.deepEqual(Array.from(s.trace?.predIds ?? []), [7, 8]);
    assert.equal(s.trace?.elapsedMs, 70);
    assert.equal(s.trace?.text, 'x', 'the rest of the trace stays');
    assert.deepEqual(s.selection, { pos: 1, layer: 0, head: 0 });
  });
});
