/**
 * Prefix reuse (src/engine/prefixReuse.ts): a trace that shares a token prefix with the newest
 * stored trace computes only the new positions and splices the stored rows in front. Every array
 * of such a trace must equal a full trace of the same text by an engine that never reuses
 * (reusePrefix: false): asserted BITWISE (it holds because at least two rows are always computed,
 * so ORT's MatMuls take the same path as in the full forward; the brief's tolerance was 1e-5).
 * The reused traces are also checked against the pure-TS reference forward (1e-4, as engine.test.ts),
 * through the worker (summaries: the live lens path), and on WebGPU when an adapter exists (1e-4
 * against the CPU). Random checkpoints and the demo model.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { EngineClient } from '../../src/engine/client';
import { Engine } from '../../src/engine/engine';
import { EngineError } from '../../src/protocol/engine';
import { FORWARD_OUTPUTS, type ForwardArray } from '../../src/engine/graph';
import { webGpuSkipReason } from '../helpers/webGpuSkip';
import { MIN_COMPUTED_ROWS } from '../../src/engine/prefixReuse';
import { tokenize } from '../../src/engine/tokenizer';
import type { ModelWeights, Trace, TraceOptions, TraceSummary } from '../../src/engine/types';
import { ensureDemoModel, DEMO_FOLDER } from '../../scripts/build-demo-model';
import { writeWorkerBootstrap } from '../helpers/extensionHost';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { referenceForward } from '../helpers/referenceForward';
import { assertClose } from '../helpers/assertClose';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 64, dVocab: 50257 };
const A = 'The cat sat on the mat.';
const FORWARD_ARRAYS = Object.keys(FORWARD_OUTPUTS) as ForwardArray[];

/** B after A: each must reuse (expected P > 0) except where stated. */
const EDITS: { name: string; text: string }[] = [
  { name: 'text appended', text: `${A} It was happy.` },
  { name: 'one character typed at the end', text: `${A}.` },
  { name: 'an edit in the middle', text: 'The cat sat under the mat.' },
  { name: 'text deleted at the end', text: 'The cat sat on' },
  { name: 'identical text', text: A },
  { name: 'a different first token (only BOS shared)', text: 'A dog ran home.' },
];

function assertBitwise(actual: ArrayLike<number> | undefined, expected: ArrayLike<number> | undefined, what: string): void {
  assert.ok(actual && expected, `${what}: missing`);
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}]: ${actual[i]} vs full trace ${expected[i]}`);
  }
}

function assertSameTrace(actual: Trace, expected: Trace, what: string): void {
  assert.deepEqual(actual.tokens, expected.tokens, `${what}: tokens`);
  for (const key of FORWARD_ARRAYS) assertBitwise(actual[key], expected[key], `${what}: ${key}`);
  if (expected.mlpPost) assertBitwise(actual.mlpPost, expected.mlpPost, `${what}: mlpPost`);
  assertBitwise(actual.lnFinalScale, expected.lnFinalScale, `${what}: lnFinalScale`);
  assert.equal(actual.logitsTop.k, expected.logitsTop.k);
  assertBitwise(actual.logitsTop.ids, expected.logitsTop.ids, `${what}: top ids`);
  assertBitwise(actual.logitsTop.logits, expected.logitsTop.logits, `${what}: top logits`);
  assertBitwise(actual.logitsTop.probs, expected.logitsTop.probs, `${what}: top probs`);
}

/** The P the engine should reuse: the common id prefix, leaving MIN_COMPUTED_ROWS rows to compute. */
function expectedP(before: string, after: string, options: TraceOptions = {}): number {
  const a = tokenize(before, options).tokens.map((t) => t.id);
  const b = tokenize(after, options).tokens.map((t) => t.id);
  let p = 0;
  while (p < Math.min(a.length, b.length - MIN_COMPUTED_ROWS) && a[p] === b[p]) p++;
  return p;
}


describe('prefix reuse on a random checkpoint', () => {
  let root: string;
  let weights: ModelWeights;
  let engine: Engine;
  let full: Engine;
  const load = async (e: Engine, folder = 'model'): Promise<void> => {
    await e.load({ folder: path.join(root, folder), name: folder, cacheDir: path.join(root, 'cache') });
  };

  before(async () => {
    root = makeTempFolder('rl-prefix');
    weights = writeRandomCheckpoint(path.join(root, 'model'), { ...CONFIG, seed: 31 });
    writeRandomCheckpoint(path.join(root, 'other'), { ...CONFIG, seed: 32 });
    engine = new Engine({ reuseMinShared: 1 });
    full = new Engine({ reusePrefix: false });
    await load(engine);
    await load(full);
  });
  after(async () => {
    await engine.dispose();
    await full.dispose();
    removeTempFolder(root);
  });

  for (const edit of EDITS) {
    it(`equals a full trace bitwise: ${edit.name}`, async () => {
      const options: TraceOptions = { topK: 5, withMlpPost: true };
      await engine.trace({ text: A, options });
      const reused = await engine.trace({ text: edit.text, options });
      const P = expectedP(A, edit.text);
      assert.ok(P > 0, 'the case shares a prefix');
      assert.equal(engine.reusedPositions, P);
      assert.equal(full.reusedPositions, 0);
      assertSameTrace(reused, await full.trace({ text: edit.text, options }), edit.name);
    });
  }

  it('a reused trace matches the pure-TS reference forward (1e-4)', async () => {
    await engine.trace({ text: A });
    const text = `${A} The dog barked.`;
    const t = await engine.trace({ text });
    assert.ok(engine.reusedPositions > 0);
    const ref = referenceForward(weights, t.tokens.map((x) => x.id));
    assertClose(t.resid, ref.resid, 'resid');
    assertClose(t.pattern, ref.pattern, 'pattern');
    assertClose(t.z, ref.z, 'z');
    assertClose(t.mlpOut, ref.mlpOut, 'mlpOut');
    assertClose(t.ln1Scale, ref.ln1Scale, 'ln1Scale');
  });

  it('reuses the forward but runs the whole head when top-k changes', async () => {
    await engine.trace({ text: A, options: { topK: 10 } });
    const text = `${A} Then it slept.`;
    const reused = await engine.trace({ text, options: { topK: 3 } });
    assert.equal(engine.reusedPositions, expectedP(A, text));
    assertSameTrace(reused, await full.trace({ text, options: { topK: 3 } }), 'topK 10 → 3');
  });

  it('reuses between summaries (the live lens): summary and stored patterns equal a full one', async () => {
    await engine.traceSummary({ text: A });
    const text = `${A} And`;
    const reused = await engine.traceSummary({ text });
    assert.equal(engine.reusedPositions, expectedP(A, text));
    const expected = await full.traceSummary({ text });
    const same = (a: TraceSummary, b: TraceSummary): void => {
      for (const key of ['residNorms', 'attnOutNorms', 'mlpOutNorms'] as const) assertBitwise(a[key], b[key], key);
      assertBitwise(a.logitsTop.ids, b.logitsTop.ids, 'top ids');
      assertBitwise(a.logitsTop.probs, b.logitsTop.probs, 'top probs');
    };
    same(reused, expected);
    const thumbs = (e: Engine, id: number): Float32Array => e.patternThumbs({ traceId: id, maxSize: 64 }).values;
    assertBitwise(thumbs(engine, reused.traceId), thumbs(full, expected.traceId), 'patterns');
  });

  it('never reuses across prependBos settings (the first id differs)', async () => {
    await engine.trace({ text: A });
    const noBos = await engine.trace({ text: A, options: { prependBos: false } });
    assert.equal(engine.reusedPositions, 0);
    assertSameTrace(noBos, await full.trace({ text: A, options: { prependBos: false } }), 'without BOS');
    const withBos = await engine.trace({ text: `${A} Yes`, options: { prependBos: true } });
    assert.equal(engine.reusedPositions, 0);
    assertSameTrace(withBos, await full.trace({ text: `${A} Yes` }), 'with BOS again');
  });

  it('never reuses a trace of another model', async () => {
    const e = new Engine({ reuseMinShared: 1 });
    const other = new Engine({ reusePrefix: false });
    try {
      await load(e);
      await e.trace({ text: A });
      await load(e, 'other');
      await load(other, 'other');
      const text = `${A} More.`;
      const t = await e.trace({ text });
      assert.equal(e.reusedPositions, 0);
      assertSameTrace(t, await other.trace({ text }), 'after loading another model');
      await e.trace({ text: `${text} Again.` });
      assert.ok(e.reusedPositions > 0, 'the new model reuses its own traces');
    } finally {
      await e.dispose();
      await other.dispose();
    }
  });

  it('never reuses what the byte budget would not keep, nor arrays transferred away', async () => {
    const tight = new Engine({ maxTraceBytes: 1, reuseMinShared: 1 });
    try {
      await load(tight);
      await tight.trace({ text: A });
      const t = await tight.trace({ text: `${A} Sure.` });
      assert.equal(tight.reusedPositions, 0);
      assertSameTrace(t, await full.trace({ text: `${A} Sure.` }), 'over budget');
    } finally {
      await tight.dispose();
    }
    // A worker transfers a trace's arrays that the store does not keep: they are empty afterwards.
    const a = await engine.trace({ text: A });
    structuredClone(a.residMid, { transfer: [a.residMid.buffer as ArrayBuffer] });
    const text = `${A} Fine.`;
    const t = await engine.trace({ text });
    assert.equal(engine.reusedPositions, 0);
    assertSameTrace(t, await full.trace({ text }), 'after a transfer');
    // Only the head's logits gone: the forward is reused, the head runs in full.
    structuredClone(t.logitsTop.logits, { transfer: [t.logitsTop.logits.buffer as ArrayBuffer] });
    const next = `${text} Good.`;
    const u = await engine.trace({ text: next });
    assert.equal(engine.reusedPositions, expectedP(text, next));
    assertSameTrace(u, await full.trace({ text: next }), 'head transferred');
  });

  it('reuses the newest stored trace only, and after other traces still equals a full trace', async () => {
    await engine.trace({ text: A });
    await engine.trace({ text: 'Something else entirely.' });
    const text = `${A} Then.`;
    const t = await engine.trace({ text });
    assert.equal(engine.reusedPositions, expectedP('Something else entirely.', text));
    assertSameTrace(t, await full.trace({ text }), 'after another trace');
  });

  it('a forgotten trace (forgetTrace) is no longer stored, keeps the traces before it, and still serves prefix reuse', async () => {
    const kept = await engine.traceSummary({ text: 'A trace the user saw.' });
    const dropped = await engine.traceSummary({ text: A });
    assert.equal(engine.forgetTrace({ traceId: dropped.traceId }), null);
    assert.throws(() => engine.patternView({ traceId: dropped.traceId, layer: 0, maxSize: 64 }), (e: unknown) => e instanceof EngineError && e.code === 'unknown-trace');
    assert.doesNotThrow(() => engine.patternView({ traceId: kept.traceId, layer: 0, maxSize: 64 }), 'the trace before it stays');
    assert.equal(engine.forgetTrace({ traceId: dropped.traceId }), null, 'forgetting twice (or an unknown id) is a no-op');
    const text = `${A} And`;
    const reused = await engine.traceSummary({ text });
    assert.equal(engine.reusedPositions, expectedP(A, text), 'the forgotten newest trace still serves prefix reuse');
    const expected = await full.traceSummary({ text });
    assertBitwise(reused.residNorms, expected.residNorms, 'residNorms');
    assertBitwise(reused.logitsTop.probs, expected.logitsTop.probs, 'top probs');
    // Forgetting a trace that is not the reuse source leaves reuse to the newest.
    engine.forgetTrace({ traceId: kept.traceId });
    await engine.traceSummary({ text: `${text} Yes` });
    assert.equal(engine.reusedPositions, expectedP(text, `${text} Yes`));
  });
});

describe('prefix reuse on the demo model', () => {
  let engine: Engine;
  let full: Engine;
  let root: string;
  before(async () => {
    ensureDemoModel();
    root = makeTempFolder('rl-prefix-demo');
    engine = new Engine({ reuseMinShared: 1 });
    full = new Engine({ reusePrefix: false });
    for (const e of [engine, full]) await e.load({ folder: DEMO_FOLDER, name: 'demo', cacheDir: root });
  });
  after(async () => {
    await engine.dispose();
    await full.dispose();
    removeTempFolder(root);
  });

  it('typing at the end, an edit and a deletion equal full traces bitwise', async () => {
    const first = 'When Mary and John went to the store, John gave a drink to';
    let before = first;
    for (const text of [`${first} Mary`, `${first} Mary.`, 'When Mary and Anna went to the store, John gave a drink to', 'When Mary and Anna went']) {
      await engine.trace({ text: before });
      const t = await engine.trace({ text });
      assert.equal(engine.reusedPositions, expectedP(before, text));
      assert.ok(engine.reusedPositions > 0);
      assertSameTrace(t, await full.trace({ text }), JSON.stringify(text));
      before = text;
    }
  });
});

describe('prefix reuse behind the worker (the live lens path)', () => {
  let root: string;
  let client: EngineClient;
  let full: Engine;
  before(async () => {
    root = makeTempFolder('rl-prefix-worker');
    // Workers cannot start from a .ts file; a CommonJS bootstrap registers tsx, then loads the source.
    const bootstrap = path.join(root, 'worker-bootstrap.cjs');
    writeWorkerBootstrap(bootstrap);
    writeRandomCheckpoint(path.join(root, 'model'), { ...CONFIG, seed: 33 });
    client = new EngineClient({ workerPath: bootstrap, log: () => undefined });
    full = new Engine({ reusePrefix: false });
    await client.request('load', loadParams(root));
    await full.load(loadParams(root));
  });
  after(async () => {
    client.dispose();
    await full.dispose();
    removeTempFolder(root);
  });

  it('summaries, their patterns and traces after summaries or traces equal full ones', async () => {
    let before = A;
    await client.request('traceSummary', { text: before });
    for (const text of [`${A} Then`, `${A} Then it`, 'The cat sat on a hat.']) {
      const reused = await client.request('traceSummary', { text });
      const expected = await full.traceSummary({ text });
      for (const key of ['residNorms', 'attnOutNorms', 'mlpOutNorms'] as const) assertBitwise(reused[key], expected[key], `${text}: ${key}`);
      assertBitwise(reused.logitsTop.logits, expected.logitsTop.logits, `${text}: top logits`);
      const thumbs = await client.request('patternThumbs', { traceId: reused.traceId, maxSize: 64 });
      assertBitwise(thumbs.values, full.patternThumbs({ traceId: expected.traceId, maxSize: 64 }).values, `${text}: patterns`);
      before = text;
    }
    // A trace returned through the worker transfers its arrays; the next one must still be right.
    for (const text of [`${before} Yes`, `${before} Yes no`]) {
      const t = await client.request('trace', { text, options: { topK: 5 } });
      assertSameTrace(t, await full.trace({ text, options: { topK: 5 } }), `worker trace ${text}`);
    }
  });
});

function loadParams(root: string): { folder: string; name: string; cacheDir: string } {
  return { folder: path.join(root, 'model'), name: 'model', cacheDir: path.join(root, 'cache') };
}

describe('prefix reuse on WebGPU (skips without an adapter; CI: lavapipe)', () => {
  it('reused traces match the CPU full traces (1e-4 relative; same top-1)', async (t) => {
    const skip = await webGpuSkipReason();
    if (skip) return t.skip(skip);
    const root = makeTempFolder('rl-prefix-webgpu');
    const gpu = new Engine({ threads: 1, executionProvider: 'webgpu', reuseMinShared: 1 });
    const cpu = new Engine({ threads: 1, reusePrefix: false });
    try {
      writeRandomCheckpoint(path.join(root, 'model'), { ...CONFIG, seed: 34 });
      assert.equal((await gpu.load(loadParams(root))).executionProvider, 'webgpu');
      await cpu.load(loadParams(root));
      for (const edit of EDITS) {
        await gpu.trace({ text: A });
        const reused = await gpu.trace({ text: edit.text });
        assert.equal(gpu.reusedPositions, expectedP(A, edit.text));
        const expected = await cpu.trace({ text: edit.text });
        for (const key of [...FORWARD_ARRAYS, 'lnFinalScale'] as const) assertClose(reused[key], expected[key], `${edit.name}: ${key}`);
        const k = expected.logitsTop.k;
        for (let pos = 0; pos < expected.tokens.length; pos++) assert.equal(reused.logitsTop.ids[pos * k], expected.logitsTop.ids[pos * k], `${edit.name}: top-1 at ${pos}`);
      }
    } finally {
      await gpu.dispose();
      await cpu.dispose();
      removeTempFolder(root);
    }
  });
});
