import * as path from 'node:path';
import { Engine } from '../src/engine/engine';
import { lowerThisThreadPriority } from '../src/engine/threadPriority';
import { ensureBenchCheckpoint } from '../bench/engine';
const threads = Number(process.argv[2] ?? 2);
async function main() {
  if (process.argv[3] === 'nice') lowerThisThreadPriority();
  const dir = ensureBenchCheckpoint();
  const e = new Engine({ threads, reusePrefix: process.argv[4] === 'reuse' });
  await e.load({ folder: dir, name: 'x', cacheDir: path.join(dir, '..', 'cache') });
  const text = 'The Eiffel Tower is located in the city of Paris, and the Colosseum is in the city of Rome, the capital of Italy.';
  const ms: number[] = []; const fw: number[] = [];
  for (let i = 0; i < 15; i++) { const t0 = performance.now(); const s = await e.traceSummary({ text }); ms.push(performance.now() - t0); fw.push(s.forwardMs); }
  const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
  console.log(threads, process.argv[3] ?? '', 'traceSummary', med(ms).toFixed(1), 'forward', med(fw).toFixed(1));
}
main();
