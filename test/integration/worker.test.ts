/**
 * The engine behind EngineClient in a worker thread: results equal the in-process engine's,
 * load progress, cancel (queued and in flight), crash and out-of-memory recovery (fault injected
 * through RESIDUAL_LENS_WORKER_FAULT, read by the worker at start), and bad-input messages.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CRASHED_MESSAGE, EngineClient } from '../../src/engine/client';
import { Engine } from '../../src/engine/engine';
import { buildTraceJson } from '../../src/engine/traceExport';
import type { TraceJson } from '../../src/cli/traceJson';
import type { TraceForwardSummary } from '../../src/engine/types';
import { ENGINE_PROTOCOL_VERSION, EngineError } from '../../src/protocol/engine';
import { poolHeadPatterns } from '../../src/analysis/patternPool';
import { contributionNorms, residualNorms } from '../../src/analysis/residual';
import { writeWorkerBootstrap } from '../helpers/extensionHost';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };

async function rejectsWithCode(p: Promise<unknown>, code: EngineError['code'], message?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof EngineError, `expected EngineError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message !== undefined) assert.equal(err.message, message);
    return true;
  });
}

describe('engine worker through EngineClient', () => {
  let root: string;
  let folder: string;
  let client: EngineClient;
  let engine: Engine;
  let WORKER: string;
  const log: string[] = [];

  before(async () => {
    root = makeTempFolder('rl-worker');
    // Workers cannot start from a .ts file; a CommonJS bootstrap registers tsx, then loads the source.
    WORKER = path.join(root, 'worker-bootstrap.cjs');
    writeWorkerBootstrap(WORKER);
    folder = path.join(root, 'model');
    writeRandomCheckpoint(folder, { ...CONFIG, seed: 5 }, { dtype: 'F16' });
    client = new EngineClient({ workerPath: WORKER, log: (line) => log.push(line) });
    engine = new Engine();
    await engine.load({ folder, name: 'tiny', cacheDir: path.join(root, 'cache') });
  });
  after(async () => {
    client.dispose();
    await engine.dispose();
    delete process.env.RESIDUAL_LENS_WORKER_FAULT;
    removeTempFolder(root);
  });

  it('loads with progress stages', async () => {
    const stages: string[] = [];
    const info = await client.request('load', { folder, name: 'tiny', cacheDir: path.join(root, 'cache') }, { onProgress: (s) => stages.push(s) });
    assert.deepEqual(stages, ['reading checkpoint', 'building graph', 'creating session']);
    assert.equal(info.name, 'tiny');
    assert.equal(info.dtype, 'F16');
    assert.deepEqual(client.loaded, { folder, name: 'tiny', cacheDir: path.join(root, 'cache') });
  });

  it('returns exactly what the in-process engine returns (trace, lens, attribution, head results, distribution)', async () => {
    const text = 'Results cross the thread boundary as transferred arrays.';
    const remote = await client.request('trace', { text, options: { topK: 3, withMlpPost: true } });
    const local = await engine.trace({ text, options: { topK: 3, withMlpPost: true } });
    for (const key of ['embed', 'posEmbed', 'resid', 'residMid', 'ln1Scale', 'ln2Scale', 'pattern', 'z', 'attnOut', 'mlpOut', 'mlpPost', 'lnFinalScale'] as const) {
      const r = remote[key];
      assert.ok(r instanceof Float32Array, `${key} is a Float32Array`);
      assert.deepEqual(r, local[key], key);
    }
    assert.deepEqual(remote.logitsTop, local.logitsTop);
    assert.deepEqual(remote.tokens, local.tokens);
    const [rl, ll] = [await client.request('lens', { traceId: remote.traceId, k: 4 }), await engine.lens({ traceId: local.traceId, k: 4 })];
    assert.deepEqual(rl.top, ll.top);
    assert.deepEqual(rl.nextTokenRank, ll.nextTokenRank);
    const [ra, la] = [await client.request('attribute', { traceId: remote.traceId, pos: 3 }), await engine.attribute({ traceId: local.traceId, pos: 3 })];
    assert.deepEqual(ra.values, la.values);
    assert.equal(ra.logit, la.logit);
    const [rt, lt] = [await client.request('attributeAll', { traceId: remote.traceId }), await engine.attributeAll({ traceId: local.traceId })];
    assert.ok(rt.values instanceof Float32Array && rt.tokenIds instanceof Int32Array && rt.logit instanceof Float64Array);
    assert.deepEqual(rt, { ...lt, traceId: remote.traceId });
    assert.deepEqual(await client.request('headResults', { traceId: remote.traceId, layer: 1 }), await engine.headResults({ traceId: local.traceId, layer: 1 }));
    assert.deepEqual(
      await client.request('lensDistribution', { traceId: remote.traceId, layer: 0, pos: 2 }),
      await engine.lensDistribution({ traceId: local.traceId, layer: 0, pos: 2 }),
    );
    const tok = await client.request('tokenize', { text: 'a<|endoftext|>', options: { allowSpecial: true } });
    assert.deepEqual(tok.tokens.map((t) => t.id), [50256, 64, 50256]);
  });

  it('traceJson: the bytes of the CLI\'s trace --json, equal to the in-process build but for the timing', async () => {
    const text = 'Saved from the panel, as the CLI prints it.';
    const bytes = await client.request('traceJson', { text, options: { prependBos: true, topK: 3 } });
    assert.ok(bytes instanceof Uint8Array);
    const remote = JSON.parse(new TextDecoder().decode(bytes)) as TraceJson;
    const local = await buildTraceJson(engine, { text, options: { prependBos: true, topK: 3 } });
    assert.deepEqual({ ...remote, forward_ms: 0 }, JSON.parse(JSON.stringify({ ...local, forward_ms: 0 })));
    assert.equal(remote.schema, 1);
    assert.equal(remote.k, 3);
  });

  it('traceSummary: the norms of the full trace, stored for follow-ups; patternView / patternThumbs pool the stored patterns', async () => {
    const text = 'The host keeps only the summary; the worker keeps the tensors.';
    const summary = await client.request('traceSummary', { text, options: { topK: 3 } });
    const full = await engine.trace({ text, options: { topK: 3 } });
    const { nLayer: L, nHead: H, dModel: D } = full.model.config;
    const T = full.tokens.length;
    assert.ok(T > 8, `T = ${T}`);
    assert.deepEqual(Object.keys(summary).sort(), ['attnOutNorms', 'forwardMs', 'logitsTop', 'mlpOutNorms', 'model', 'residNorms', 'schema', 'text', 'tokens', 'traceId']);
    assert.deepEqual(summary.tokens, full.tokens);
    assert.deepEqual(summary.logitsTop, full.logitsTop);
    // Same forward, same functions: exact.
    assert.deepEqual(summary.residNorms, residualNorms(full.resid, L + 1, T, D));
    const writes = contributionNorms(full.attnOut, full.mlpOut, L, T, D);
    assert.deepEqual(summary.attnOutNorms, writes.attention);
    assert.deepEqual(summary.mlpOutNorms, writes.mlp);
    // And against plain loops (1e-6 relative): ‖resid[L, T−1, :]‖.
    let s = 0;
    for (let i = 0; i < D; i++) s += full.resid[(L * T + T - 1) * D + i] ** 2;
    assert.ok(Math.abs(summary.residNorms[L * T + T - 1] - Math.sqrt(s)) <= 1e-6 * Math.sqrt(s));
    // Follow-ups name the summary's trace like a full trace's.
    assert.equal((await client.request('lens', { traceId: summary.traceId, k: 2 })).positions, T);

    // The forward part comes first, as a progress payload, before the unembedding: the same
    // trace id, tokens and norms as the summary, no predictions.
    // Sent only to a caller that listens (a live trace or a patching run does not): watched on the
    // messages the worker posts, the same request without and with a listener.
    const payloadsPosted: string[] = [];
    const originalEmit = Worker.prototype.emit;
    Worker.prototype.emit = function (this: Worker, event: string | symbol, ...args: unknown[]): boolean {
      const m = args[0] as { kind?: string; payload?: { kind?: string } } | undefined;
      if (event === 'message' && m?.kind === 'progress' && m.payload) payloadsPosted.push(String(m.payload.kind));
      return originalEmit.call(this, event, ...args);
    } as typeof originalEmit;
    try {
      await client.request('traceSummary', { text, options: { topK: 3 } });
      assert.deepEqual(payloadsPosted, [], 'no listener: no payload');
      await client.request('traceSummary', { text, options: { topK: 3 } }, { onPayload: () => undefined });
      assert.deepEqual(payloadsPosted, ['trace-forward']);
    } finally {
      Worker.prototype.emit = originalEmit;
    }
    const order: string[] = [];
    const forwards: TraceForwardSummary[] = [];
    const streamed = await client.request('traceSummary', { text, options: { topK: 3 } }, { onPayload: (p) => p.kind === 'trace-forward' && (order.push('forward'), forwards.push(p.forward)) });
    order.push('result');
    assert.deepEqual(order, ['forward', 'result']);
    const [forward] = forwards;
    assert.ok(forward);
    assert.deepEqual(Object.keys(forward).sort(), ['attnOutNorms', 'mlpOutNorms', 'model', 'residNorms', 'schema', 'text', 'tokens', 'traceId']);
    assert.equal(forward.traceId, streamed.traceId);
    assert.deepEqual(forward.tokens, streamed.tokens);
    for (const key of ['residNorms', 'attnOutNorms', 'mlpOutNorms'] as const) {
      assert.deepEqual(forward[key], streamed[key], key);
      assert.deepEqual(streamed[key], summary[key], `${key}: the summary's arrays are whole after the payload was sent`);
    }

    /** Reference max-pool: every source cell goes to the block whose [⌊iT/S⌋, ⌊(i+1)T/S⌋) holds it. */
    const block = (r: number, S: number): number => {
      for (let i = 0; i < S; i++) if (r >= Math.floor((i * T) / S) && r < Math.floor(((i + 1) * T) / S)) return i;
      throw new Error(`row ${r} in no block`);
    };
    const referencePool = (firstHead: number, heads: number, S: number): Float32Array => {
      const out = new Float32Array(heads * S * S).fill(-Infinity);
      for (let h = 0; h < heads; h++) {
        for (let r = 0; r < T; r++) {
          for (let c = 0; c < T; c++) {
            const cell = h * S * S + block(r, S) * S + block(c, S);
            out[cell] = Math.max(out[cell], full.pattern[((firstHead + h) * T + r) * T + c]);
          }
        }
      }
      return out;
    };
    for (const maxSize of [3, 5, 1000]) {
      const S = Math.min(T, maxSize);
      const view = await client.request('patternView', { traceId: summary.traceId, layer: 1, maxSize });
      assert.deepEqual(view, { traceId: summary.traceId, layer: 1, size: S, values: referencePool(H, H, S) }, `patternView maxSize ${maxSize}`);
      assert.deepEqual(view.values, poolHeadPatterns(full.pattern, T, H, H, S));
      const thumbs = await client.request('patternThumbs', { traceId: summary.traceId, maxSize });
      assert.deepEqual(thumbs, { traceId: summary.traceId, size: S, values: referencePool(0, L * H, S) }, `patternThumbs maxSize ${maxSize}`);
    }
    // Unpooled, the view is the pattern itself.
    assert.deepEqual((await client.request('patternView', { traceId: summary.traceId, layer: 0, maxSize: T })).values, full.pattern.subarray(0, H * T * T));
    // Bad input: a clear one-line message.
    await assert.rejects(client.request('patternView', { traceId: summary.traceId, layer: L, maxSize: 4 }), { code: 'bad-input', message: `layer ${L} is out of range: 0..${L - 1}.` });
    await assert.rejects(client.request('patternThumbs', { traceId: summary.traceId, maxSize: 0 }), { code: 'bad-input', message: 'Pattern size must be a whole number of at least 1, got 0.' });
    // A full trace hands its patterns to the caller; the engine does not keep them.
    const plain = await client.request('trace', { text: 'handed over' });
    await assert.rejects(client.request('patternThumbs', { traceId: plain.traceId, maxSize: 4 }), { code: 'unknown-trace' });
  });

  it('attributeAll: every row equals attribute at that position with the default token (1e-5 · max(1, |x|))', async () => {
    const t = await engine.trace({ text: 'One request attributes every position of this trace.', options: { topK: 2 } });
    const table = await engine.attributeAll({ traceId: t.traceId });
    const T = t.tokens.length;
    const C = table.components.length;
    assert.equal(table.positions, T);
    assert.equal(table.values.length, T * C);
    const close = (got: number, want: number): boolean => Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want));
    for (let pos = 0; pos < T; pos++) {
      const one = await engine.attribute({ traceId: t.traceId, pos });
      assert.equal(table.tokenIds[pos], one.tokenId);
      assert.equal(table.tokenIds[pos], t.logitsTop.ids[pos * 2]);
      assert.deepEqual(table.components, one.components);
      for (let c = 0; c < C; c++) assert.ok(close(table.values[pos * C + c], one.values[c]), `pos ${pos} ${one.components[c].name}: ${table.values[pos * C + c]} vs ${one.values[c]}`);
      assert.equal(table.logit[pos], one.logit);
      assert.equal(table.lnBiasTerm[pos], one.lnBiasTerm);
      // The model's own top-1 logit (from the forward graph) is Σ values + lnBiasTerm.
      let sum = table.lnBiasTerm[pos];
      for (let c = 0; c < C; c++) sum += table.values[pos * C + c];
      assert.ok(close(sum, t.logitsTop.logits[pos * 2]), `pos ${pos}: ${sum} vs ${t.logitsTop.logits[pos * 2]}`);
    }
    await rejectsWithCode(engine.attributeAll({ traceId: 12345 }), 'unknown-trace');
  });

  it('sends the too-long and empty-text messages', async () => {
    await rejectsWithCode(client.request('trace', { text: 'w '.repeat(100) }), 'bad-input', 'The text has more than 32 tokens; tiny accepts at most 32 (BOS included). Select less text.');
    await rejectsWithCode(client.request('trace', { text: '' }), 'bad-input', 'Nothing to trace: the text is empty or only whitespace.');
    await rejectsWithCode(client.request('lens', { traceId: 12345 }), 'unknown-trace');
  });

  it('cancels: an aborted request rejects at once, a queued one is dropped, later requests still work', async () => {
    // Each trace waits a moment in the worker before it runs, so the cancels below reach it in
    // time on a busy machine too (a tiny model's trace is done in about a millisecond).
    client.dispose();
    process.env.RESIDUAL_LENS_WORKER_FAULT = 'pause:trace';
    client = new EngineClient({ workerPath: WORKER, log: (line) => log.push(line) });
    await client.request('load', { folder, name: 'tiny', cacheDir: path.join(root, 'cache') });
    delete process.env.RESIDUAL_LENS_WORKER_FAULT; // read when the worker started
    const pre = new AbortController();
    pre.abort();
    await rejectsWithCode(client.request('trace', { text: 'never sent' }, { signal: pre.signal }), 'cancelled');

    const first = client.request('trace', { text: 'the first trace runs' });
    const controller = new AbortController();
    const second = client.request('trace', { text: 'the second trace is queued' }, { signal: controller.signal });
    controller.abort();
    await rejectsWithCode(second, 'cancelled', 'Cancelled.');
    const t = await first;
    assert.ok(t.tokens.length > 1);

    // Aborting a request the worker has started: the client rejects now; the worker stops at its
    // next stage boundary and answers 'cancelled', a reply the client drops (and logs).
    const inFlight = new AbortController();
    const third = client.request('trace', { text: 'the third trace is cancelled while running' }, { signal: inFlight.signal });
    inFlight.abort();
    await rejectsWithCode(third, 'cancelled', 'Cancelled.');
    const after = await client.request('lens', { traceId: t.traceId, k: 5 });
    assert.equal(after.top.k, 5);
    assert.ok(log.some((l) => /dropped the late reply to request \d+ \(cancelled\)/.test(l)), log.join('\n'));
  });

  it('survives the worker exiting: pending requests reject as crashed, the next one reloads the model', async () => {
    client.dispose();
    process.env.RESIDUAL_LENS_WORKER_FAULT = 'exit:lens';
    client = new EngineClient({ workerPath: WORKER, log: (line) => log.push(line) });
    await client.request('load', { folder, name: 'tiny', cacheDir: path.join(root, 'cache') });
    const t = await client.request('trace', { text: 'before the crash' });
    delete process.env.RESIDUAL_LENS_WORKER_FAULT; // the fresh worker starts without the fault
    const crashing = client.request('lens', { traceId: t.traceId });
    const pendingTrace = client.request('trace', { text: 'queued behind the crash' });
    await rejectsWithCode(crashing, 'crashed', CRASHED_MESSAGE);
    await rejectsWithCode(pendingTrace, 'crashed', CRASHED_MESSAGE);
    assert.equal(client.running, false);
    assert.ok(log.some((l) => l.includes('exit code 70')), log.join('\n'));
    // Fresh worker: the model is reloaded before this request; the old trace is gone.
    const again = await client.request('trace', { text: 'after the crash' });
    assert.equal(again.model.name, 'tiny');
    await rejectsWithCode(client.request('lens', { traceId: t.traceId }), 'unknown-trace');
  });

  it('survives the worker running out of memory', async () => {
    client.dispose();
    process.env.RESIDUAL_LENS_WORKER_FAULT = 'oom:tokenize';
    client = new EngineClient({ workerPath: WORKER, log: (line) => log.push(line), resourceLimits: { maxOldGenerationSizeMb: 48 } });
    await client.request('load', { folder, name: 'tiny', cacheDir: path.join(root, 'cache') });
    delete process.env.RESIDUAL_LENS_WORKER_FAULT;
    await rejectsWithCode(client.request('tokenize', { text: 'boom' }), 'crashed', CRASHED_MESSAGE);
    const t = await client.request('trace', { text: 'recovered' });
    assert.equal(t.model.name, 'tiny');
  });

  it('ends the worker on a dispose request without reporting a crash; the next request starts a fresh one', async () => {
    const before = log.length;
    assert.equal(await client.request('dispose', {}), null);
    assert.equal(client.running, false);
    assert.equal(client.loaded, undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(log.slice(before), []);
    await rejectsWithCode(client.request('trace', { text: 'no model yet' }), 'no-model', 'No model is loaded: load a model before tracing.');
    await client.request('load', { folder, name: 'tiny', cacheDir: path.join(root, 'cache') });
  });

  it('rejects pending requests when disposed', async () => {
    const pending = client.request('trace', { text: 'closing' });
    client.dispose();
    await rejectsWithCode(pending, 'cancelled', 'The engine was closed.');
    await rejectsWithCode(client.request('tokenize', { text: 'x' }), 'cancelled');
  });
});

describe('engine worker protocol checks', () => {
  let root: string;
  before(() => {
    root = makeTempFolder('rl-worker-protocol');
  });
  after(() => removeTempFolder(root));

  it('the worker refuses another protocol version and unknown methods with code protocol', async () => {
    const boot = path.join(root, 'worker-bootstrap.cjs');
    writeWorkerBootstrap(boot);
    const worker = new Worker(boot);
    try {
      const replies: unknown[] = [];
      const got = new Promise<void>((resolve) => {
        worker.on('message', (m: unknown) => {
          replies.push(m);
          if (replies.length === 2) resolve();
        });
      });
      worker.postMessage({ v: 99, kind: 'request', id: 1, method: 'tokenize', params: { text: 'x' } });
      worker.postMessage({ v: ENGINE_PROTOCOL_VERSION, kind: 'request', id: 2, method: 'evaluate', params: {} });
      await got;
      assert.deepEqual(replies, [
        { v: ENGINE_PROTOCOL_VERSION, kind: 'response', id: 1, ok: false, error: { code: 'protocol', message: `Engine protocol version 99 is not ${ENGINE_PROTOCOL_VERSION}; rebuild the extension.` } },
        { v: ENGINE_PROTOCOL_VERSION, kind: 'response', id: 2, ok: false, error: { code: 'protocol', message: 'Unknown engine request "evaluate".' } },
      ]);
    } finally {
      await worker.terminate();
    }
  });

  it('a notice from the worker (e.g. its priority could not be lowered) goes to the log, and requests still work', async () => {
    const fake = path.join(root, 'notice-worker.cjs');
    fs.writeFileSync(
      fake,
      "const { parentPort } = require('node:worker_threads');\n" +
        `parentPort.postMessage({ v: ${ENGINE_PROTOCOL_VERSION}, kind: 'notice', text: 'priority: EPERM' });\n` +
        `parentPort.on('message', (m) => m.kind === 'request' && parentPort.postMessage({ v: ${ENGINE_PROTOCOL_VERSION}, kind: 'response', id: m.id, ok: true, result: { tokens: [], exceeded: false } }));\n`,
    );
    const log: string[] = [];
    const client = new EngineClient({ workerPath: fake, log: (l) => log.push(l) });
    try {
      assert.deepEqual(await client.request('tokenize', { text: 'x' }), { tokens: [], exceeded: false });
      assert.deepEqual(log, ['engine: priority: EPERM']);
    } finally {
      client.dispose();
    }
  });

  it('the client rejects a reply in another protocol version instead of waiting', async () => {
    const fake = path.join(root, 'stale-worker.cjs');
    fs.writeFileSync(
      fake,
      "const { parentPort } = require('node:worker_threads');\n" +
        "parentPort.on('message', (m) => parentPort.postMessage({ v: 0, kind: 'response', id: m.id, ok: true, result: null }));\n",
    );
    const log: string[] = [];
    const client = new EngineClient({ workerPath: fake, log: (l) => log.push(l) });
    try {
      await rejectsWithCode(client.request('tokenize', { text: 'x' }), 'protocol', `The engine worker speaks protocol version 0, not ${ENGINE_PROTOCOL_VERSION}; rebuild the extension.`);
      assert.deepEqual(log, [`engine: a message with protocol version 0 (expected ${ENGINE_PROTOCOL_VERSION})`]);
    } finally {
      client.dispose();
    }
  });
});
