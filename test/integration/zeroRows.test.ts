/**
 * Zero rows never reach onnxruntime. onnxruntime-node 1.30 raises SIGFPE for TopK over [0, n] (and for
 * the instrumented forward over zero ids), which ends the process: for the extension, the whole
 * extension host. The first test shows the hazard in a child process (so it tells us when a build no
 * longer has it); the others that the lens runners return empty results instead of running.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType, GraphBuilder } from '../../src/engine/onnx/model';
import { screenedLensForCheckpoint } from '../../src/engine/screenedLens';
import { makeTempFolder, randomWeights, removeTempFolder, writeCheckpoint } from '../helpers/checkpointWriter';

describe('zero rows', () => {
  let folder: string;
  let lens: Awaited<ReturnType<typeof screenedLensForCheckpoint>> | undefined;

  before(async () => {
    folder = makeTempFolder('rl-zero-rows');
    writeCheckpoint(folder, randomWeights({ nLayer: 1, nHead: 2, dModel: 64, nCtx: 16, dVocab: 3000, seed: 5 }));
    lens = await screenedLensForCheckpoint(folder, folder, { threads: 1 });
  });
  after(async () => {
    await lens?.release();
    removeTempFolder(folder);
  });

  it('onnxruntime 1.30 ends the process on TopK over zero rows (why the runners refuse them)', () => {
    const g = new GraphBuilder('topk_zero_rows');
    const x = g.input('x', DataType.FLOAT, ['n', 8]);
    g.node('TopK', [x, g.int64s('k', [1], [2])], 2, { axis: { i: -1 } }, ['values', 'ids']);
    g.output('values', DataType.FLOAT, ['n', 2]);
    const model = path.join(folder, 'topk.onnx');
    fs.writeFileSync(model, g.build());
    const script = `const ort = require('onnxruntime-node');
      ort.InferenceSession.create(${JSON.stringify(model)}).then((s) => s.run({ x: new ort.Tensor('float32', new Float32Array(0), [0, 8]) }))
        .then(() => console.log('survived'), (e) => console.log('error: ' + e.message));`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: path.resolve(__dirname, '..', '..'), timeout: 60_000 });
    // If a later build returns or throws instead, the guards are harmless; say so here.
    assert.equal(child.signal, 'SIGFPE', `expected the known crash, got status ${child.status}, output ${child.stdout}${child.stderr}`);
  });

  it('the float32 lens and the screened lens return empty results for zero rows, without running', async () => {
    assert.ok(lens);
    for (const r of [await lens.exact.run(new Float32Array(0), new Int32Array(0), 5), await lens.screened.run(new Float32Array(0), new Int32Array(0), 5)]) {
      assert.equal(r.top.ids.length, 0);
      assert.equal(r.rank.length, 0);
      assert.equal(r.scale.length, 0);
    }
  });
});
