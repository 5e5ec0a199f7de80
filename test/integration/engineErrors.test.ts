/**
 * Engine bad input: too-long and empty texts, unknown traces, out-of-range requests, a broken
 * checkpoint (the previous model stays usable), and trace eviction. Messages are asserted exactly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { EngineError } from '../../src/protocol/engine';
import { hasVisibleText } from '../../src/engine/textRules';
import { emptyTextProblem } from '../../src/ui/traceText';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const CONFIG = { nLayer: 1, nHead: 2, dModel: 8, nCtx: 16, dVocab: 50257 };

async function rejectsWith(p: Promise<unknown>, code: EngineError['code'], message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof EngineError, `expected EngineError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

describe('engine bad input', () => {
  let root: string;
  let engine: Engine;

  before(async () => {
    root = makeTempFolder('rl-engine-errors');
    writeRandomCheckpoint(path.join(root, 'a'), { ...CONFIG, seed: 1 });
    engine = new Engine({ maxTraces: 2 });
  });
  after(async () => {
    await engine.dispose();
    removeTempFolder(root);
  });

  it('refuses requests before a model is loaded', async () => {
    await rejectsWith(engine.trace({ text: 'hi' }), 'no-model', 'No model is loaded: load a model before tracing.');
    await engine.load({ folder: path.join(root, 'a'), name: 'tiny', cacheDir: path.join(root, 'cache') });
  });

  it('refuses a text longer than n_ctx, counting only n_ctx + 1 tokens (also for 1 MB)', async () => {
    const message = 'The text has more than 16 tokens; tiny accepts at most 16 (BOS included). Select less text.';
    await rejectsWith(engine.trace({ text: 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen' }), 'bad-input', message);
    await rejectsWith(engine.trace({ text: 'word '.repeat(200_000) }), 'bad-input', message);
    await rejectsWith(engine.trace({ text: 'x'.repeat(1 << 20) }), 'bad-input', message);
    // Exactly n_ctx tokens (BOS + 15) is fine.
    const ok = await engine.trace({ text: ' a'.repeat(15) });
    assert.equal(ok.tokens.length, 16);
  });

  it('refuses an empty or whitespace-only text (the extension host\'s rule too), and traces whitespace beside a visible character and a lone <|endoftext|>', async () => {
    const blank = 'Nothing to trace: the text is empty or only whitespace.';
    await rejectsWith(engine.trace({ text: '' }), 'bad-input', blank);
    await rejectsWith(engine.trace({ text: '', options: { prependBos: false } }), 'bad-input', blank);
    await rejectsWith(engine.trace({ text: '   ' }), 'bad-input', blank);
    await rejectsWith(engine.trace({ text: ' \n\t\n', options: { prependBos: false } }), 'bad-input', blank);
    for (const text of ['', '   ', '\n\n', 'x', ' x ']) assert.equal(emptyTextProblem(text) === undefined, hasVisibleText(text), JSON.stringify(text));
    const ws = await engine.trace({ text: '   .' });
    assert.ok(ws.tokens.length >= 2);
    const eot = await engine.trace({ text: '<|endoftext|>', options: { allowSpecial: true } });
    assert.deepEqual(eot.tokens.map((t) => t.id), [50256, 50256]);
    const noBos = await engine.trace({ text: 'x', options: { prependBos: false } });
    assert.equal(noBos.tokens.length, 1);
  });

  it('traces hostile text: lone surrogates, control characters, NUL', async () => {
    const t = await engine.trace({ text: '\uD800x\uDFFF\u0000\u0007\u202E\r\n' });
    assert.ok(t.tokens.length >= 3);
    assert.equal(t.tokens[t.tokens.length - 1].end, 8);
    assert.ok(t.logitsTop.probs.every((p) => p >= 0 && p <= 1));
  });

  it('refuses a bad top-k, layer and position', async () => {
    await rejectsWith(engine.trace({ text: 'hi', options: { topK: 0 } }), 'bad-input', 'Top-k must be a whole number from 1 to 1000, got 0.');
    const t = await engine.trace({ text: 'hi there' });
    await rejectsWith(engine.lensDistribution({ traceId: t.traceId, layer: 2, pos: 0 }), 'bad-input', 'layer 2 is out of range: 0..1.');
    await rejectsWith(engine.attribute({ traceId: t.traceId, pos: 9 }), 'bad-input', `pos 9 is out of range: 0..${t.tokens.length - 1}.`);
    await rejectsWith(engine.headResults({ traceId: t.traceId, layer: -1 }), 'bad-input', 'layer -1 is out of range: 0..0.');
    await rejectsWith(engine.attribute({ traceId: t.traceId, pos: 0, tokenId: 50257 }), 'bad-input', 'tokenId 50257 is out of range: 0..50256.');
  });

  it('forgets the oldest traces beyond maxTraces', async () => {
    const a = await engine.trace({ text: 'first' });
    const b = await engine.trace({ text: 'second' });
    await engine.lens({ traceId: a.traceId }); // a is now the most recently used
    const c = await engine.trace({ text: 'third' });
    assert.deepEqual(engine.storedTraceIds(), [a.traceId, c.traceId]);
    await rejectsWith(engine.lens({ traceId: b.traceId }), 'unknown-trace', `Trace ${b.traceId} is no longer stored; trace the text again.`);
    const lens = await engine.lens({ traceId: a.traceId, k: 3 });
    assert.equal(lens.top.k, 3);
  });

  it('keeps the previous model when a checkpoint is broken', async () => {
    const missing = path.join(root, 'missing');
    await rejectsWith(engine.load({ folder: missing, name: 'x' }), 'bad-checkpoint', new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const truncated = path.join(root, 'truncated');
    writeRandomCheckpoint(truncated, { ...CONFIG, seed: 2 });
    const file = path.join(truncated, 'model.safetensors');
    fs.truncateSync(file, fs.statSync(file).size - 100);
    await rejectsWith(engine.load({ folder: truncated, name: 'x' }), 'bad-checkpoint', /model\.safetensors: /);
    const huge = path.join(root, 'huge-ctx');
    writeRandomCheckpoint(huge, { ...CONFIG, nCtx: 5000, seed: 4 });
    await rejectsWith(engine.load({ folder: huge, name: 'x' }), 'bad-checkpoint', `${path.join(huge, 'config.json')}: n_ctx 5000 is larger than the 4096 positions Residual Lens supports`);
    assert.equal(engine.info?.name, 'tiny');
    const t = await engine.trace({ text: 'still works' });
    assert.equal(t.model.name, 'tiny');
  });

  it('switches models and forgets the old model\'s traces', async () => {
    const before = await engine.trace({ text: 'old model' });
    writeRandomCheckpoint(path.join(root, 'b'), { ...CONFIG, nLayer: 2, seed: 3 });
    const info = await engine.load({ folder: path.join(root, 'b'), name: 'two-layer' });
    assert.equal(info.config.nLayer, 2);
    await rejectsWith(engine.lens({ traceId: before.traceId }), 'unknown-trace', /no longer stored/);
    const t = await engine.trace({ text: 'new model' });
    assert.equal(t.resid.length, 3 * t.tokens.length * 8);
  });
});
