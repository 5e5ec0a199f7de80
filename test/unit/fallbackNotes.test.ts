/** Where a graph's WebGPU → CPU fallback is said: into the load's note, or once as a notice. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FallbackNotes } from '../../src/engine/fallbackNotes';

describe('FallbackNotes', () => {
  it("a load's fallbacks become its note (the first one), not notices", () => {
    const said: string[] = [];
    const notes = new FallbackNotes((text) => said.push(text));
    notes.beginLoad();
    notes.report('WebGPU could not run a graph (A); that graph runs on the CPU.');
    notes.report('WebGPU could not run a graph (B); that graph runs on the CPU.');
    assert.equal(notes.endLoad(), 'WebGPU could not run a graph (A); that graph runs on the CPU.');
    assert.deepEqual(said, []);
    assert.equal(notes.endLoad(), undefined, 'a second end (the finally after a success) has nothing');
  });

  it('a graph created after the load is said once per distinct line', () => {
    const said: string[] = [];
    const notes = new FallbackNotes((text) => said.push(text));
    notes.beginLoad();
    assert.equal(notes.endLoad(), undefined);
    notes.report('block graph');
    notes.report('block graph');
    notes.report('sae graph');
    assert.deepEqual(said, ['block graph', 'sae graph']);
  });

  it('a new load starts with no note; what was said stays said', () => {
    const said: string[] = [];
    const notes = new FallbackNotes((text) => said.push(text));
    notes.report('later graph');
    notes.beginLoad();
    notes.report('load graph');
    assert.equal(notes.endLoad(), 'load graph');
    notes.beginLoad();
    assert.equal(notes.endLoad(), undefined);
    notes.report('later graph');
    assert.deepEqual(said, ['later graph']);
  });

  it('without a listener nothing throws', () => {
    const notes = new FallbackNotes(undefined);
    notes.report('anything');
    notes.beginLoad();
    notes.report('load');
    assert.equal(notes.endLoad(), 'load');
  });
});
