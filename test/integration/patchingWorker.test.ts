/**
 * A patching sweep through the worker: rows arrive as progress payloads before the result and
 * equal it; an aborted sweep rejects with 'cancelled' and the worker answers the next request.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { EngineClient } from '../../src/engine/client';
import { EngineError } from '../../src/protocol/engine';
import { INTERVENTIONS_SCHEMA_VERSION as schema } from '../../src/protocol/interventions';
import type { PatchRow } from '../../src/protocol/patching';
import { writeWorkerBootstrap } from '../helpers/extensionHost';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';


describe('patching sweep through the worker', () => {
  let root: string;
  let client: EngineClient;

  before(async () => {
    root = makeTempFolder('patching-worker');
    const worker = path.join(root, 'worker-bootstrap.cjs');
    writeWorkerBootstrap(worker);
    writeRandomCheckpoint(path.join(root, 'model'), { nLayer: 3, nHead: 4, dModel: 32, nCtx: 64, dVocab: 50257, seed: 9 });
    client = new EngineClient({ workerPath: worker, threads: 1 });
    await client.request('load', { folder: path.join(root, 'model'), name: 'tiny', cacheDir: path.join(root, 'cache') });
  });
  after(async () => {
    await client.close();
    removeTempFolder(root);
  });

  it('streams every row before the result, with the same values', async () => {
    const a = await client.request('traceSummary', { text: 'When Mary and John went to the store, John gave a drink to' });
    const b = await client.request('traceSummary', { text: 'When Mary and John went to the store, Mary gave a drink to' });
    const rows: PatchRow[] = [];
    const r = await client.request(
      'patchSweep',
      { schema, cleanTraceId: a.traceId, corruptedTraceId: b.traceId, metric: { kind: 'logit_diff', correct: 5335, wrong: 1757 }, what: 'resid_pre' },
      { onPayload: (p) => p.kind === 'patch-row' && rows.push(p.row) },
    );
    assert.equal(rows.length, 3);
    rows.forEach((row, i) => {
      assert.equal(row.row, i);
      assert.deepEqual([...row.values], [...r.values.subarray(i * r.cols, (i + 1) * r.cols)]);
      assert.deepEqual([...(row.scores ?? [])], [...(r.scores ?? new Float64Array(0)).subarray(i * r.cols, (i + 1) * r.cols)]);
    });
  });

  it('an aborted sweep rejects as cancelled and the worker goes on', async () => {
    const a = await client.request('traceSummary', { text: 'one two three four five six seven eight nine ten eleven twelve' });
    const controller = new AbortController();
    const sweep = client.request(
      'patchSweep',
      { schema, cleanTraceId: a.traceId, corruptedTraceId: a.traceId, metric: { kind: 'logprob', token: 10 }, what: 'resid_pre' },
      { signal: controller.signal, onPayload: () => controller.abort() },
    );
    await assert.rejects(sweep, (err: unknown) => err instanceof EngineError && err.code === 'cancelled');
    const t = await client.request('tokenize', { text: 'still here' });
    assert.ok(t.tokens.length > 0);
  });
});
