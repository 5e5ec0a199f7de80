/**
 * Checkpoint load figures for a GPT-2-small-shaped model (12 layers, d_model 768, vocab 50257,
 * n_ctx 1024; 124 M weights, ~500 MB F32) stored three ways: model.safetensors F32,
 * pytorch_model.bin F32 (torch.save's zip + pickle, tied lm_head, bool mask buffers) and
 * pytorch_model.bin BF16. Warm page cache (the files were just written; a cold read is the disk's
 * speed for either format). Per format, median of 3: openCheckpoint (validate the layout) and
 * ensureF32Weights (first: F32 scans every weight for NaN/Inf and uses the file in place, BF16
 * converts into the F32 cache file; after: both reuse the result, by fingerprint); then one
 * Engine.load each (ORT sessions; the scan or conversion already done).
 * Runs alone: `node --import tsx bench/checkpointLoad.ts` (JSON on stdout).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureF32Weights, openCheckpoint } from '../src/engine/checkpoint';
import { Engine } from '../src/engine/engine';
import { randomWeights } from '../test/helpers/checkpointWriter';
import { writeBinCheckpoint, writeSafetensorsCheckpoint } from '../test/helpers/checkpointFormats';
import { median, printWhenRunAlone, round1 } from './section';

const GPT2_SMALL = { nLayer: 12, nHead: 12, dModel: 768, dMlp: 3072, nCtx: 1024, dVocab: 50257 };
const REPS = 3;

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: performance.now() - t0, value };
}

function weightsBytes(folder: string): number {
  return fs.readdirSync(folder).filter((f) => f !== 'config.json').reduce((n, f) => n + fs.statSync(path.join(folder, f)).size, 0);
}

export async function benchCheckpointLoad(log: (line: string) => void = (l) => process.stderr.write(`[bench] checkpoint-load: ${l}\n`)): Promise<Record<string, unknown>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-bench-ckpt-'));
  try {
    log('writing a GPT-2-small-shaped checkpoint as safetensors, .bin F32 and .bin BF16');
    const weights = randomWeights({ ...GPT2_SMALL, seed: 7 });
    const folders = {
      safetensors: path.join(root, 'safetensors'),
      binF32: path.join(root, 'bin-f32'),
      binBf16: path.join(root, 'bin-bf16'),
    };
    writeSafetensorsCheckpoint(folders.safetensors, weights, { dtype: 'F32' }); // as the hub's gpt2 model.safetensors: no lm_head copy
    writeBinCheckpoint(folders.binF32, weights, { dtype: 'F32', lmHead: 'tied', maskBuffers: true });
    writeBinCheckpoint(folders.binBf16, weights, { dtype: 'BF16', lmHead: 'tied', maskBuffers: true });

    for (const folder of Object.values(folders)) {
      // Flush the writes first, so write-back does not land inside the timings.
      for (const f of fs.readdirSync(folder)) {
        const fd = fs.openSync(path.join(folder, f), 'r');
        fs.fsyncSync(fd);
        fs.closeSync(fd);
      }
    }
    const names = Object.keys(folders) as (keyof typeof folders)[];
    const open = new Map<string, number[]>(names.map((n) => [n, []]));
    const first = new Map<string, number[]>(names.map((n) => [n, []]));
    const again = new Map<string, number[]>(names.map((n) => [n, []]));
    // Formats interleaved per repetition, so a noisy moment on a shared machine hits all of them.
    for (let i = 0; i < REPS; i++) {
      for (const name of names) {
        log(`${name}: open + ensureF32Weights, repetition ${i + 1} of ${REPS}`);
        const cacheDir = path.join(root, `cache-${name}-${i}`);
        const opened = time(() => openCheckpoint(folders[name]));
        open.get(name)?.push(opened.ms);
        first.get(name)?.push(time(() => ensureF32Weights(opened.value, cacheDir)).ms);
        again.get(name)?.push(time(() => ensureF32Weights(openCheckpoint(folders[name]), cacheDir)).ms);
      }
    }
    const result: Record<string, Record<string, number>> = {};
    for (const name of names) {
      log(`${name}: Engine.load`);
      const engine = new Engine();
      const t0 = performance.now();
      await engine.load({ folder: folders[name], name, cacheDir: path.join(root, `cache-${name}-0`) });
      const engineLoadMs = performance.now() - t0;
      await engine.dispose();
      result[name] = {
        fileMB: round1(weightsBytes(folders[name]) / 1e6),
        openMs: round1(median(open.get(name) ?? [])),
        ensureF32FirstMs: round1(median(first.get(name) ?? [])),
        ensureF32Ms: round1(median(again.get(name) ?? [])),
        engineLoadMs: round1(engineLoadMs),
      };
    }
    const s = result['safetensors'] as Record<string, number>;
    const b = result['binF32'] as Record<string, number>;
    return {
      what: 'GPT-2-small-shaped checkpoint (124 M weights), warm page cache; open = layout validation; ensureF32FirstMs = finite scan of every weight (F32, used in place) or BF16 → F32 cache file; ensureF32Ms = a later load (marker / cache reused); medians of 3, formats interleaved; engineLoadMs = one Engine.load after those',
      ...result,
      binOverSafetensors: {
        open: Math.round(((b['openMs'] as number) / (s['openMs'] as number)) * 100) / 100,
        ensureF32First: round1((b['ensureF32FirstMs'] as number) / (s['ensureF32FirstMs'] as number)),
        engineLoad: round1((b['engineLoadMs'] as number) / (s['engineLoadMs'] as number)),
      },
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  printWhenRunAlone(() => benchCheckpointLoad());
}
