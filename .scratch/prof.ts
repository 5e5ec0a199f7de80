import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ensureF32Weights, openCheckpoint } from '../src/engine/checkpoint';
import { buildInstrumentedGraph, buildLensGraph, buildPlainGraph, INPUTS } from '../src/engine/graph';
import { createSession, int64Tensor, floatTensor } from '../src/engine/session';
import { ensureBenchCheckpoint, textOfLength } from '../bench/engine';

const threads = Number(process.argv[2] ?? 1);
const T = Number(process.argv[3] ?? 32);
async function main() {
  const dir = ensureBenchCheckpoint();
  const ck = openCheckpoint(dir);
  const f32 = ensureF32Weights(ck, path.join(dir, '..', 'cache'));
  const locate = (name: string, dims: readonly number[]) => ({ location: path.basename(f32.path), offset: f32.offsets.get(name) as number, byteLength: dims.reduce((a, b) => a * b, 1) * 4 });
  const folder = path.dirname(f32.path);
  const c = ck.config;
  const s = { threads };
  const instr = await createSession(buildInstrumentedGraph(c, locate), folder, s);
  const plain = await createSession(buildPlainGraph(c, locate), folder, s);
  const lens = await createSession(buildLensGraph(c, locate), folder, s);
  const ids = int64Tensor(Array.from({ length: T }, (_, i) => 50256 - i), [T]);
  const k = int64Tensor([10], [1]);
  const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
  const ti: number[] = [], tp: number[] = [], tl: number[] = [];
  const rows = floatTensor(new Float32Array(T * c.dModel).map(() => Math.random()), [T, c.dModel]);
  for (let i = 0; i < 12; i++) {
    let t0 = performance.now();
    await plain.run({ [INPUTS.ids]: ids, [INPUTS.k]: k }); tp.push(performance.now() - t0);
    t0 = performance.now();
    await instr.run({ [INPUTS.ids]: ids }); ti.push(performance.now() - t0);
    t0 = performance.now();
    await lens.run({ [INPUTS.rows]: rows, [INPUTS.target]: int64Tensor(new Array(T).fill(0), [T]), [INPUTS.k]: k, [INPUTS.distRows]: int64Tensor([], [0]) }); tl.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ threads, T, plain: med(tp), instr: med(ti), lens: med(tl), ratio: (med(ti) + med(tl)) / med(tp) }));
}
main();
