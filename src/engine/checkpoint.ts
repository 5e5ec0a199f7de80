/**
 * Opens a Hugging Face GPT-2 checkpoint folder (config.json + weights) and reads its tensors on
 * demand. The weights may be one model.safetensors, sharded safetensors with
 * model.safetensors.index.json, pytorch_model.bin, or .bin shards with pytorch_model.bin.index.json;
 * each format has its own reader under
 * formats/, which locates every tensor as a byte range of one file (F32, F16 or BF16).
 *
 * Everything about the folder is validated before any tensor byte is read: the config's sizes,
 * each file's header against its real size, and every expected tensor's name, dtype and shape
 * against the config. After that, every read is sized by a checked shape, so no allocation is
 * ever sized by an unchecked value from a file: the largest buffer is bounded by the header
 * caps and the file sizes while parsing and by 2 × the file size when reading (16-bit values
 * plus their F32 values). Every failure is a CheckpointError whose message is one line:
 * "<file>: <problem>".
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayerWeights, ModelConfig, ModelWeights } from './types';
import { assertLittleEndian, describeJsonValue, oneLine, quote } from './safetensors';
import { firstNonFinite, indexInShape, nonFiniteName, toF32 } from './formats/dtypes';
import {
  allocateBytes,
  CheckpointError,
  describeFsError,
  exists,
  openRegularFile,
  readAt,
  readSmallFile,
  statOrThrow,
  writeAllAt,
} from './formats/fileAccess';
import { readSafetensorsFile } from './formats/safetensorsFile';
import { BIN_INDEX_FILE, INDEX_FILE, readShardedBin, readShardedSafetensors } from './formats/sharded';
import { BIN_FILE, readTorchBin } from './formats/torchBin';
import { isWeightDtype, WEIGHT_DTYPE_BYTES, type CheckpointFormat, type SourceFile, type StoredTensor, type WeightDtype, type WeightSource } from './formats/types';

export { CheckpointError, largestAllocation, resetAllocationStats } from './formats/fileAccess';
export type { CheckpointFormat, WeightDtype } from './formats/types';

export interface TensorEntry {
  /** Canonical name: no 'transformer.' prefix. */
  readonly name: string;
  /** The name as stored in the file. */
  readonly storedName: string;
  readonly dtype: WeightDtype;
  readonly shape: readonly number[];
  /** The file that holds it (a shard, the .bin, or model.safetensors). */
  readonly file: string;
  /** Absolute byte offset in `file`. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface Checkpoint {
  readonly folder: string;
  readonly configPath: string;
  /** The weights file named in messages: model.safetensors, the shard index, or pytorch_model.bin. */
  readonly weightsPath: string;
  readonly format: CheckpointFormat;
  /** Every file the tensors live in, with its size and mtime when opened. */
  readonly files: readonly SourceFile[];
  readonly config: ModelConfig;
  /** 'F32' when every weight is F32, else the first other dtype found (F16 or BF16). */
  readonly dtype: WeightDtype;
  /**
   * The GPT-2 weights by canonical name (mask buffers are not listed), plus UNEMBED_NAME:
   * the stored lm_head.weight when it is untied, else the same bytes as wte.weight.
   */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** True when a stored lm_head.weight differs from wte.weight and is used as W_U. */
  readonly untiedLmHead: boolean;
  /** One-line notes for the model info: ignored extra keys, the untied head, index remarks. */
  readonly notes: readonly string[];
  /** sha256 of sizes, mtimes and the layout bytes: changes whenever a weights file does. */
  readonly fingerprint: string;
  /** Total size of the weights files. */
  readonly fileSize: number;
}

/** W_U's name in `Checkpoint.tensors` and in the graphs ([V, D], row t is W_U[:, t]). */
export const UNEMBED_NAME = 'lm_head.weight';
/** Largest config.json accepted (real ones are about 1 KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Elements converted per step when comparing lm_head, scanning or writing the F32 cache (bounds memory). */
const CHUNK_ELEMENTS = 1 << 20;
/** Tensors in the F32 cache start at multiples of this (friendly to memory mapping). */
const CACHE_ALIGNMENT = 64;

const PREFIX = 'transformer.';
const IGNORED_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
const LAYER_TENSOR = /^h\.(\d+)\./;
const SUPPORTED_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];
const WEIGHTS_FILE = 'model.safetensors';

// ---- opening ------------------------------------------------------------------------------------

/**
 * Validates config.json and the weights' layout against the files; reads no tensor data except
 * to compare a stored lm_head.weight with wte.weight.
 */
export function openCheckpoint(folder: string): Checkpoint {
  assertLittleEndian();
  const absolute = path.resolve(folder);
  const folderStat = statOrThrow(absolute, 'no such folder');
  if (!folderStat.isDirectory()) {
    throw new CheckpointError(absolute, 'is a file, not a checkpoint folder (expected a folder holding config.json and model.safetensors)');
  }
  const configPath = path.join(absolute, 'config.json');
  if (!exists(configPath)) {
    throw new CheckpointError(configPath, 'not found (a checkpoint folder holds config.json and model.safetensors)');
  }
  const config = parseConfig(configPath, readSmallFile(configPath, MAX_CONFIG_BYTES));
  const source = readWeightSource(absolute);
  const { tensors, lmHead, notes } = matchTensors(source, config);
  const wte = tensors.get('wte.weight') as TensorEntry;
  const untiedLmHead = lmHead !== undefined && !sameValues(source, lmHead, wte);
  tensors.set(UNEMBED_NAME, untiedLmHead ? (lmHead as TensorEntry) : wte);
  if (untiedLmHead) notes.unshift(`uses the stored lm_head.weight as the unembedding (it differs from wte.weight: an untied head)`);

  const weights = [...tensors.values()];
  const dtype = weights.find((t) => t.dtype !== 'F32')?.dtype ?? 'F32';
  const hash = crypto.createHash('sha256');
  // Sizes and mtimes, then the layout bytes: for one model.safetensors exactly the fingerprint
  // earlier versions computed, so existing F32 and circuits caches stay valid.
  for (const file of source.files) hash.update(`${file.size}:${file.mtimeMs}:`);
  for (const bytes of source.layoutBytes) hash.update(bytes);
  const fingerprint = hash.digest('hex').slice(0, 32);
  const fileSize = source.files.reduce((sum, f) => sum + f.size, 0);
  return {
    folder: absolute, configPath, weightsPath: source.primaryFile, format: source.format, files: source.files,
    config, dtype, tensors, untiedLmHead, notes: [...source.notes, ...notes], fingerprint, fileSize,
  };
}

/** The folder's weights, in transformers' order of preference: safetensors, sharded safetensors, .bin. */
function readWeightSource(folder: string): WeightSource {
  const single = path.join(folder, WEIGHTS_FILE);
  if (exists(single)) {
    const contents = readSafetensorsFile(single);
    return { format: 'safetensors', primaryFile: single, files: [contents.file], tensors: contents.tensors, layoutBytes: [contents.headerBytes], notes: [] };
  }
  if (exists(path.join(folder, INDEX_FILE))) return readShardedSafetensors(folder);
  if (exists(path.join(folder, BIN_FILE))) return readTorchBin(path.join(folder, BIN_FILE));
  if (exists(path.join(folder, BIN_INDEX_FILE))) return readShardedBin(folder);
  throw new CheckpointError(single, `not found (a checkpoint folder holds config.json and ${WEIGHTS_FILE}, ${INDEX_FILE} with its shards, or ${BIN_FILE})`);
}

// ---- config.json --------------------------------------------------------------------------------

/** ModelConfig from config.json's text; sizes are checked to be positive integers that fit together. */
export function parseConfig(configPath: string, bytes: Uint8Array): ModelConfig {
  const fail = (problem: string): never => {
    throw new CheckpointError(configPath, problem);
  };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    fail(`is not valid JSON (${oneLine(error instanceof Error ? error.message : String(error), 120)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('is not a JSON object');
  const c = json as Record<string, unknown>;

  const modelType = c['model_type'];
  if (modelType !== undefined && modelType !== 'gpt2') {
    fail(`model_type is ${describeJsonValue(modelType)}; only GPT-2 checkpoints (model_type "gpt2") are supported`);
  }
  const architectures = c['architectures'];
  if (modelType === undefined && Array.isArray(architectures) && !architectures.some((a) => typeof a === 'string' && a.startsWith('GPT2'))) {
    fail(`architectures ${describeJsonValue(architectures)} name no GPT-2 model; only GPT-2 checkpoints are supported`);
  }
  const activation = c['activation_function'];
  if (activation !== undefined && !(typeof activation === 'string' && SUPPORTED_ACTIVATIONS.includes(activation))) {
    fail(`activation_function ${describeJsonValue(activation)} is not supported (expected ${SUPPORTED_ACTIVATIONS.join(', ')})`);
  }
  if (c['scale_attn_weights'] === false) fail('scale_attn_weights = false is not supported (GPT-2 divides scores by sqrt(d_head))');
  if (c['scale_attn_by_inverse_layer_idx'] === true) fail('scale_attn_by_inverse_layer_idx = true is not supported');

  const size = (key: string, value: unknown = c[key]): number => {
    if (value === undefined) return fail(`is missing "${key}"`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      return fail(`"${key}" is ${describeJsonValue(value)}, expected a positive integer`);
    }
    return value;
  };
  const nLayer = size('n_layer');
  const nHead = size('n_head');
  const dModel = size('n_embd');
  const nCtx = c['n_positions'] !== undefined ? size('n_positions') : size('n_ctx');
  const dVocab = size('vocab_size');
  const nInner = c['n_inner'];
  const dMlp = nInner === undefined || nInner === null ? 4 * dModel : size('n_inner', nInner);
  if (dModel % nHead !== 0) fail(`n_embd = ${dModel} is not a multiple of n_head = ${nHead}`);

  const epsValue = c['layer_norm_epsilon'];
  let layerNormEps = 1e-5; // Hugging Face's GPT2Config default
  if (epsValue !== undefined) {
    if (typeof epsValue !== 'number' || !Number.isFinite(epsValue) || epsValue <= 0) {
      fail(`"layer_norm_epsilon" is ${describeJsonValue(epsValue)}, expected a positive number`);
    }
    layerNormEps = epsValue as number;
  }
  return { nLayer, nHead, dModel, dHead: dModel / nHead, dMlp, nCtx, dVocab, layerNormEps };
}

// ---- tensors vs config --------------------------------------------------------------------------

interface ExpectedTensor {
  readonly shape: readonly number[];
  /** How the shape follows from config.json, for messages: "[n_embd, 3·n_embd]". */
  readonly formula: string;
}

/** Every tensor a GPT-2 checkpoint must hold, with the shape config.json implies. */
export function expectedTensors(config: ModelConfig): Map<string, ExpectedTensor> {
  const D = config.dModel;
  const M = config.dMlp;
  const out = new Map<string, ExpectedTensor>([
    ['wte.weight', { shape: [config.dVocab, D], formula: '[vocab_size, n_embd]' }],
    ['wpe.weight', { shape: [config.nCtx, D], formula: '[n_positions, n_embd]' }],
  ]);
  const vectorD = { shape: [D], formula: '[n_embd]' };
  for (let l = 0; l < config.nLayer; l++) {
    out.set(`h.${l}.ln_1.weight`, vectorD);
    out.set(`h.${l}.ln_1.bias`, vectorD);
    out.set(`h.${l}.attn.c_attn.weight`, { shape: [D, 3 * D], formula: '[n_embd, 3·n_embd]' });
    out.set(`h.${l}.attn.c_attn.bias`, { shape: [3 * D], formula: '[3·n_embd]' });
    out.set(`h.${l}.attn.c_proj.weight`, { shape: [D, D], formula: '[n_embd, n_embd]' });
    out.set(`h.${l}.attn.c_proj.bias`, vectorD);
    out.set(`h.${l}.ln_2.weight`, vectorD);
    out.set(`h.${l}.ln_2.bias`, vectorD);
    out.set(`h.${l}.mlp.c_fc.weight`, { shape: [D, M], formula: '[n_embd, n_inner]' });
    out.set(`h.${l}.mlp.c_fc.bias`, { shape: [M], formula: '[n_inner]' });
    out.set(`h.${l}.mlp.c_proj.weight`, { shape: [M, D], formula: '[n_inner, n_embd]' });
    out.set(`h.${l}.mlp.c_proj.bias`, vectorD);
  }
  out.set('ln_f.weight', vectorD);
  out.set('ln_f.bias', vectorD);
  return out;
}

function matchTensors(
  source: WeightSource,
  config: ModelConfig,
): { tensors: Map<string, TensorEntry>; lmHead: TensorEntry | undefined; notes: string[] } {
  const fail = (problem: string, file = source.primaryFile): never => {
    throw new CheckpointError(file, problem);
  };
  // Canonical names first, so duplicates and the layer count are known before anything else.
  const byName = new Map<string, StoredTensor>();
  let fileLayers = 0;
  for (const info of source.tensors) {
    const name = info.name.startsWith(PREFIX) ? info.name.slice(PREFIX.length) : info.name;
    const previous = byName.get(name);
    if (previous !== undefined) fail(`tensor ${quote(name)} appears twice (${quote(previous.name)} and ${quote(info.name)})`);
    byName.set(name, info);
    const layer = LAYER_TENSOR.exec(name);
    if (layer !== null) fileLayers = Math.max(fileLayers, Number(layer[1]) + 1);
  }
  if (fileLayers !== config.nLayer) {
    fail(`holds tensors for ${fileLayers} layers but config.json says n_layer = ${config.nLayer}`);
  }

  const expected = expectedTensors(config);
  const tensors = new Map<string, TensorEntry>();
  const extra: string[] = [];
  let lmHead: TensorEntry | undefined;
  for (const [name, info] of byName) {
    if (IGNORED_BUFFER.test(name)) continue; // causal-mask buffers: the graph builds its own mask
    const want = name === UNEMBED_NAME ? { shape: [config.dVocab, config.dModel], formula: '[vocab_size, n_embd]' } : expected.get(name);
    if (want === undefined) {
      // Fine-tunes carry value heads, classifier heads and the like: not part of the LM, so not read.
      extra.push(info.name);
      continue;
    }
    if (!sameShape(info.shape, want.shape)) {
      fail(`tensor ${quote(info.name)} has shape [${info.shape.join(', ')}] but config.json implies ${want.formula} = [${want.shape.join(', ')}]`, info.file);
    }
    const entry = toEntry(name, info);
    if (name === UNEMBED_NAME) lmHead = entry;
    else tensors.set(name, entry);
  }
  const missing = [...expected.keys()].filter((name) => !tensors.has(name));
  if (missing.length > 0) {
    const shown = missing.slice(0, 6).map((name) => quote(name)).join(', ');
    fail(`missing ${missing.length === 1 ? 'tensor' : `${missing.length} tensors`} ${shown}${missing.length > 6 ? ', …' : ''}`);
  }
  const notes: string[] = [];
  if (extra.length > 0) {
    const shown = extra.slice(0, 4).map((name) => quote(name, 60)).join(', ');
    notes.push(`ignored ${extra.length} tensor${extra.length === 1 ? '' : 's'} that GPT-2's language model does not use: ${shown}${extra.length > 4 ? ', …' : ''}`);
  }
  return { tensors, lmHead, notes };
}

function toEntry(name: string, info: StoredTensor): TensorEntry {
  if (!isWeightDtype(info.dtype)) {
    throw new CheckpointError(info.file, `tensor ${quote(info.name)} has dtype ${info.dtype}; only F32, F16 and BF16 weights are supported`);
  }
  if (info.unreadable !== undefined) throw new CheckpointError(info.file, `tensor ${quote(info.name)} ${info.unreadable}`);
  return { name, storedName: info.name, dtype: info.dtype, shape: info.shape, file: info.file, fileOffset: info.fileOffset, byteLength: info.byteLength };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** Whether a stored lm_head.weight holds exactly wte.weight's values (tied), compared chunk by chunk. */
function sameValues(source: WeightSource, lmHead: TensorEntry, wte: TensorEntry): boolean {
  if (lmHead.file === wte.file && lmHead.fileOffset === wte.fileOffset && lmHead.dtype === wte.dtype) return true; // one storage (a .bin's shared tensor)
  const sizes = new Map(source.files.map((f) => [f.path, f.size]));
  return withFiles(sizes, (fdOf) => {
    const elements = elementCount(wte);
    for (let start = 0; start < elements; start += CHUNK_ELEMENTS) {
      const count = Math.min(CHUNK_ELEMENTS, elements - start);
      const a = readElements(fdOf, wte, start, count);
      const b = readElements(fdOf, lmHead, start, count);
      const aBits = new Uint32Array(a.buffer, a.byteOffset, count);
      const bBits = new Uint32Array(b.buffer, b.byteOffset, count);
      for (let i = 0; i < count; i++) if (aBits[i] !== bBits[i]) return false;
    }
    return true;
  });
}

// ---- reading ------------------------------------------------------------------------------------

/** One tensor as F32 values (F16 and BF16 converted), shaped as its entry says. */
export function readTensor(ckpt: Checkpoint, name: string): Float32Array {
  const entry = ckpt.tensors.get(name);
  if (entry === undefined) throw new CheckpointError(ckpt.weightsPath, `no tensor ${quote(name)} in this checkpoint`);
  return withCheckedFiles(ckpt, (fdOf) => readElements(fdOf, entry, 0, elementCount(entry)));
}

/** Every weight as F32, in the ModelWeights layout (GPT-2's own [in, out] Conv1D layout). */
export function readWeights(ckpt: Checkpoint): ModelWeights {
  return withCheckedFiles(ckpt, (fdOf) => {
    const read = (name: string): Float32Array => {
      const entry = ckpt.tensors.get(name);
      if (entry === undefined) throw new CheckpointError(ckpt.weightsPath, `no tensor ${quote(name)} in this checkpoint`);
      return readElements(fdOf, entry, 0, elementCount(entry));
    };
    const layers: LayerWeights[] = [];
    for (let l = 0; l < ckpt.config.nLayer; l++) {
      const p = `h.${l}.`;
      layers.push({
        ln1Weight: read(`${p}ln_1.weight`),
        ln1Bias: read(`${p}ln_1.bias`),
        attnWeight: read(`${p}attn.c_attn.weight`),
        attnBias: read(`${p}attn.c_attn.bias`),
        attnProjWeight: read(`${p}attn.c_proj.weight`),
        attnProjBias: read(`${p}attn.c_proj.bias`),
        ln2Weight: read(`${p}ln_2.weight`),
        ln2Bias: read(`${p}ln_2.bias`),
        fcWeight: read(`${p}mlp.c_fc.weight`),
        fcBias: read(`${p}mlp.c_fc.bias`),
        mlpProjWeight: read(`${p}mlp.c_proj.weight`),
        mlpProjBias: read(`${p}mlp.c_proj.bias`),
      });
    }
    return {
      config: ckpt.config,
      wte: read('wte.weight'),
      wpe: read('wpe.weight'),
      layers,
      lnFinalWeight: read('ln_f.weight'),
      lnFinalBias: read('ln_f.bias'),
      ...(ckpt.untiedLmHead ? { lmHead: read(UNEMBED_NAME) } : {}),
    };
  });
}

/** [D] the unembedding column W_U[:, tokenId]: row tokenId of lm_head.weight, which is wte when tied. */
export function readUnembedColumn(ckpt: Checkpoint, tokenId: number): Float32Array {
  const { dVocab, dModel } = ckpt.config;
  if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= dVocab) {
    throw new CheckpointError(ckpt.weightsPath, `token id ${tokenId} is outside 0..${dVocab - 1}`);
  }
  const unembed = ckpt.tensors.get(UNEMBED_NAME) as TensorEntry;
  return withCheckedFiles(ckpt, (fdOf) => readElements(fdOf, unembed, tokenId * dModel, dModel));
}

/** Names of the tensors the graphs read, in cache order (lm_head only when it is its own tensor). */
function graphTensorNames(ckpt: Checkpoint): string[] {
  const names = [...expectedTensors(ckpt.config).keys()];
  if (ckpt.untiedLmHead) names.push(UNEMBED_NAME);
  return names;
}

/**
 * Where the F32 bytes of every weight live on disk, for ONNX external data: the weights file
 * itself when it is one file whose weights are all F32 at 4-byte-aligned offsets (a
 * model.safetensors, or a .bin, whose records torch.save aligns to 64 bytes); otherwise a cache
 * file `<fingerprint>.f32` under cacheDir (tensors in canonical order, each 64-byte aligned),
 * written once to a temporary name and renamed, and reused while the fingerprint matches. The
 * checkpoint's own folder is never written to (it may be the read-only Hugging Face cache).
 *
 * Every value passes the finite check on the way (a NaN or Infinity refuses the checkpoint,
 * naming the tensor and index); a reused cache file was checked when it was written, and an
 * in-place file once per fingerprint (`<fingerprint>.finite`, an empty marker in cacheDir).
 * `offsets` includes UNEMBED_NAME (aliasing wte.weight when tied).
 */
export function ensureF32Weights(ckpt: Checkpoint, cacheDir: string): { readonly path: string; readonly offsets: ReadonlyMap<string, number> } {
  const names = graphTensorNames(ckpt);
  const entryOf = (name: string): TensorEntry => ckpt.tensors.get(name) as TensorEntry;
  // In place only when every tensor is F32, in one file, 4-byte aligned (an unpadded header shifts them all).
  const inPlace = ckpt.files.length === 1 && names.every((name) => entryOf(name).dtype === 'F32' && entryOf(name).fileOffset % 4 === 0);
  if (inPlace) {
    // The finite scan reads every weight (about 0.6 s for GPT-2 small, warm): done once per
    // fingerprint, remembered by an empty marker file in our cache (never beside the weights).
    const marker = path.join(path.resolve(cacheDir), `${ckpt.fingerprint}.finite`);
    if (cachedFileSize(marker) !== 0) {
      withCheckedFiles(ckpt, (fdOf) => {
        for (const name of names) {
          const entry = entryOf(name);
          const elements = elementCount(entry);
          for (let start = 0; start < elements; start += CHUNK_ELEMENTS) readElements(fdOf, entry, start, Math.min(CHUNK_ELEMENTS, elements - start));
        }
      });
      try {
        fs.mkdirSync(path.dirname(marker), { recursive: true });
        fs.writeFileSync(marker, '');
      } catch {
        // Best effort: an unwritable cache only means the next load scans again.
      }
    }
    const offsets = new Map(names.map((name) => [name, entryOf(name).fileOffset]));
    offsets.set(UNEMBED_NAME, entryOf(UNEMBED_NAME).fileOffset);
    // The real file: ORT refuses external data that resolves outside the model's folder, and a
    // Hugging Face snapshot's file is a symlink into ../../blobs.
    return { path: realPath((ckpt.files[0] as SourceFile).path), offsets };
  }
  const offsets = new Map<string, number>();
  let total = 0;
  for (const name of names) {
    total = Math.ceil(total / CACHE_ALIGNMENT) * CACHE_ALIGNMENT;
    offsets.set(name, total);
    total += elementCount(entryOf(name)) * 4;
  }
  if (!ckpt.untiedLmHead) offsets.set(UNEMBED_NAME, offsets.get('wte.weight') as number);
  const cachePath = path.join(path.resolve(cacheDir), `${ckpt.fingerprint}.f32`);
  if (cachedFileSize(cachePath) === total) return { path: cachePath, offsets };

  const temporary = `${cachePath}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const cacheFail = (error: unknown): never => {
    throw new CheckpointError(cachePath, `cannot write the F32 weights cache (${describeFsError(error)})`);
  };
  let out: number | undefined;
  try {
    fs.mkdirSync(path.dirname(cachePath), { recursive: true });
    out = fs.openSync(temporary, 'w');
  } catch (error) {
    cacheFail(error);
  }
  const outFd = out as number;
  try {
    withCheckedFiles(ckpt, (fdOf) => {
      for (const name of names) {
        const entry = entryOf(name);
        const elements = elementCount(entry);
        for (let start = 0; start < elements; start += CHUNK_ELEMENTS) {
          const values = readElements(fdOf, entry, start, Math.min(CHUNK_ELEMENTS, elements - start));
          try {
            writeAllAt(outFd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength), (offsets.get(name) as number) + start * 4);
          } catch (error) {
            cacheFail(error);
          }
        }
      }
    });
    try {
      fs.ftruncateSync(outFd, total); // pads the tail when the last tensor is empty
      fs.fsyncSync(outFd);
      fs.closeSync(outFd);
      out = undefined;
      fs.renameSync(temporary, cachePath);
    } catch (error) {
      cacheFail(error);
    }
  } finally {
    if (out !== undefined) fs.closeSync(out);
    fs.rmSync(temporary, { force: true });
  }
  return { path: cachePath, offsets };
}

function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch (error) {
    throw new CheckpointError(file, describeFsError(error));
  }
}

/** Size of an existing cache file, or -1 when there is none (or it cannot be a usable file). */
function cachedFileSize(cachePath: string): number {
  try {
    const stat = fs.statSync(cachePath);
    return stat.isFile() ? stat.size : -1;
  } catch {
    return -1;
  }
}

function elementCount(entry: TensorEntry): number {
  return entry.byteLength / WEIGHT_DTYPE_BYTES[entry.dtype];
}

type FdOf = (file: string) => number;

/**
 * Elements [start, start + count) of a tensor as F32, refusing NaN and ±Infinity (a diverged
 * fine-tune) with the tensor's name and the element's index. Sized by validated shapes only.
 */
function readElements(fdOf: FdOf, entry: TensorEntry, start: number, count: number): Float32Array {
  const elementBytes = WEIGHT_DTYPE_BYTES[entry.dtype];
  const bytes = readAt(fdOf(entry.file), entry.file, entry.fileOffset + start * elementBytes, count * elementBytes, false);
  const values = toF32(entry.dtype, bytes, count, () => new Float32Array(allocateBytes(count * 4).buffer, 0, count));
  const bad = firstNonFinite(values);
  if (bad >= 0) {
    throw new CheckpointError(
      entry.file,
      `tensor ${quote(entry.storedName)} holds ${nonFiniteName(values[bad] as number)} at index ${indexInShape(start + bad, entry.shape)}; a checkpoint with NaN or Infinity weights (a diverged fine-tune?) cannot be traced`,
    );
  }
  return values;
}

/** Opens files on demand (each checked to still have the size it had when opened) and closes them all after `use`. */
function withFiles<T>(sizes: ReadonlyMap<string, number>, use: (fdOf: FdOf) => T): T {
  const open = new Map<string, number>();
  try {
    return use((file) => {
      let fd = open.get(file);
      if (fd === undefined) {
        fd = openRegularFile(file);
        open.set(file, fd);
        const size = fs.fstatSync(fd).size;
        const was = sizes.get(file);
        if (size !== was) throw new CheckpointError(file, `changed since it was opened (now ${size} bytes, was ${was ?? 'unknown'}); load the model again`);
      }
      return fd;
    });
  } finally {
    for (const fd of open.values()) fs.closeSync(fd);
  }
}

function withCheckedFiles<T>(ckpt: Checkpoint, use: (fdOf: FdOf) => T): T {
  return withFiles(new Map(ckpt.files.map((f) => [f.path, f.size])), use);
}
