import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ensureF32Weights, openCheckpoint } from '../src/engine/checkpoint';
import { buildInstrumentedGraph, buildLensGraph, INPUTS } from '../src/engine/graph';
import { sessionOptions, int64Tensor, floatTensor } from '../src/engine/session';
import { ensureBenchCheckpoint } from '../bench/engine';
const T = Number(process.argv[2] ?? 32);
const which = process.argv[3] ?? 'instr';
async function main() {
  const dir = ensureBenchCheckpoint();
  const ck = openCheckpoint(dir);
  const f32 = ensureF32Weights(ck, path.join(dir, '..', 'cache'));
  const locate = (name: string, dims: readonly number[]) => ({ location: path.basename(f32.path), offset: f32.offsets.get(name) as number, byteLength: dims.reduce((a, b) => a * b, 1) * 4 });
  const c = ck.config;
  const opts = { ...sessionOptions(path.dirname(f32.path), { threads: 2 }), enableProfiling: true, profileFilePrefix: '/tmp/ortprof_' + which };
  const bytes = which === 'instr' ? buildInstrumentedGraph(c, locate) : buildLensGraph(c, locate);
  const s = await ort.InferenceSession.create(bytes, opts);
  const ids = int64Tensor(Array.from({ length: T }, (_, i) => 50256 - i), [T]);
  const rows = floatTensor(new Float32Array(T * c.dModel).map(() => Math.random()), [T, c.dModel]);
  for (let i = 0; i < 20; i++) {
    if (which === 'instr') await s.run({ [INPUTS.ids]: ids });
    else await s.run({ [INPUTS.rows]: rows, [INPUTS.target]: int64Tensor(new Array(T).fill(0), [T]), [INPUTS.k]: int64Tensor([10], [1]), [INPUTS.distRows]: int64Tensor([], [0]) });
  }
  (s as any).endProfiling(); const file = fs.readdirSync('/tmp').filter((f) => f.startsWith('ortprof_' + which)).map((f) => '/tmp/' + f).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  const ev = JSON.parse(fs.readFileSync(file, 'utf8')) as any[];
  const byOp = new Map<string, number>();
  let total = 0;
  for (const e of ev) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) { const op = e.args.op_name; byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 20 / 1000); total += e.dur / 20 / 1000; }
  const runs = ev.filter((e) => e.name === 'model_run').map((e) => e.dur / 1000);
  console.log(which, T, 'model_run median', runs.sort((a, b) => a - b)[10].toFixed(1), 'kernel sum', total.toFixed(1));
  console.log([...byOp].sort((a, b) => b[1] - a[1]).slice(0, 14).map(([k, v]) => `${k}:${v.toFixed(2)}`).join('  '));
}
main();
