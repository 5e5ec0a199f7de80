/**
 * SAE bench section (`node --import tsx bench/sae.ts`, also in `npm run bench`):
 * - encode: the SAE graph on 128 positions at GPT-2-small shapes (d_in 768, d_sae 24576, random
 *   F32 weights, seeded, built once into .bench/), top-10 features + L0 + reconstruction quality
 *   (saeFeatures' work) and the scan's per-feature maxima; target ≤ 40 ms on 2 cores;
 * - scan: tokens/s of the workspace scan (model forward + SAE) on the random GPT-2-small
 *   checkpoint of bench/engine.ts over a generated corpus (window 128), with RSS before and after;
 *   `--corpus-mb N` scans N MB instead (files of 100 KB) and samples RSS every 10 s (memory flat?).
 * JSON on stdout; progress on stderr. Not a test: the `targets` field says whether targets were met.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BENCH_DIR, ensureBenchCheckpoint } from './engine';
import { median, printWhenRunAlone, round1 } from './section';
import { SaeEngine, type SaeModelView, type SaeTraceView } from '../src/engine/sae/saeEngine';
import { Engine } from '../src/engine/engine';
import { scanFiles } from '../src/models/sae/scan';
import type { ModelInfo } from '../src/engine/types';
import * as ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from '../src/engine/onnx/model';
import { createSession } from '../src/engine/session';
import { parseSafetensorsHeader } from '../src/engine/safetensors';

const SAE_DIR = path.join(BENCH_DIR, 'sae-gpt2-small-random');
const SAE_VERSION = 'sae gpt2-small random v1 seed 2027';
const D = 768;
const S = 24576;
const T = 128;
const log = (line: string): void => {
  process.stderr.write(`[bench] sae: ${line}\n`);
};

async function ensureBenchSae(): Promise<string> {
  const marker = path.join(SAE_DIR, 'bench-build.txt');
  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === SAE_VERSION) return SAE_DIR;
  log(`building ${SAE_DIR} (once)`);
  const { writeRandomSae } = await import('../test/helpers/saeWriter');
  fs.rmSync(SAE_DIR, { recursive: true, force: true });
  writeRandomSae(SAE_DIR, { seed: 2027, dIn: D, dSae: S, hookName: 'blocks.8.hook_resid_pre', modelName: 'gpt2-small', encScale: 0.05 });
  fs.writeFileSync(marker, SAE_VERSION);
  return SAE_DIR;
}

/** A session computing x · W_enc of the bench SAE, W_enc as external data (prepacked). */
async function encoderMatmul(folder: string, threads: number): Promise<ort.InferenceSession> {
  const file = path.join(folder, 'sae_weights.safetensors');
  const fd = fs.openSync(file, 'r');
  try {
    const header = parseSafetensorsHeader((p, l) => {
      const b = new Uint8Array(l);
      fs.readSync(fd, b, 0, l, p);
      return b;
    }, fs.fstatSync(fd).size);
    const w = header.tensors.find((t) => t.name === 'W_enc');
    if (!w) throw new Error('bench SAE has no W_enc');
    const g = new GraphBuilder('bench_encoder_matmul', 17);
    const x = g.input('x', DataType.FLOAT, ['T', D]);
    g.op('MatMul', [x, g.external('W', [D, S], { location: 'sae_weights.safetensors', offset: header.dataStart + w.begin, byteLength: D * S * 4 })], {}, 'y');
    g.output('y', DataType.FLOAT, ['T', S]);
    return await createSession(g.build(), folder, { threads });
  } finally {
    fs.closeSync(fd);
  }
}

function randomRows(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 4;
  }
  return out;
}

async function timeIt(fn: () => Promise<unknown>, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

export async function benchSae(): Promise<Record<string, unknown>> {
  const folder = await ensureBenchSae();
  const threads = Math.max(1, os.availableParallelism());
  const info: ModelInfo = {
    name: 'gpt2', folder: '', dtype: 'F32', fingerprint: 'bench',
    config: { nLayer: 12, nHead: 12, dModel: D, dHead: 64, dMlp: 3072, nCtx: 1024, dVocab: 50257, layerNormEps: 1e-5 },
  };
  const model: SaeModelView = { info, lnFinalWeight: new Float32Array(D).fill(1), unembedColumn: () => new Float32Array(D), tokenEmbeddings: () => new Float32Array(0), untiedUnembedding: () => undefined };
  const rows = randomRows(T * D, 7);
  const trace: SaeTraceView = { traceId: 1, tokens: Array.from({ length: T }, () => ({ id: 0, text: '', start: 0, end: 0, partial: false, special: false })), lnFinalScale: new Float32Array(T).fill(1), topId: () => 0, hookRows: () => rows };
  const sae = new SaeEngine({ threads });
  const t0 = performance.now();
  await sae.load({ folder }, model);
  const loadMs = performance.now() - t0;
  await sae.features({ traceId: 1, k: 10 }, model, trace); // warm-up
  await sae.scanWindow(rows, T, model);
  // The yardstick, interleaved in the same run: one [128, 768] · [768, 24576] MatMul with W_enc as a prepacked initializer.
  const matmul = await encoderMatmul(folder, threads);
  const feed = { x: new ort.Tensor('float32', rows, [T, D]) };
  await matmul.run(feed);
  const features: number[] = [];
  const scanWindow: number[] = [];
  const product: number[] = [];
  for (let i = 0; i < 15; i++) {
    features.push(...(await timeIt(() => sae.features({ traceId: 1, k: 10 }, model, trace), 1)));
    scanWindow.push(...(await timeIt(() => sae.scanWindow(rows, T, model), 1)));
    product.push(...(await timeIt(() => matmul.run(feed), 1)));
  }
  await matmul.release();
  const sample = await sae.features({ traceId: 1, k: 10 }, model, trace);
  await sae.dispose();
  const encodeMs = median(features);
  const matmulMs = median(product);
  log(`encode T=128: ${encodeMs.toFixed(1)} ms (features), ${median(scanWindow).toFixed(1)} ms (scan window), one encoder-sized MatMul ${matmulMs.toFixed(1)} ms`);

  // Scan throughput on the random GPT-2-small checkpoint.
  const checkpoint = ensureBenchCheckpoint();
  const corpus = path.join(BENCH_DIR, 'sae-corpus');
  fs.mkdirSync(corpus, { recursive: true });
  const words = ['the', 'residual', 'stream', 'attention', 'head', 'writes', 'into', 'layer', 'model', 'token', 'feature', 'sparse', 'autoencoder', 'reads', 'from', 'it', 'and', 'of', 'a', 'to'];
  let w = 12345;
  const files: string[] = [];
  const corpusMb = Number(process.argv[process.argv.indexOf('--corpus-mb') + 1] ?? 0) || 0;
  const fileCount = process.argv.includes('--corpus-mb') && corpusMb > 0 ? Math.ceil((corpusMb * 2 ** 20) / 100_000) : 8;
  // About 100 KB a file with --corpus-mb (16,000 words), else the small default corpus.
  const wordsPerFile = fileCount === 8 && !process.argv.includes('--corpus-mb') ? 600 : 16_000;
  for (let f = 0; f < fileCount; f++) {
    const parts: string[] = [];
    for (let i = 0; i < wordsPerFile; i++) {
      w = (Math.imul(w, 1664525) + 1013904223) >>> 0;
      parts.push(words[w % words.length]);
      if (i % 17 === 16) parts.push('.\n');
    }
    const file = path.join(corpus, `doc${f}.txt`);
    fs.writeFileSync(file, parts.join(' '));
    files.push(file);
  }
  const engine = new Engine({ threads });
  let scan: Record<string, unknown>;
  try {
    const m = await engine.load({ folder: checkpoint, name: 'gpt2-small-random', cacheDir: path.join(BENCH_DIR, 'cache') });
    const saeInfo = await engine.loadSae({ folder });
    await scanFiles(engine, { root: corpus, files: files.slice(0, 1), model: { name: m.name, fingerprint: m.fingerprint }, sae: saeInfo, window: 128 }); // warm-up
    const rssBefore = process.memoryUsage().rss;
    const s0 = performance.now();
    const rssSamples: number[] = [];
    const sampler = setInterval(() => rssSamples.push(Math.round(process.memoryUsage().rss / 2 ** 20)), 10_000);
    let index: Awaited<ReturnType<typeof scanFiles>>;
    try {
      index = await scanFiles(engine, { root: corpus, files, model: { name: m.name, fingerprint: m.fingerprint }, sae: saeInfo, window: 128, top: 10, maxFileBytes: 200_000 });
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - s0) / 1000;
    const rssAfter = process.memoryUsage().rss;
    scan = {
      tokens: index.tokens_scanned, seconds: round1(seconds), tokens_per_s: Math.round(index.tokens_scanned / seconds),
      corpus_bytes: files.reduce((n, f) => n + fs.statSync(f).size, 0), files: files.length,
      rss_mib_before: Math.round(rssBefore / 2 ** 20), rss_mib_after: Math.round(rssAfter / 2 ** 20), rss_mib_every_10s: rssSamples, contexts_kept: Object.values(index.features).reduce((n, l) => n + l.length, 0),
    };
    log(`scan: ${JSON.stringify(scan)}`);
  } finally {
    await engine.dispose();
  }
  return {
    threads,
    shapes: { positions: T, d_in: D, d_sae: S },
    load_ms: round1(loadMs),
    encode_ms: { features_k10: round1(encodeMs), features_min: round1(Math.min(...features)), scan_window: round1(median(scanWindow)), scan_window_min: round1(Math.min(...scanWindow)) },
    /** The same run's [128, 768] · [768, 24576] MatMul (2.42 GFLOP), W prepacked: what the machine gave. */
    encoder_matmul_ms: round1(matmulMs),
    encoder_matmul_gflops: round1((2 * T * D * S) / (matmulMs * 1e6)),
    features_over_matmul: Math.round((encodeMs / matmulMs) * 100) / 100,
    scan_window_over_matmul: Math.round((median(scanWindow) / matmulMs) * 100) / 100,
    load_average_1min: round1(os.loadavg()[0]),
    sample_mean_l0: round1(Array.from(sample.l0).reduce((a, b) => a + b, 0) / T),
    scan,
    targets: { encode_le_40ms: encodeMs <= 40, scan_ge_600_tokens_per_s: typeof scan.tokens_per_s === 'number' && scan.tokens_per_s >= 600 },
  };
}

if (require.main === module) {
  printWhenRunAlone(() => benchSae());
}
