/**
 * The hover right after a (live lens) re-trace (src/ui/hover.ts): it waits for the DLA, but at most
 * LENS_WAIT_MS (100 ms) for the lens table, and then answers without the lens line; with the lens
 * table in, the line is there. Through the vscode stub with a fake controller.
 */
import { textDocument, Position } from '../helpers/vscodeStub';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TraceHoverProvider } from '../../src/ui/hover';
import type { TraceController } from '../../src/ui/traceController';

const tokens = [
  { id: 50256, text: '<|endoftext|>', start: 0, end: 0, partial: false, special: true },
  { id: 464, text: 'The', start: 0, end: 3, partial: false, special: false },
  { id: 3797, text: ' cat', start: 3, end: 7, partial: false, special: false },
];
const attribution = { components: [{ kind: 'embed', layer: -1, head: -1, name: 'embed' }, { kind: 'head', layer: 0, head: 0, name: 'L0H0' }], values: new Float32Array([1.5, -0.5]) };
/** [L+1 = 2, T = 3, k = 1]: the final top-1 at pos 2 (id 7) is already row 0's. */
const lens = { rows: 2, positions: 3, top: { k: 1, ids: Int32Array.from([5, 6, 7, 5, 6, 7]) } };

function controller(lensTable: Promise<unknown>): TraceController {
  const record = {
    trace: { tokens, model: { name: 'tiny', config: { nLayer: 1 } } },
    payload: { vocab: [[11, ' sat']], predK: 1, predIds: Int32Array.from([11, 11, 11]), predProbs: Float32Array.from([0.5, 0.5, 0.5]) },
    range: { start: 0, end: 7 },
  };
  return {
    tokenAtOffset: (_uri: string, offset: number) => (offset < 7 ? { record, pos: offset < 3 ? 1 : 2 } : undefined),
    attributionOf: async () => attribution,
    lensOf: () => lensTable,
  } as unknown as TraceController;
}

describe('hover and the lens table', () => {
  it('answers with the DLA and without the lens line when the lens table is late', async () => {
    const provider = new TraceHoverProvider(controller(new Promise(() => undefined)));
    const t0 = Date.now();
    const hover = await provider.provideHover(textDocument('The cat') as never, new Position(0, 4) as never);
    const waited = Date.now() - t0;
    assert.ok(hover);
    const text = (hover.contents as unknown as { value: string }).value;
    assert.match(text, /Top components/);
    assert.match(text, /embed/);
    assert.doesNotMatch(text, /logit lens predicts/);
    assert.ok(waited >= 90 && waited < 2000, `waited ${waited} ms for the lens table`);
  });

  it('has the lens line once the table is in', async () => {
    const provider = new TraceHoverProvider(controller(Promise.resolve(lens)));
    const hover = await provider.provideHover(textDocument('The cat') as never, new Position(0, 4) as never);
    assert.ok(hover);
    assert.match((hover.contents as unknown as { value: string }).value, /logit lens predicts the final top-1 from/);
  });
});
