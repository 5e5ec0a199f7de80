/**
 * Opens a Hugging Face GPT-2 checkpoint folder (config.json + model.safetensors) and reads its
 * tensors on demand.
 *
 * Everything about the folder is validated before any tensor byte is read: the config's sizes,
 * the safetensors header against the real file size (safetensors.ts), and every expected
 * tensor's name, dtype and shape against the config. After that, every read is sized by a
 * checked shape, so no allocation is ever sized by an unchecked value from the file:
 * the largest buffer is min(header cap, file size) while parsing and at most 2 × the file size
 * when reading (F16 bits plus their F32 values). Every failure is a CheckpointError whose
 * message is one line: "<file>: <problem>".
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayerWeights, ModelConfig, ModelWeights } from './types';
import {
  assertLittleEndian,
  describeJsonValue,
  f16BitsToF32Array,
  formatBytes,
  MAX_HEADER_BYTES,
  oneLine,
  parseSafetensorsHeader,
  quote,
  SafetensorsFormatError,
  type SafetensorsTensorInfo,
} from './safetensors';

/** A checkpoint that cannot be used; `file` is the file or folder at fault. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${oneLine(file, 400)}: ${oneLine(problem, 400)}`);
  }
}

export interface TensorEntry {
  /** Canonical name: no 'transformer.' prefix. */
  readonly name: string;
  readonly dtype: 'F32' | 'F16';
  readonly shape: readonly number[];
  /** Absolute byte offset in model.safetensors. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface Checkpoint {
  readonly folder: string;
  readonly configPath: string;
  readonly weightsPath: string;
  readonly config: ModelConfig;
  /** 'F16' when any weight is stored as F16. */
  readonly dtype: 'F32' | 'F16';
  /** The GPT-2 weights by canonical name (mask buffers and a tied lm_head are not listed). */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** sha256 of size, mtime and the header bytes: changes whenever the weights file does. */
  readonly fingerprint: string;
  readonly fileSize: number;
}

/** Largest config.json accepted (real ones are about 1 KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Elements converted per step when comparing lm_head or writing the F32 cache (bounds memory). */
const CHUNK_ELEMENTS = 1 << 20;
/** Tensors in the F32 cache start at multiples of this (friendly to memory mapping). */
const CACHE_ALIGNMENT = 64;

const PREFIX = 'transformer.';
const IGNORED_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
const LAYER_TENSOR = /^h\.(\d+)\./;
const SUPPORTED_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];

// ---- allocation accounting (the fuzz test asserts a bound on it) --------------------------------

let largestAllocationBytes = 0;

/** Size in bytes of the largest buffer this module allocated since resetAllocationStats(). */
export function largestAllocation(): number {
  return largestAllocationBytes;
}

export function resetAllocationStats(): void {
  largestAllocationBytes = 0;
}

/** Every buffer sized by something read from a file is allocated here, so it is counted. */
function allocateBytes(bytes: number): Uint8Array {
  largestAllocationBytes = Math.max(largestAllocationBytes, bytes);
  return new Uint8Array(bytes);
}

// ---- opening ------------------------------------------------------------------------------------

/** Validates config.json and the safetensors header against the file; reads no tensor data except to check a tied lm_head. */
export function openCheckpoint(folder: string): Checkpoint {
  assertLittleEndian();
  const absolute = path.resolve(folder);
  const folderStat = statOrThrow(absolute, 'no such folder');
  if (!folderStat.isDirectory()) {
    throw new CheckpointError(absolute, 'is a file, not a checkpoint folder (expected a folder holding config.json and model.safetensors)');
  }
  const configPath = path.join(absolute, 'config.json');
  const weightsPath = path.join(absolute, 'model.safetensors');
  if (!exists(configPath)) {
    throw new CheckpointError(configPath, 'not found (a checkpoint folder holds config.json and model.safetensors)');
  }
  const config = parseConfig(configPath, readSmallFile(configPath, MAX_CONFIG_BYTES));
  if (!exists(weightsPath)) throw new CheckpointError(weightsPath, missingWeightsProblem(absolute));

  const fd = openRegularFile(weightsPath);
  try {
    const stat = fs.fstatSync(fd);
    const fileSize = stat.size;
    const header = parseHeader(fd, weightsPath, fileSize);
    const { tensors, lmHead } = matchTensors(weightsPath, header.tensors, header.dataStart, config);
    if (lmHead !== undefined) checkTiedLmHead(fd, weightsPath, lmHead, tensors.get('wte.weight') as TensorEntry);
    const dtype = [...tensors.values()].some((t) => t.dtype === 'F16') ? 'F16' : 'F32';
    const fingerprint = crypto
      .createHash('sha256')
      .update(`${fileSize}:${stat.mtimeMs}:`)
      .update(header.headerBytes)
      .digest('hex')
      .slice(0, 32);
    return { folder: absolute, configPath, weightsPath, config, dtype, tensors, fingerprint, fileSize };
  } finally {
    fs.closeSync(fd);
  }
}

function missingWeightsProblem(folder: string): string {
  if (fs.existsSync(path.join(folder, 'model.safetensors.index.json'))) {
    return 'not found; this folder holds a sharded checkpoint (model.safetensors.index.json), which is not supported';
  }
  if (fs.existsSync(path.join(folder, 'pytorch_model.bin'))) {
    return 'not found; this folder has only pytorch_model.bin (only safetensors weights are read)';
  }
  return 'not found (a checkpoint folder holds config.json and model.safetensors)';
}

function parseHeader(fd: number, weightsPath: string, fileSize: number): ReturnType<typeof parseSafetensorsHeader> {
  try {
    return parseSafetensorsHeader((position, length) => readAt(fd, weightsPath, position, length, true), fileSize, MAX_HEADER_BYTES);
  } catch (error) {
    if (error instanceof SafetensorsFormatError) throw new CheckpointError(weightsPath, error.message);
    throw error;
  }
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
  weightsPath: string,
  infos: readonly SafetensorsTensorInfo[],
  dataStart: number,
  config: ModelConfig,
): { tensors: Map<string, TensorEntry>; lmHead: TensorEntry | undefined } {
  const fail = (problem: string): never => {
    throw new CheckpointError(weightsPath, problem);
  };
  // Canonical names first, so duplicates and the layer count are known before anything else.
  const byName = new Map<string, SafetensorsTensorInfo>();
  let fileLayers = 0;
  for (const info of infos) {
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
  let lmHead: TensorEntry | undefined;
  for (const [name, info] of byName) {
    if (IGNORED_BUFFER.test(name)) continue; // causal-mask buffers: the graph builds its own mask
    const want = name === 'lm_head.weight' ? { shape: [config.dVocab, config.dModel], formula: '[vocab_size, n_embd]' } : expected.get(name);
    if (want === undefined) fail(`unexpected tensor ${quote(info.name)} (not part of a GPT-2 checkpoint with this config.json)`);
    const entry = toEntry(weightsPath, name, info, dataStart);
    const shape = (want as ExpectedTensor).shape;
    if (!sameShape(entry.shape, shape)) {
      fail(`tensor ${quote(info.name)} has shape [${entry.shape.join(', ')}] but config.json implies ${(want as ExpectedTensor).formula} = [${shape.join(', ')}]`);
    }
    if (name === 'lm_head.weight') lmHead = entry;
    else tensors.set(name, entry);
  }
  for (const name of expected.keys()) {
    if (!tensors.has(name)) fail(`missing tensor ${quote(name)}`);
  }
  return { tensors, lmHead };
}

function toEntry(weightsPath: string, name: string, info: SafetensorsTensorInfo, dataStart: number): TensorEntry {
  if (info.dtype !== 'F32' && info.dtype !== 'F16') {
    throw new CheckpointError(weightsPath, `tensor ${quote(info.name)} has dtype ${info.dtype}; only F32 and F16 weights are supported`);
  }
  return { name, dtype: info.dtype, shape: info.shape, fileOffset: dataStart + info.begin, byteLength: info.end - info.begin };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** A stored lm_head.weight is only accepted as the tied unembedding: it must equal wte.weight. */
function checkTiedLmHead(fd: number, weightsPath: string, lmHead: TensorEntry, wte: TensorEntry): void {
  const elements = wte.byteLength / (wte.dtype === 'F16' ? 2 : 4);
  for (let start = 0; start < elements; start += CHUNK_ELEMENTS) {
    const count = Math.min(CHUNK_ELEMENTS, elements - start);
    const a = readElements(fd, weightsPath, wte, start, count);
    const b = readElements(fd, weightsPath, lmHead, start, count);
    const aBits = new Uint32Array(a.buffer, a.byteOffset, count);
    const bBits = new Uint32Array(b.buffer, b.byteOffset, count);
    for (let i = 0; i < count; i++) {
      if (aBits[i] !== bBits[i]) {
        throw new CheckpointError(weightsPath, `lm_head.weight differs from wte.weight (first at element ${start + i}); only a tied unembedding is supported`);
      }
    }
  }
}

// ---- reading ------------------------------------------------------------------------------------

/** One tensor as F32 values (F16 converted), shaped as its entry says. */
export function readTensor(ckpt: Checkpoint, name: string): Float32Array {
  const entry = ckpt.tensors.get(name);
  if (entry === undefined) throw new CheckpointError(ckpt.weightsPath, `no tensor ${quote(name)} in this checkpoint`);
  return withCheckedFile(ckpt, (fd) => readElements(fd, ckpt.weightsPath, entry, 0, elementCount(entry)));
}

/** Every weight as F32, in the ModelWeights layout (GPT-2's own [in, out] Conv1D layout). */
export function readWeights(ckpt: Checkpoint): ModelWeights {
  return withCheckedFile(ckpt, (fd) => {
    const read = (name: string): Float32Array => {
      const entry = ckpt.tensors.get(name);
      if (entry === undefined) throw new CheckpointError(ckpt.weightsPath, `no tensor ${quote(name)} in this checkpoint`);
      return readElements(fd, ckpt.weightsPath, entry, 0, elementCount(entry));
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
    };
  });
}

/** [D] the unembedding column W_U[:, tokenId] = row tokenId of wte (tied). */
export function readTokenEmbeddingRow(ckpt: Checkpoint, tokenId: number): Float32Array {
  const { dVocab, dModel } = ckpt.config;
  if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= dVocab) {
    throw new CheckpointError(ckpt.weightsPath, `token id ${tokenId} is outside 0..${dVocab - 1}`);
  }
  const wte = ckpt.tensors.get('wte.weight') as TensorEntry;
  return withCheckedFile(ckpt, (fd) => readElements(fd, ckpt.weightsPath, wte, tokenId * dModel, dModel));
}

/**
 * Where the F32 bytes of every weight live on disk, for ONNX external data: the checkpoint
 * itself when all its weights are F32 at 4-byte-aligned offsets; otherwise a cache file `<fingerprint>.f32` under
 * cacheDir (tensors in canonical order, each 64-byte aligned), written once to a temporary
 * name and renamed, and reused while the fingerprint matches.
 */
export function ensureF32Weights(ckpt: Checkpoint, cacheDir: string): { readonly path: string; readonly offsets: ReadonlyMap<string, number> } {
  const names = [...expectedTensors(ckpt.config).keys()];
  // In place only when every tensor is F32 and 4-byte aligned (an unpadded header shifts them all).
  const inPlace = names.every((name) => {
    const entry = ckpt.tensors.get(name);
    return entry !== undefined && entry.dtype === 'F32' && entry.fileOffset % 4 === 0;
  });
  if (inPlace) {
    return { path: ckpt.weightsPath, offsets: new Map(names.map((name) => [name, (ckpt.tensors.get(name) as TensorEntry).fileOffset])) };
  }
  const offsets = new Map<string, number>();
  let total = 0;
  for (const name of names) {
    total = Math.ceil(total / CACHE_ALIGNMENT) * CACHE_ALIGNMENT;
    offsets.set(name, total);
    total += elementCount(ckpt.tensors.get(name) as TensorEntry) * 4;
  }
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
    withCheckedFile(ckpt, (fd) => {
      for (const name of names) {
        const entry = ckpt.tensors.get(name) as TensorEntry;
        const elements = elementCount(entry);
        for (let start = 0; start < elements; start += CHUNK_ELEMENTS) {
          const values = readElements(fd, ckpt.weightsPath, entry, start, Math.min(CHUNK_ELEMENTS, elements - start));
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
  return entry.byteLength / (entry.dtype === 'F16' ? 2 : 4);
}

/** Elements [start, start + count) of a tensor as F32. Sized by validated shapes only. */
function readElements(fd: number, weightsPath: string, entry: TensorEntry, start: number, count: number): Float32Array {
  const elementBytes = entry.dtype === 'F16' ? 2 : 4;
  const bytes = readAt(fd, weightsPath, entry.fileOffset + start * elementBytes, count * elementBytes, false);
  if (entry.dtype === 'F32') return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const out = allocateBytes(count * 4);
  return f16BitsToF32Array(new Uint16Array(bytes.buffer, bytes.byteOffset, count), new Float32Array(out.buffer, 0, count));
}

/** Reads exactly `length` bytes at `position` (fewer only when `allowShort`, at the end of the file). */
function readAt(fd: number, file: string, position: number, length: number, allowShort: boolean): Uint8Array {
  const bytes = allocateBytes(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = fs.readSync(fd, bytes, done, length - done, position + done);
    } catch (error) {
      throw new CheckpointError(file, `cannot read it (${describeFsError(error)})`);
    }
    if (n === 0) {
      if (allowShort) return bytes.subarray(0, done);
      throw new CheckpointError(file, `ended at byte ${position + done}, before the data its header describes (changed since it was opened?)`);
    }
    done += n;
  }
  return bytes;
}

function writeAllAt(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** Opens the weights file for a read, refusing it if it changed size since openCheckpoint. */
function withCheckedFile<T>(ckpt: Checkpoint, use: (fd: number) => T): T {
  const fd = openRegularFile(ckpt.weightsPath);
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== ckpt.fileSize) {
      throw new CheckpointError(ckpt.weightsPath, `changed since it was opened (now ${size} bytes, was ${ckpt.fileSize}); load the model again`);
    }
    return use(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// ---- file system helpers ------------------------------------------------------------------------

/** False when nothing is at `file`; other problems (a symlink loop, permissions) are errors. */
function exists(file: string): boolean {
  try {
    fs.statSync(file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw new CheckpointError(file, describeFsError(error));
  }
}

function statOrThrow(file: string, missing: string): fs.Stats {
  try {
    return fs.statSync(file);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') throw new CheckpointError(file, missing);
    throw new CheckpointError(file, describeFsError(error));
  }
}

/** Opens a regular file for reading; FIFOs and devices are refused before they can block or stream forever. */
function openRegularFile(file: string): number {
  const stat = statOrThrow(file, 'not found');
  if (stat.isDirectory()) throw new CheckpointError(file, 'is a folder, expected a file');
  if (!stat.isFile()) throw new CheckpointError(file, 'is not a regular file');
  try {
    return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    throw new CheckpointError(file, describeFsError(error));
  }
}

/** A small file's bytes, refusing anything over maxBytes before reading it. */
function readSmallFile(file: string, maxBytes: number): Uint8Array {
  const fd = openRegularFile(file);
  try {
    const size = fs.fstatSync(fd).size;
    if (size > maxBytes) throw new CheckpointError(file, `is ${size} bytes, over the ${formatBytes(maxBytes)} limit for this file`);
    return readAt(fd, file, 0, size, true);
  } finally {
    fs.closeSync(fd);
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function describeFsError(error: unknown): string {
  switch (errorCode(error)) {
    case 'ENOENT': return 'not found';
    case 'EACCES':
    case 'EPERM': return 'permission denied (cannot read it)';
    case 'ELOOP': return 'symlink loop (too many levels of symbolic links)';
    case 'ENOTDIR': return 'a part of the path is not a folder';
    case 'EISDIR': return 'is a folder, expected a file';
    case 'ENAMETOOLONG': return 'path is too long';
    case 'ENOSPC': return 'no space left on the device';
    case 'ERR_INVALID_ARG_VALUE': return 'is not a valid path (it contains a NUL character)';
    case 'EROFS': return 'read-only file system';
    default: return oneLine(error instanceof Error ? error.message : String(error), 160);
  }
}
