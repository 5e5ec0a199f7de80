/**
 * openCheckpoint / readTensor / readWeights / ensureF32Weights on small random checkpoints
 * written in the Hugging Face layout, and one exact one-line message per kind of bad folder.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CheckpointError,
  ensureF32Weights,
  largestAllocation,
  openCheckpoint,
  readTensor,
  readUnembedColumn,
  readWeights,
  resetAllocationStats,
  type Checkpoint,
} from '../../src/engine/checkpoint';
import type { ModelWeights } from '../../src/engine/types';
import { canonicalTensors, makeTempFolder, randomWeights, removeTempFolder, writeCheckpoint, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const root = makeTempFolder('residual-lens-ckpt');
after(() => removeTempFolder(root));
let folderCount = 0;
function freshFolder(): string {
  return path.join(root, `c${folderCount++}`);
}

/** Asserts that `run` throws a CheckpointError with exactly `file: problem` (one line). */
function assertCheckpointError(run: () => unknown, file: string, problem: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof CheckpointError, `expected CheckpointError, got ${String(error)}`);
    assert.equal(error.message, `${file}: ${problem}`);
    assert.equal(error.file, file);
    assert.ok(!error.message.includes('\n'));
    return true;
  });
}

function assertSameWeights(actual: ModelWeights, expected: ModelWeights): void {
  assert.deepEqual(actual.config, expected.config);
  const a = canonicalTensors(actual);
  const e = canonicalTensors(expected);
  assert.equal(a.length, e.length);
  a.forEach((t, i) => assert.deepEqual(t.data, e[i]?.data, t.name)); // exact, element by element
}

interface RawFile {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  data: Buffer;
}

function readRaw(weightsPath: string): RawFile {
  const bytes = fs.readFileSync(weightsPath);
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as RawFile['header'], data: bytes.subarray(8 + n) };
}

/** Rewrites model.safetensors with a mutated header and the same data bytes. */
function rewriteHeader(weightsPath: string, mutate: (header: RawFile['header'], dataLength: number) => void, extraData = 0): void {
  const raw = readRaw(weightsPath);
  mutate(raw.header, raw.data.length);
  const json = Buffer.from(JSON.stringify(raw.header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(weightsPath, Buffer.concat([length, json, raw.data, Buffer.alloc(extraData)]));
}

function editConfig(folder: string, edit: (config: Record<string, unknown>) => void): void {
  const file = path.join(folder, 'config.json');
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(config);
  fs.writeFileSync(file, JSON.stringify(config));
}

/** A valid F32 checkpoint (no prefix) in a fresh folder. */
function validFolder(opts: Parameters<typeof writeCheckpoint>[2] = {}): { folder: string; weightsPath: string; configPath: string; weights: ModelWeights } {
  const folder = freshFolder();
  const weights = writeRandomCheckpoint(folder, { seed: 3 }, opts);
  return { folder, weightsPath: path.join(folder, 'model.safetensors'), configPath: path.join(folder, 'config.json'), weights };
}

// ---- valid checkpoints ----------------------------------------------------------------------------

for (const dtype of ['F32', 'F16'] as const) {
  for (const prefix of [false, true]) {
    test(`${dtype} checkpoint, ${prefix ? "'transformer.' keys" : 'bare keys'}, lm_head and mask buffers: reads back the stored weights exactly`, () => {
      const folder = freshFolder();
      const written = randomWeights({ seed: 5, nLayer: 2, nHead: 2, dModel: 16, dMlp: 24, nCtx: 32, dVocab: 64 });
      const stored = writeCheckpoint(folder, written, { dtype, prefix, lmHead: true, maskBuffers: true });
      if (dtype === 'F16') assert.notDeepEqual(stored.wte, written.wte, 'F16 storage rounds');
      const ckpt = openCheckpoint(folder);
      assert.equal(ckpt.dtype, dtype);
      assert.deepEqual(ckpt.config, { nLayer: 2, nHead: 2, dModel: 16, dHead: 8, dMlp: 24, nCtx: 32, dVocab: 64, layerNormEps: 1e-5 });
      assert.equal(ckpt.folder, folder);
      assert.equal(ckpt.weightsPath, path.join(folder, 'model.safetensors'));
      assert.equal(ckpt.fileSize, fs.statSync(ckpt.weightsPath).size);
      assert.equal(ckpt.tensors.size, 2 + 12 * 2 + 2 + 1, 'mask buffers are not weights; lm_head.weight is W_U');
      assert.ok(!ckpt.tensors.has('h.0.attn.bias'));
      assert.equal(ckpt.tensors.get('lm_head.weight'), ckpt.tensors.get('wte.weight'), 'a tied lm_head is wte itself');
      assert.equal(ckpt.untiedLmHead, false);
      assert.equal(ckpt.format, 'safetensors');
      const wte = ckpt.tensors.get('wte.weight');
      assert.deepEqual(wte && { name: wte.name, dtype: wte.dtype, shape: wte.shape, byteLength: wte.byteLength }, {
        name: 'wte.weight', dtype, shape: [64, 16], byteLength: 64 * 16 * (dtype === 'F16' ? 2 : 4),
      });
      assertSameWeights(readWeights(ckpt), stored);
      assert.deepEqual(readTensor(ckpt, 'h.1.mlp.c_fc.bias'), stored.layers[1]?.fcBias);
      assert.deepEqual(readUnembedColumn(ckpt, 63), stored.wte.subarray(63 * 16, 64 * 16));
      assert.deepEqual(readUnembedColumn(ckpt, 0), stored.wte.subarray(0, 16));
    });
  }
}

test('config: n_ctx without n_positions, n_inner null → 4·n_embd, layer_norm_epsilon read, model_type optional', () => {
  const { folder } = validFolder();
  editConfig(folder, (c) => {
    delete c['n_positions'];
    delete c['model_type'];
    c['layer_norm_epsilon'] = 1e-6;
  });
  const ckpt = openCheckpoint(folder);
  assert.equal(ckpt.config.nCtx, 32);
  assert.equal(ckpt.config.dMlp, 64);
  assert.equal(ckpt.config.layerNormEps, 1e-6);
});

test('fingerprint: stable across opens, changes when the file changes', () => {
  const { folder, weightsPath } = validFolder();
  const first = openCheckpoint(folder).fingerprint;
  assert.match(first, /^[0-9a-f]{32}$/);
  assert.equal(openCheckpoint(folder).fingerprint, first);
  const future = new Date(Date.now() + 60_000);
  fs.utimesSync(weightsPath, future, future);
  assert.notEqual(openCheckpoint(folder).fingerprint, first);
});

test('ensureF32Weights: an F32 checkpoint is used in place; offsets point at each tensor', () => {
  const { folder, weightsPath, weights } = validFolder();
  const ckpt = openCheckpoint(folder);
  const cacheDir = freshFolder();
  const { path: file, offsets } = ensureF32Weights(ckpt, cacheDir);
  assert.equal(file, weightsPath);
  assert.deepEqual(fs.readdirSync(cacheDir), [`${ckpt.fingerprint}.finite`], 'only the empty finite-scan marker is written');
  assert.equal(fs.statSync(path.join(cacheDir, `${ckpt.fingerprint}.finite`)).size, 0);
  const bytes = fs.readFileSync(file);
  for (const t of canonicalTensors(weights)) {
    const offset = offsets.get(t.name) as number;
    assert.deepEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + t.data.length * 4)), t.data, t.name);
  }
  assert.equal(offsets.size, 2 + 12 * 2 + 2 + 1);
  assert.equal(offsets.get('lm_head.weight'), offsets.get('wte.weight'), 'tied W_U reads wte');
});

test('ensureF32Weights: an F16 checkpoint gets an aligned F32 cache, written once and reused', () => {
  const { folder, weights } = validFolder({ dtype: 'F16', prefix: true });
  const ckpt = openCheckpoint(folder);
  const cacheDir = path.join(freshFolder(), 'nested', 'cache');
  const first = ensureF32Weights(ckpt, cacheDir);
  assert.equal(first.path, path.join(cacheDir, `${ckpt.fingerprint}.f32`));
  assert.deepEqual(fs.readdirSync(cacheDir), [`${ckpt.fingerprint}.f32`], 'no temporary file left');
  const bytes = fs.readFileSync(first.path);
  for (const t of canonicalTensors(weights)) {
    const offset = first.offsets.get(t.name) as number;
    assert.equal(offset % 64, 0, `${t.name} aligned`);
    assert.deepEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + t.data.length * 4)), t.data, t.name);
  }
  const mtime = fs.statSync(first.path).mtimeMs;
  const second = ensureF32Weights(openCheckpoint(folder), cacheDir);
  assert.equal(second.path, first.path);
  assert.deepEqual(second.offsets, first.offsets);
  assert.equal(fs.statSync(second.path).mtimeMs, mtime, 'reused, not rewritten');
});

test('ensureF32Weights: an F32 checkpoint whose header length is not a multiple of 4 gets an aligned cache', () => {
  const { folder, weightsPath, weights } = validFolder();
  rewriteHeader(weightsPath, () => undefined); // unpadded JSON: this header is 2 bytes past a multiple of 4
  const ckpt = openCheckpoint(folder);
  assert.equal((ckpt.tensors.get('wte.weight')?.fileOffset as number) % 4, 2);
  const cacheDir = freshFolder();
  const { path: file, offsets } = ensureF32Weights(ckpt, cacheDir);
  assert.equal(file, path.join(cacheDir, `${ckpt.fingerprint}.f32`));
  const bytes = fs.readFileSync(file);
  const offset = offsets.get('wpe.weight') as number;
  assert.deepEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + weights.wpe.length * 4)), weights.wpe);
});

test('ensureF32Weights: an unwritable cache folder gives a CheckpointError naming the cache file', () => {
  const { folder } = validFolder({ dtype: 'F16' });
  const ckpt = openCheckpoint(folder);
  const blocker = path.join(freshFolder(), 'file');
  fs.mkdirSync(path.dirname(blocker), { recursive: true });
  fs.writeFileSync(blocker, 'not a folder');
  const cacheDir = path.join(blocker, 'cache');
  assertCheckpointError(() => ensureF32Weights(ckpt, cacheDir), path.join(cacheDir, `${ckpt.fingerprint}.f32`), 'cannot write the F32 weights cache (a part of the path is not a folder)');
});

// ---- bad folders: one exact message each -----------------------------------------------------------

test('nonexistent path, a file instead of a folder, a folder without config.json', () => {
  const missing = path.join(root, 'does-not-exist');
  assertCheckpointError(() => openCheckpoint(missing), missing, 'no such folder');
  const withNul = path.join(root, 'a\u0000b');
  assert.throws(() => openCheckpoint(withNul), (error: unknown) => error instanceof CheckpointError && error.file === withNul && error.message === `${root}/a b: is not a valid path (it contains a NUL character)`);
  const { folder, weightsPath } = validFolder();
  assertCheckpointError(() => openCheckpoint(weightsPath), weightsPath, 'is a file, not a checkpoint folder (expected a folder holding config.json and model.safetensors)');
  fs.rmSync(path.join(folder, 'config.json'));
  assertCheckpointError(() => openCheckpoint(folder), path.join(folder, 'config.json'), 'not found (a checkpoint folder holds config.json and model.safetensors)');
});

test('missing model.safetensors: plain, sharded, pytorch_model.bin only; a folder or FIFO in its place', () => {
  const { folder, weightsPath } = validFolder();
  fs.rmSync(weightsPath);
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'not found (a checkpoint folder holds config.json and model.safetensors, model.safetensors.index.json with its shards, or pytorch_model.bin)');
  const binPath = path.join(folder, 'pytorch_model.bin');
  fs.writeFileSync(binPath, '');
  assertCheckpointError(() => openCheckpoint(folder), binPath, 'is not a PyTorch checkpoint (torch.save writes a zip file; this does not start like one)');
  const indexPath = path.join(folder, 'model.safetensors.index.json');
  fs.writeFileSync(indexPath, '{}');
  assertCheckpointError(() => openCheckpoint(folder), indexPath, 'has no "weight_map" object');
  fs.rmSync(indexPath);
  fs.rmSync(binPath);
  fs.mkdirSync(weightsPath);
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'is a folder, expected a file');
  fs.rmdirSync(weightsPath);
  const fifo = (() => {
    try {
      // A FIFO would block a plain open until a writer appears: it must be refused first.
      execFileSync('mkfifo', [weightsPath]);
      return true;
    } catch {
      return false;
    }
  })();
  if (fifo) assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'is not a regular file');
});

test('symlink loop', () => {
  const dir = freshFolder();
  fs.mkdirSync(dir);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  fs.symlinkSync(b, a);
  fs.symlinkSync(a, b);
  assertCheckpointError(() => openCheckpoint(a), a, 'symlink loop (too many levels of symbolic links)');
  const { folder, configPath } = validFolder();
  fs.rmSync(configPath);
  fs.symlinkSync(configPath, configPath);
  assertCheckpointError(() => openCheckpoint(folder), configPath, 'symlink loop (too many levels of symbolic links)');
});

test('unreadable model.safetensors (chmod 000)', (t) => {
  const { folder, weightsPath } = validFolder();
  fs.chmodSync(weightsPath, 0o000);
  try {
    let readable = true;
    try {
      fs.closeSync(fs.openSync(weightsPath, 'r'));
    } catch {
      readable = false;
    }
    if (readable) {
      t.skip('running as root: chmod 000 does not stop root from reading, so this case cannot be produced here');
      return;
    }
    assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'permission denied (cannot read it)');
  } finally {
    fs.chmodSync(weightsPath, 0o644);
  }
});

test('truncated files: inside the data, inside the header, inside the length', () => {
  const { folder, weightsPath } = validFolder();
  const full = fs.readFileSync(weightsPath);
  const raw = readRaw(weightsPath);
  const headerLength = full.length - raw.data.length - 8;
  // Cut in the middle of the data: the first tensor (in header order) that ends past the cut is named.
  const cut = 8 + headerLength + Math.floor(raw.data.length / 2);
  fs.writeFileSync(weightsPath, full.subarray(0, cut));
  const dataLength = cut - 8 - headerLength;
  const [firstPastCut, info] = Object.entries(raw.header).find(([name, e]) => name !== '__metadata__' && e.data_offsets[1] > dataLength) ?? ['', undefined];
  assert.ok(info);
  assertCheckpointError(() => openCheckpoint(folder), weightsPath,
    `tensor "${firstPastCut}": data_offsets [${info.data_offsets[0]}, ${info.data_offsets[1]}] run past the end of the data (${dataLength} bytes; truncated?)`);
  fs.writeFileSync(weightsPath, full.subarray(0, 100));
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, `header length ${headerLength} bytes runs past the end of the file (100 bytes; truncated?)`);
  fs.writeFileSync(weightsPath, full.subarray(0, 5));
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'file is 5 bytes, too short for the 8-byte header length (truncated?)');
  fs.writeFileSync(weightsPath, '');
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'file is 0 bytes, too short for the 8-byte header length (truncated?)');
});

test('a header length larger than the file, and a 100 MB header (refused without allocating it)', () => {
  const { folder, weightsPath } = validFolder();
  const full = fs.readFileSync(weightsPath);
  full.writeBigUInt64LE(BigInt(full.length), 0);
  fs.writeFileSync(weightsPath, full);
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, `header length ${full.length} bytes runs past the end of the file (${full.length} bytes; truncated?)`);

  // A real 100 MB header: a sparse file whose length field says 100,000,000.
  const fd = fs.openSync(weightsPath, 'w');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(100_000_000n);
  fs.writeSync(fd, length, 0, 8, 0);
  fs.ftruncateSync(fd, 8 + 100_000_000);
  fs.closeSync(fd);
  resetAllocationStats();
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'header length 100000000 bytes is over the 32 MiB limit');
  const configSize = fs.statSync(path.join(folder, 'config.json')).size;
  assert.equal(largestAllocation(), configSize, 'the largest buffer was config.json itself, not the header');
});

test('invalid header JSON', () => {
  const { folder, weightsPath } = validFolder();
  const full = fs.readFileSync(weightsPath);
  full[8] = 0x78; // 'x' in place of '{'
  fs.writeFileSync(weightsPath, full);
  assert.throws(() => openCheckpoint(folder), (error: unknown) => {
    assert.ok(error instanceof CheckpointError);
    assert.match(error.message, new RegExp(`^${escapeRegExp(weightsPath)}: header is not valid JSON \\(Unexpected token 'x', .*\\)$`));
    return true;
  });
});

test('overlapping and out-of-range offsets', () => {
  const { folder, weightsPath } = validFolder();
  const raw = readRaw(weightsPath);
  const wpe = raw.header['wpe.weight']?.data_offsets as [number, number];
  rewriteHeader(weightsPath, (h) => {
    const e = h['h.0.ln_1.weight'];
    if (e) e.data_offsets = [wpe[0], wpe[0] + 64];
  });
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, `tensors "wpe.weight" [${wpe[0]}, ${wpe[1]}) and "h.0.ln_1.weight" [${wpe[0]}, ${wpe[0] + 64}) overlap`);

  const other = validFolder();
  const size = readRaw(other.weightsPath).data.length;
  rewriteHeader(other.weightsPath, (h) => {
    const e = h['ln_f.bias'];
    if (e) e.data_offsets = [size, size + 64];
  });
  assertCheckpointError(() => openCheckpoint(other.folder), other.weightsPath, `tensor "ln_f.bias": data_offsets [${size}, ${size + 64}] run past the end of the data (${size} bytes; truncated?)`);
});

test('dtypes: unknown strings, and known but unsupported ones named', () => {
  const { folder, weightsPath } = validFolder();
  rewriteHeader(weightsPath, (h) => {
    const e = h['wte.weight'];
    if (e) e.dtype = 'Q4_K';
  });
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'tensor "wte.weight": unknown dtype "Q4_K"');
  const f16 = validFolder({ dtype: 'F16', prefix: true });
  rewriteHeader(f16.weightsPath, (h) => {
    const e = h['transformer.h.1.mlp.c_fc.weight'];
    if (e) e.dtype = 'I16';
  });
  assertCheckpointError(() => openCheckpoint(f16.folder), f16.weightsPath, 'tensor "transformer.h.1.mlp.c_fc.weight" has dtype I16; only F32, F16 and BF16 weights are supported');
});

test('mask buffers may have any known dtype: they are never read', () => {
  const { folder, weightsPath } = validFolder({ maskBuffers: true });
  rewriteHeader(weightsPath, (h) => {
    const e = h['h.0.attn.bias'];
    if (e) {
      e.dtype = 'U8';
      e.shape = [4, 1, 32, 32];
    }
  });
  assert.equal(openCheckpoint(folder).tensors.size, 28 + 1);
});

test('shape vs byte size, and shape vs config.json', () => {
  const { folder, weightsPath } = validFolder();
  rewriteHeader(weightsPath, (h) => {
    const e = h['ln_f.bias'];
    if (e) e.shape = [17];
  });
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'tensor "ln_f.bias": shape [17] of F32 needs 68 bytes but data_offsets [' +
    `${readRaw(weightsPath).header['ln_f.bias']?.data_offsets.join(', ')}] hold 64`);
  const other = validFolder();
  rewriteHeader(other.weightsPath, (h) => {
    const e = h['h.0.attn.c_attn.weight'];
    if (e) e.shape = [48, 16];
  });
  assertCheckpointError(() => openCheckpoint(other.folder), other.weightsPath, 'tensor "h.0.attn.c_attn.weight" has shape [48, 16] but config.json implies [n_embd, 3·n_embd] = [16, 48]');
});

test('missing, extra and duplicated tensors; an untied lm_head', () => {
  const { folder, weightsPath } = validFolder();
  rewriteHeader(weightsPath, (h) => {
    delete h['ln_f.bias'];
  });
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'missing tensor "ln_f.bias"');
  rewriteHeader(weightsPath, (h) => {
    delete h['h.1.ln_2.weight'];
    delete h['wpe.weight'];
  });
  assertCheckpointError(() => openCheckpoint(folder), weightsPath, 'missing 3 tensors "wpe.weight", "h.1.ln_2.weight", "ln_f.bias"');

  const b = validFolder();
  rewriteHeader(b.weightsPath, (h) => {
    const e = h['ln_f.bias'];
    if (e) h['score.weight'] = e;
    delete h['ln_f.bias'];
  });
  assertCheckpointError(() => openCheckpoint(b.folder), b.weightsPath, 'missing tensor "ln_f.bias"');
  const extra = validFolder();
  rewriteHeader(extra.weightsPath, (h, dataLength) => {
    h['score.weight'] = { dtype: 'F32', shape: [2, 8], data_offsets: [dataLength, dataLength + 64] };
  }, 64);
  assert.deepEqual(openCheckpoint(extra.folder).notes, ['ignored 1 tensor that GPT-2\'s language model does not use: "score.weight"']);

  const c = validFolder();
  rewriteHeader(c.weightsPath, (h, dataLength) => {
    h['transformer.ln_f.bias'] = { dtype: 'F32', shape: [16], data_offsets: [dataLength, dataLength + 64] };
  }, 64);
  assertCheckpointError(() => openCheckpoint(c.folder), c.weightsPath, 'tensor "ln_f.bias" appears twice ("ln_f.bias" and "transformer.ln_f.bias")');

  const d = freshFolder();
  const weights = randomWeights({ seed: 9 });
  writeCheckpoint(d, weights, { lmHead: true });
  const dPath = path.join(d, 'model.safetensors');
  const bytes = fs.readFileSync(dPath);
  const raw = readRaw(dPath);
  const lmHeadStart = bytes.length - raw.data.length + (raw.header['lm_head.weight']?.data_offsets[0] as number);
  bytes.writeFloatLE(bytes.readFloatLE(lmHeadStart + 4 * 37) + 1, lmHeadStart + 4 * 37);
  fs.writeFileSync(dPath, bytes);
  const untied = openCheckpoint(d);
  assert.equal(untied.untiedLmHead, true, 'a differing lm_head is used as W_U');
  assert.notEqual(untied.tensors.get('lm_head.weight'), untied.tensors.get('wte.weight'));
  const row = readUnembedColumn(untied, 2);
  assert.equal(row[5], Math.fround((weights.wte[2 * 16 + 5] as number) + 1), 'W_U column 2 is the edited lm_head row');
  assert.deepEqual(readWeights(untied).lmHead?.subarray(0, 37), weights.wte.subarray(0, 37));
});

test('config.json that lies about sizes or is not a GPT-2 config', () => {
  const { folder, configPath, weightsPath } = validFolder();
  const cases: [(c: Record<string, unknown>) => void, string, string][] = [
    [(c) => { c['n_embd'] = 32; }, weightsPath, 'tensor "wte.weight" has shape [64, 16] but config.json implies [vocab_size, n_embd] = [64, 32]'],
    [(c) => { c['vocab_size'] = 50257; }, weightsPath, 'tensor "wte.weight" has shape [64, 16] but config.json implies [vocab_size, n_embd] = [50257, 16]'],
    [(c) => { c['n_positions'] = 1024; }, weightsPath, 'tensor "wpe.weight" has shape [32, 16] but config.json implies [n_positions, n_embd] = [1024, 16]'],
    [(c) => { c['n_inner'] = 32; }, weightsPath, 'tensor "h.0.mlp.c_fc.weight" has shape [16, 64] but config.json implies [n_embd, n_inner] = [16, 32]'],
    [(c) => { c['n_layer'] = 3; }, weightsPath, 'holds tensors for 2 layers but config.json says n_layer = 3'],
    [(c) => { c['n_layer'] = 1e9; }, weightsPath, 'holds tensors for 2 layers but config.json says n_layer = 1000000000'],
    [(c) => { c['n_head'] = 3; }, configPath, 'n_embd = 16 is not a multiple of n_head = 3'],
    [(c) => { c['n_embd'] = -16; }, configPath, '"n_embd" is -16, expected a positive integer'],
    [(c) => { c['n_embd'] = '16'; }, configPath, '"n_embd" is "16", expected a positive integer'],
    [(c) => { c['n_layer'] = 2.5; }, configPath, '"n_layer" is 2.5, expected a positive integer'],
    [(c) => { c['n_layer'] = [[[1]]]; }, configPath, '"n_layer" is [[…]], expected a positive integer'],
    [(c) => { delete c['vocab_size']; }, configPath, 'is missing "vocab_size"'],
    [(c) => { delete c['n_positions']; delete c['n_ctx']; }, configPath, 'is missing "n_ctx"'],
    [(c) => { c['layer_norm_epsilon'] = 0; }, configPath, '"layer_norm_epsilon" is 0, expected a positive number'],
    [(c) => { c['model_type'] = 'llama'; }, configPath, 'model_type is "llama"; only GPT-2 checkpoints (model_type "gpt2") are supported'],
    [(c) => { delete c['model_type']; c['architectures'] = ['LlamaForCausalLM']; }, configPath, 'architectures ["LlamaForCausalLM"] name no GPT-2 model; only GPT-2 checkpoints are supported'],
    [(c) => { c['activation_function'] = 'relu'; }, configPath, 'activation_function "relu" is not supported (expected gelu_new, gelu_pytorch_tanh, gelu_fast)'],
    [(c) => { c['scale_attn_by_inverse_layer_idx'] = true; }, configPath, 'scale_attn_by_inverse_layer_idx = true is not supported'],
  ];
  const original = fs.readFileSync(configPath);
  for (const [edit, file, problem] of cases) {
    fs.writeFileSync(configPath, original);
    editConfig(folder, edit);
    assertCheckpointError(() => openCheckpoint(folder), file, problem);
  }
  fs.writeFileSync(configPath, '{"n_layer": 2,');
  assertCheckpointError(() => openCheckpoint(folder), configPath, 'is not valid JSON (Expected double-quoted property name in JSON at position 14)');
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  fs.writeFileSync(configPath, original.toString('utf8').replace('"n_layer": 2', `"n_layer": ${deep}`));
  assertCheckpointError(() => openCheckpoint(folder), configPath, '"n_layer" is [[…]], expected a positive integer');
  fs.writeFileSync(configPath, '[]');
  assertCheckpointError(() => openCheckpoint(folder), configPath, 'is not a JSON object');
  fs.writeFileSync(configPath, Buffer.alloc(1024 * 1024 + 1, 0x20));
  assertCheckpointError(() => openCheckpoint(folder), configPath, 'is 1048577 bytes, over the 1 MiB limit for this file');
  fs.writeFileSync(configPath, original);
  assert.equal(openCheckpoint(folder).config.nLayer, 2, 'fine again once repaired');
});

test('reads after the file changed, and bad token ids, are CheckpointErrors; an open checkpoint stays usable after other failures', () => {
  const { folder, weightsPath, weights } = validFolder();
  const ckpt: Checkpoint = openCheckpoint(folder);
  assertCheckpointError(() => openCheckpoint(path.join(root, 'nope')), path.join(root, 'nope'), 'no such folder');
  assert.deepEqual(readTensor(ckpt, 'ln_f.weight'), weights.lnFinalWeight);
  assertCheckpointError(() => readTensor(ckpt, 'h.9.ln_1.weight'), weightsPath, 'no tensor "h.9.ln_1.weight" in this checkpoint');
  assertCheckpointError(() => readUnembedColumn(ckpt, 64), weightsPath, 'token id 64 is outside 0..63');
  assertCheckpointError(() => readUnembedColumn(ckpt, -1), weightsPath, 'token id -1 is outside 0..63');
  assertCheckpointError(() => readUnembedColumn(ckpt, 1.5), weightsPath, 'token id 1.5 is outside 0..63');
  fs.truncateSync(weightsPath, ckpt.fileSize - 100);
  assertCheckpointError(() => readWeights(ckpt), weightsPath, `changed since it was opened (now ${ckpt.fileSize - 100} bytes, was ${ckpt.fileSize}); load the model again`);
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
