/**
 * Reliability through the real worker (EngineClient): hostile text as the extension host sends
 * it, newest trace wins, switching models mid-trace, closing the panel mid-trace, hovers served
 * from the stored trace (engine calls counted: one attributeAll per trace), a load cancelled while
 * the worker finishes it, dispose ending the worker thread; and where the engine writes (only under the cacheDir given).
 * After each case the engine is asserted to still answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { EngineClient } from '../../src/engine/client';
import { Engine } from '../../src/engine/engine';
import { EOT_ID } from '../../src/engine/tokenizer';
import type { TraceSummary } from '../../src/engine/types';
import { EngineError, type EngineMethod, type EngineMethods } from '../../src/protocol/engine';
import { TraceFollowUps } from '../../src/ui/followUps';
import { countedProblem, countRequest, emptyTextProblem } from '../../src/ui/traceText';
import { TraceSequencer } from '../../src/ui/traceSequencer';
import { writeWorkerBootstrap } from '../helpers/extensionHost';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };

async function rejectsCancelled(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof EngineError && err.code === 'cancelled');
}

/** Files under `root`, relative, sorted. */
function listFiles(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(root, f)).isFile()).sort();
}

describe('reliability through the worker', () => {
  let root: string;
  let workerPath: string;
  let modelA: { folder: string; name: string; cacheDir: string };
  let modelB: { folder: string; name: string; cacheDir: string };
  let client: EngineClient;
  const calls: EngineMethod[] = [];
  /** client.request, counted (what EngineSession.request does in the extension). */
  const request = <M extends EngineMethod>(method: M, params: EngineMethods[M]['params'], signal?: AbortSignal): Promise<EngineMethods[M]['result']> => {
    calls.push(method);
    return client.request(method, params, { signal });
  };

  before(async () => {
    root = makeTempFolder('rl-reliability');
    workerPath = path.join(root, 'worker-bootstrap.cjs');
    writeWorkerBootstrap(workerPath);
    const cacheDir = path.join(root, 'cache');
    modelA = { folder: path.join(root, 'a'), name: 'model-a', cacheDir };
    modelB = { folder: path.join(root, 'b'), name: 'model-b', cacheDir };
    writeRandomCheckpoint(modelA.folder, { ...CONFIG, seed: 11 }, { dtype: 'F16' });
    writeRandomCheckpoint(modelB.folder, { ...CONFIG, nLayer: 1, seed: 12 });
    client = new EngineClient({ workerPath });
    await client.request('load', modelA);
  });
  after(() => {
    client.dispose();
    removeTempFolder(root);
  });

  it('hostile text, sent as the host sends it: counted in the worker, refused or traced, never a crash', async () => {
    const nCtx = CONFIG.nCtx;
    // 1 MB: the host only scans for a visible character; the worker stops counting at n_ctx + 1.
    const huge = 'lorem ipsum '.repeat(90_000);
    assert.equal(emptyTextProblem(huge), undefined);
    const counted = await client.request('tokenize', countRequest(huge, true, nCtx));
    assert.equal(counted.exceeded, true);
    assert.equal(counted.tokens.length, nCtx + 1);
    assert.equal(countedProblem(counted, nCtx, 'model-a'), 'The selection has more than 32 tokens; model-a accepts at most 32 (BOS included). Select less text.');
    // The engine refuses it on its own too (if a caller skipped the count).
    await assert.rejects(client.request('trace', { text: huge }), { code: 'bad-input', message: 'The text has more than 32 tokens; model-a accepts at most 32 (BOS included). Select less text.' });

    // A single <|endoftext|>: plain text by default (no id 50256 after BOS), the special token when asked.
    const plain = await client.request('trace', { text: '<|endoftext|>' });
    assert.deepEqual(plain.tokens.slice(1).filter((t) => t.id === EOT_ID), []);
    assert.equal(plain.tokens.slice(1).map((t) => t.text).join(''), '<|endoftext|>');
    const special = await client.request('trace', { text: '<|endoftext|>', options: { allowSpecial: true } });
    assert.deepEqual(special.tokens.map((t) => t.id), [EOT_ID, EOT_ID]);

    // Lone surrogates, control characters, NUL, bidi override: traced, ranges cover the text.
    const hostile = '\uD800a\uDFFF\u0000\u0007\u001b[31m\u202E\r\n';
    const t = await client.request('trace', { text: hostile });
    assert.equal(t.tokens[t.tokens.length - 1].end, hostile.length);
    assert.ok(t.logitsTop.probs.every((p) => p >= 0 && p <= 1));
    // Whitespace only: the host refuses it before the engine; the engine itself would trace it.
    assert.ok(emptyTextProblem(' \n\t') !== undefined);
    await assert.rejects(client.request('trace', { text: '' }), { code: 'bad-input', message: 'Nothing to trace: the text is empty or only whitespace.' });

    const still = await client.request('trace', { text: 'still usable' });
    assert.equal(still.model.name, 'model-a');
  });

  it('newest trace wins: earlier traces are cancelled or dropped as stale, the newest is shown', async () => {
    const seq = new TraceSequencer();
    const shown: string[] = [];
    const runs = ['one', 'two', 'three', 'four', 'five'].map(async (text) => {
      const ticket = seq.begin();
      try {
        const trace = await request('trace', { text }, ticket.signal);
        if (!ticket.stale()) shown.push(trace.text);
      } catch (err) {
        assert.ok(err instanceof EngineError && err.code === 'cancelled', String(err));
        assert.equal(ticket.stale(), true);
      } finally {
        seq.finish(ticket);
      }
    });
    await Promise.all(runs);
    assert.deepEqual(shown, ['five']);
    const after = await client.request('trace', { text: 'after the storm' });
    assert.equal(after.model.name, 'model-a');
  });

  it('switching models during a trace: the old trace is cancelled, the new model traces, and back again', async () => {
    const seq = new TraceSequencer();
    const first = seq.begin();
    const oldTrace = request('trace', { text: 'traced with model a' }, first.signal);
    const second = seq.begin(); // the user switched models and traced again
    await rejectsCancelled(oldTrace);
    assert.equal(first.stale(), true);
    const info = await client.request('load', modelB, { signal: second.signal });
    assert.equal(info.name, 'model-b');
    const t = await request('trace', { text: 'traced with model b' }, second.signal);
    assert.equal(t.model.name, 'model-b');
    assert.equal(t.resid.length, 2 * t.tokens.length * CONFIG.dModel); // one layer: L + 1 = 2 rows
    await client.request('load', modelA);
    assert.equal((await client.request('trace', { text: 'back to a' })).model.name, 'model-a');
  });

  it('closing the panel mid-trace cancels it; the next trace and follow-ups work', async () => {
    const seq = new TraceSequencer();
    const ticket = seq.begin();
    const running = request('trace', { text: 'the panel closes while this runs' }, ticket.signal);
    assert.equal(seq.cancel(), true);
    await rejectsCancelled(running);
    const next = seq.begin();
    const t = await request('trace', { text: 'a new panel' }, next.signal);
    assert.equal(next.stale(), false);
    const lens = await client.request('lens', { traceId: t.traceId, k: 3 });
    assert.equal(lens.rows, CONFIG.nLayer + 1);
  });

  it('many hovers: served from the stored trace, one lens and one attributeAll per trace, then no engine call', async () => {
    const trace: TraceSummary = await client.request('traceSummary', { text: 'hover over every token of this text' });
    const followUps = new TraceFollowUps(trace.traceId, {
      lens: (traceId, k) => request('lens', { traceId, k }),
      attributeAll: (traceId) => request('attributeAll', { traceId }),
      attribute: (traceId, pos, tokenId) => request('attribute', { traceId, pos, tokenId }),
    });
    const T = trace.tokens.length;
    calls.length = 0;
    for (let i = 0; i < 300; i++) {
      const pos = i % T;
      const [attribution, lens] = await Promise.all([followUps.attribution(pos), followUps.lens(10)]);
      assert.equal(attribution.pos, pos);
      assert.equal(attribution.tokenId, trace.logitsTop.ids[pos * trace.logitsTop.k]);
      assert.equal(lens.positions, T);
    }
    assert.deepEqual(calls, ['attributeAll', 'lens']);
    calls.length = 0;
    for (let i = 0; i < 300; i++) await followUps.attribution(i % T);
    assert.deepEqual(calls, [], 'hovers make no engine call once the follow-ups are in');
    // A token picked from the top-k other than the top-1 is one `attribute` request.
    await followUps.attribution(2, trace.logitsTop.ids[2 * trace.logitsTop.k + 1]);
    assert.deepEqual(calls, ['attribute']);
  });

  it('dispose during a load or a trace: the worker finishes its native call and exits on its own, never terminated mid-call', async () => {
    // Terminating a worker inside onnxruntime's session create or run aborts the whole process
    // (measured: "terminate called after throwing an instance of 'Napi::Error'").
    const terminated: Worker[] = [];
    const terminate = Worker.prototype.terminate;
    Worker.prototype.terminate = function (this: Worker) {
      terminated.push(this);
      return terminate.call(this);
    };
    try {
      for (const stage of ['creating session', 'building graph', 'trace'] as const) {
        const own = new EngineClient({ workerPath });
        let pending: Promise<unknown>;
        if (stage === 'trace') {
          await own.request('load', modelA);
          pending = own.request('trace', { text: 'interrupted by deactivation '.repeat(3) });
        } else {
          // Dispose when the load reaches this stage (a fresh model name forces a real load).
          pending = own.request('load', modelB, { onProgress: (s) => s === stage && own.dispose() });
        }
        if (stage === 'trace') own.dispose();
        await rejectsCancelled(pending);
        assert.equal(own.running, false);
        await own.close(); // resolves once the thread has exited
        await assert.rejects(own.request('tokenize', { text: 'x' }), { code: 'cancelled', message: 'The engine was closed.' });
      }
      assert.deepEqual(terminated, [], 'no worker was terminated');
    } finally {
      Worker.prototype.terminate = terminate;
    }
    // The shared client is unaffected.
    assert.equal((await client.request('trace', { text: 'still here' })).model.name, 'model-a');
  });
});

describe('a load cancelled while the worker finishes it', () => {
  let root: string;
  before(() => {
    root = makeTempFolder('rl-cancelled-load');
  });
  after(() => removeTempFolder(root));

  it('the client no longer claims the previous model, so the next trace reloads it', async () => {
    // A worker that finishes every load even when cancelled (the window between the engine's last
    // cancellation point and its reply), and names the model it holds in each trace.
    const fake = path.join(root, 'fake-worker.cjs');
    fs.writeFileSync(
      fake,
      `const { parentPort } = require('node:worker_threads');
let model;
parentPort.on('message', (m) => {
  if (m.kind !== 'request') return;
  const reply = (result) => parentPort.postMessage({ v: m.v, kind: 'response', id: m.id, ok: true, result });
  if (m.method === 'load') setTimeout(() => { model = m.params.name; reply({ name: m.params.name, folder: m.params.folder }); }, 20);
  else reply({ model: { name: model } });
});
`,
    );
    const client = new EngineClient({ workerPath: fake });
    try {
      const a = { folder: '/models/a', name: 'a' };
      const b = { folder: '/models/b', name: 'b' };
      await client.request('load', a);
      assert.deepEqual(client.loaded, a);
      const abort = new AbortController();
      const switching = client.request('load', b, { signal: abort.signal });
      abort.abort();
      await rejectsCancelled(switching);
      // EngineSession skips the load only when client.loaded is the chosen folder: not any more.
      assert.equal(client.loaded, undefined);
      await new Promise((resolve) => setTimeout(resolve, 40));
      const unsafe = (await client.request('trace', { text: 'x' })) as unknown as { model: { name: string } };
      assert.equal(unsafe.model.name, 'b', 'the worker did switch despite the cancel');
      await client.request('load', a);
      const t = (await client.request('trace', { text: 'x' })) as unknown as { model: { name: string } };
      assert.equal(t.model.name, 'a');
      assert.deepEqual(client.loaded, a);
    } finally {
      client.dispose();
    }
  });
});

describe('where the engine writes', () => {
  let root: string;
  const savedHome = process.env.HOME;
  const savedCache = process.env.RESIDUAL_LENS_CACHE;
  before(() => {
    root = makeTempFolder('rl-writes');
  });
  after(() => {
    process.env.HOME = savedHome;
    if (savedCache === undefined) delete process.env.RESIDUAL_LENS_CACHE;
    else process.env.RESIDUAL_LENS_CACHE = savedCache;
    removeTempFolder(root);
  });

  it('F16 weights cache and circuits cache go under the cacheDir given; the model folder and home are untouched', async () => {
    const home = path.join(root, 'home');
    fs.mkdirSync(home);
    process.env.HOME = home;
    delete process.env.RESIDUAL_LENS_CACHE;
    const f16 = path.join(root, 'f16');
    const f32 = path.join(root, 'f32');
    writeRandomCheckpoint(f16, { nLayer: 1, nHead: 2, dModel: 8, nCtx: 16, dVocab: 50257, seed: 21 }, { dtype: 'F16' });
    writeRandomCheckpoint(f32, { nLayer: 1, nHead: 2, dModel: 8, nCtx: 16, dVocab: 50257, seed: 22 });
    const before = { f16: listFiles(f16), f32: listFiles(f32) };
    const cacheDir = path.join(root, 'storage', 'cache');
    const engine = new Engine();
    try {
      const info = await engine.load({ folder: f16, name: 'f16', cacheDir });
      await engine.trace({ text: 'write nothing else' });
      await engine.circuits({ seed: 1, tokenSample: 8 });
      await engine.load({ folder: f32, name: 'f32', cacheDir });
      await engine.trace({ text: 'in place' });
      assert.deepEqual(listFiles(f16), before.f16);
      assert.deepEqual(listFiles(f32), before.f32);
      assert.deepEqual(listFiles(home), []);
      const cached = listFiles(cacheDir);
      assert.ok(cached.includes(`${info.fingerprint}.f32`), cached.join(', '));
      // Besides: the F32 model's empty finite-scan marker (its weights are used in place).
      assert.ok(cached.every((f) => f === `${info.fingerprint}.f32` || /^[0-9a-f]{32}\.finite$/.test(f) || /^circuits[\\/][0-9a-f]{32}\.(json|bin)$/.test(f)), cached.join(', '));
      assert.equal(cached.filter((f) => f.endsWith('.finite')).length, 1);
      assert.equal(cached.filter((f) => f.startsWith('circuits')).length, 2);
      assert.deepEqual(fs.readdirSync(root).sort(), ['f16', 'f32', 'home', 'storage']);
    } finally {
      await engine.dispose();
    }
  });
});
