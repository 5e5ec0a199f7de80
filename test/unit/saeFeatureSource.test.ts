/**
 * SaeFeatureSource against the stub vscode and a counting fake engine session: the SAE is loaded
 * once per (folder, model); each trace's features are asked once, however many hovers read them;
 * the heatmap is posted for the latest trace (again with the splice line once it is in) and replayed; a worker restart ('no-sae') reloads once;
 * the setting 'none' asks nothing.
 */
import { state } from '../helpers/vscodeStub';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SaeFeatureSource } from '../../src/ui/saeFeatures';
import { EngineError } from '../../src/protocol/engine';
import type { EngineSession } from '../../src/ui/engineSession';
import type { Output } from '../../src/ui/output';
import type { TraceController, TraceRecord } from '../../src/ui/traceController';
import type { SaeFeatures, SaeInfo } from '../../src/engine/sae/types';

const INFO = { name: 'blocks.1.hook_resid_pre', folder: '/nowhere/sae', hookName: 'blocks.1.hook_resid_pre', dSae: 4, fingerprint: 'f', input: 'raw' } as unknown as SaeInfo;

function fakes(opts: { restartOnce?: boolean; follow?: AbortController } = {}) {
  const calls: string[] = [];
  const follow = opts.follow ?? new AbortController();
  let restart = opts.restartOnce ?? false;
  const session = {
    request: async (method: string, params: { traceId?: number }, options: { signal?: AbortSignal } = {}) => {
      calls.push(method);
      if (method === 'loadSae') return INFO;
      if (method === 'saeFeatures') {
        if (restart) {
          restart = false;
          throw new EngineError('no-sae', 'No SAE is loaded');
        }
        return { traceId: params.traceId, sae: INFO, positions: 2, k: 1, ids: Int32Array.from([1, -1]), values: Float32Array.from([2, 0]), l0: Int32Array.from([1, 0]), varianceExplained: Float64Array.from([0.5, NaN]), cosine: Float64Array.from([1, NaN]), varianceExplainedTrace: null } as unknown as SaeFeatures;
      }
      if (method === 'saeSplice') {
        if (options.signal?.aborted) throw new EngineError('cancelled', 'Cancelled.');
        const top = { ids: Int32Array.from([14]), logits: Float32Array.from([1]), probs: Float32Array.from([0.5]) };
        return { traceId: params.traceId, hook: INFO.hookName, pos: 1, kl: 0.25, tokenId: 13, logprobBefore: Math.log(0.5), logprobAfter: Math.log(0.25), baseTop: { ...top, ids: Int32Array.from([13]) }, top };
      }
      throw new Error(`unexpected ${method}`);
    },
  } as unknown as EngineSession;
  const record = { trace: { traceId: 7, model: { name: 'demo', fingerprint: 'm' }, tokens: [{}, {}] }, followUpSignal: () => follow.signal } as unknown as TraceRecord;
  const traces = { latest: record, onDidChangeRecords: () => ({ dispose: () => undefined }) } as unknown as TraceController;
  const output = { info: () => undefined, showWarning: (t: string) => calls.push(`warn ${t}`), showError: () => undefined } as unknown as Output;
  const posted: unknown[] = [];
  const memento = { get: <T>(_k: string, d: T) => d, update: async () => undefined } as unknown as import('vscode').Memento;
  const source = new SaeFeatureSource(session, output, traces, memento, '/ext', (m) => posted.push(m));
  return { source, calls, record, posted };
}

test('features: loaded once, asked once per trace, hovers read the stored answer; heatmap posted and replayed', async () => {
  state.settings.set('sae', 'demo');
  const { source, calls, record, posted } = fakes();
  const a = await source.featuresOf(record);
  const b = await source.featuresOf(record);
  const c = await source.featuresOf(record);
  assert.ok(a && a === b && b === c);
  // Then, once, the splice: the heatmap is posted again with its line.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, ['loadSae', 'saeFeatures', 'saeSplice']);
  assert.equal(posted.length, 2);
  assert.equal((posted[0] as { type: string }).type, 'features');
  const spliced = (posted[1] as { features: { splice?: string } }).features.splice ?? '';
  assert.match(spliced, /^SAE spliced in at blocks\.1\.hook_resid_pre \(every position\): at position 1, KL\(unedited ‖ spliced\) 0\.2500 nats; p\(.+\) 50% → 25%; top-1 with the SAE: /);
  assert.deepEqual(source.replay().map((m) => m.type), ['features']);
  assert.equal((source.replay()[0] as { features: { splice?: string } }).features.splice, spliced);
  source.dispose();
});

test("a worker restart ('no-sae') loads the SAE again, once", async () => {
  state.settings.set('sae', 'demo');
  const { source, calls, record } = fakes({ restartOnce: true });
  assert.ok(await source.featuresOf(record));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, ['loadSae', 'saeFeatures', 'loadSae', 'saeFeatures', 'saeSplice']);
  source.dispose();
});

test("'none' asks the engine nothing", async () => {
  state.settings.set('sae', 'none');
  const { source, calls, record } = fakes();
  assert.equal(await source.featuresOf(record), undefined);
  assert.deepEqual(calls, []);
  state.settings.delete('sae');
  source.dispose();
});

test('a newer trace cancels the splice (it is one of the trace\'s follow-ups): no line, no warning', async () => {
  state.settings.set('sae', 'demo');
  const follow = new AbortController();
  follow.abort();
  const { source, calls, record, posted } = fakes({ follow });
  assert.ok(await source.featuresOf(record));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, ['loadSae', 'saeFeatures', 'saeSplice']);
  assert.equal(posted.length, 1);
  assert.equal((posted[0] as { features: { splice?: string } }).features.splice, undefined);
  state.settings.delete('sae');
  source.dispose();
});
