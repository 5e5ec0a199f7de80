/**
 * Writers for the checkpoint layouts transformers and PyTorch produce, from the specs, for tests:
 * pytorch_model.bin (torch.save's zip + pickle protocol 2, torch/serialization.py), sharded
 * safetensors with model.safetensors.index.json, and a Hugging Face cache tree
 * (models--org--name/{blobs,snapshots,refs}, huggingface_hub's layout). The .bin writer is
 * checked against files made by real PyTorch in test/fixtures/torch (checkpointFormats.test.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { f32ArrayToBf16Bits, f32ArrayToF16Bits, writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors';
import type { ModelWeights } from '../../src/engine/types';
import { canonicalTensors, hfConfigJson, roundWeights, type FloatDtype } from './checkpointWriter';

export { roundWeights, type FloatDtype } from './checkpointWriter';

// ---- zip ----------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A zip of stored (uncompressed) records, each record's data aligned to 64 bytes as torch.save
 * does. `zip64` writes every size and offset through the ZIP64 extra field and end records (as
 * PyTorch's writer does for files over 4 GiB).
 */
export function zipStored(records: readonly { name: string; data: Uint8Array }[], zip64 = false): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const record of records) {
    const name = Buffer.from(record.name, 'utf8');
    const crc = crc32(record.data);
    // Pad with an extra field (id 'FB', as PyTorch's writer uses) so the data starts at a multiple of 64.
    const headerEnd = offset + 30 + name.length + 4;
    const pad = (64 - (headerEnd % 64)) % 64;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0);
    extra.writeUInt16LE(pad, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(record.data.length, 18);
    local.writeUInt32LE(record.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    parts.push(local, name, extra, Buffer.from(record.data));
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(zip64 ? 45 : 20, 4);
    entry.writeUInt16LE(zip64 ? 45 : 20, 6);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(zip64 ? 0xffffffff : record.data.length, 20);
    entry.writeUInt32LE(zip64 ? 0xffffffff : record.data.length, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    if (zip64) {
      // ZIP64 extended information: uncompressed size, compressed size, local header offset.
      const extra64 = Buffer.alloc(28);
      extra64.writeUInt16LE(0x0001, 0);
      extra64.writeUInt16LE(24, 2);
      extra64.writeBigUInt64LE(BigInt(record.data.length), 4);
      extra64.writeBigUInt64LE(BigInt(record.data.length), 12);
      extra64.writeBigUInt64LE(BigInt(offset), 20);
      entry.writeUInt16LE(extra64.length, 30);
      central.push(entry, name, extra64);
    } else {
      central.push(entry, name);
    }
    offset += 30 + name.length + extra.length + record.data.length;
  }
  const directory = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : records.length, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : records.length, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : directory.length, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : offset, 16);
  if (!zip64) return Buffer.concat([...parts, directory, eocd]);
  const record64 = Buffer.alloc(56);
  record64.writeUInt32LE(0x06064b50, 0);
  record64.writeBigUInt64LE(44n, 4);
  record64.writeUInt16LE(45, 12);
  record64.writeUInt16LE(45, 14);
  record64.writeBigUInt64LE(BigInt(records.length), 24);
  record64.writeBigUInt64LE(BigInt(records.length), 32);
  record64.writeBigUInt64LE(BigInt(directory.length), 40);
  record64.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + directory.length), 8);
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([...parts, directory, record64, locator, eocd]);
}

// ---- pickle (protocol 2, as torch.save writes it) ------------------------------------------------

/** Emits pickle opcodes; memoizes globals and strings the way CPython's pickler does (BINPUT after each). */
export class PickleWriter {
  private readonly out: number[] = [];
  private readonly memo = new Map<string, number>();
  private nextMemo = 0;

  byte(...values: number[]): this {
    this.out.push(...values);
    return this;
  }
  put(key?: string): this {
    const index = this.nextMemo++;
    if (key !== undefined) this.memo.set(key, index);
    return index < 256 ? this.byte(0x71, index) : this.byte(0x72, ...u32(index));
  }
  get(key: string): boolean {
    const index = this.memo.get(key);
    if (index === undefined) return false;
    if (index < 256) this.byte(0x68, index);
    else this.byte(0x6a, ...u32(index));
    return true;
  }
  global(module: string, name: string): this {
    if (this.get(`global:${module}.${name}`)) return this;
    this.byte(0x63, ...Buffer.from(`${module}\n${name}\n`, 'utf8'));
    return this.put(`global:${module}.${name}`);
  }
  string(text: string): this {
    if (this.get(`str:${text}`)) return this;
    const bytes = Buffer.from(text, 'utf8');
    this.byte(0x58, ...u32(bytes.length), ...bytes);
    return this.put(`str:${text}`);
  }
  int(value: number): this {
    if (value >= 0 && value < 256) return this.byte(0x4b, value);
    if (value >= 0 && value < 65536) return this.byte(0x4d, value & 0xff, value >> 8);
    if (value >= -(2 ** 31) && value < 2 ** 31) return this.byte(0x4a, ...i32(value));
    const bytes: number[] = [];
    let v = BigInt(value);
    do {
      bytes.push(Number(v & 0xffn));
      v >>= 8n;
    } while (v !== 0n && v !== -1n);
    if (((bytes[bytes.length - 1] as number) & 0x80) !== (value < 0 ? 0x80 : 0)) bytes.push(value < 0 ? 0xff : 0);
    return this.byte(0x8a, bytes.length, ...bytes);
  }
  intTuple(values: readonly number[]): this {
    if (values.length === 0) return this.byte(0x29);
    if (values.length <= 3) {
      for (const v of values) this.int(v);
      return this.byte(0x84 + values.length).put();
    }
    this.byte(0x28);
    for (const v of values) this.int(v);
    return this.byte(0x74).put();
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}
function i32(value: number): number[] {
  return u32(value >>> 0);
}

export interface BinTensor {
  readonly name: string;
  readonly dtype: FloatDtype | 'BOOL';
  readonly shape: readonly number[];
  /** F32 values (rounded on write for F16/BF16), or the BOOL bytes. */
  readonly data: Float32Array | Uint8Array;
  /** Store as the same tensor object as this earlier name (a tied lm_head). */
  readonly sameAs?: string;
}

const STORAGE_CLASS: Readonly<Record<BinTensor['dtype'], string>> = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', BOOL: 'BoolStorage' };

function tensorBytes(t: BinTensor): Uint8Array {
  if (t.dtype === 'BOOL') return t.data as Uint8Array;
  const values = t.data as Float32Array;
  const out = t.dtype === 'F16' ? f32ArrayToF16Bits(values) : t.dtype === 'BF16' ? f32ArrayToBf16Bits(values) : values;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The bytes of a torch.save'd state dict: `<prefix>/data.pkl` (an OrderedDict of
 * _rebuild_tensor_v2 calls whose storages are persistent ids), `<prefix>/data/<key>` per
 * storage, `<prefix>/version`. `pickle` replaces data.pkl when given (hostile-file tests).
 */
export function torchBinBytes(tensors: readonly BinTensor[], opts: { prefix?: string; metadata?: boolean; pickle?: Uint8Array; zip64?: boolean } = {}): Buffer {
  const prefix = opts.prefix ?? 'archive';
  const w = new PickleWriter();
  w.byte(0x80, 2);
  w.global('collections', 'OrderedDict').byte(0x29, 0x52).put('root');
  w.byte(0x28); // MARK for SETITEMS
  const records: { name: string; data: Uint8Array }[] = [];
  tensors.forEach((t) => {
    w.string(t.name);
    if (t.sameAs !== undefined) {
      if (!w.get(`tensor:${t.sameAs}`)) throw new Error(`torchBinBytes: ${t.name} is the same as unknown ${t.sameAs}`);
      return;
    }
    const key = String(records.length);
    const elements = t.shape.reduce((a, b) => a * b, 1);
    records.push({ name: `${prefix}/data/${key}`, data: tensorBytes(t) });
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.byte(0x28); // MARK: the argument tuple
    w.byte(0x28).string('storage').global('torch', STORAGE_CLASS[t.dtype]).string(key).string('cpu').int(elements).byte(0x74).put();
    w.byte(0x51); // BINPERSID
    w.int(0);
    w.intTuple(t.shape);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.intTuple(stride);
    w.byte(0x89); // requires_grad False
    w.global('collections', 'OrderedDict').byte(0x29, 0x52).put(); // backward_hooks
    w.byte(0x74).put(); // TUPLE
    w.byte(0x52).put(`tensor:${t.name}`); // REDUCE
  });
  w.byte(0x75); // SETITEMS
  if (opts.metadata !== false) {
    // state_dict()._metadata, set by BUILD as torch.save does.
    w.byte(0x7d).put().string('_metadata').global('collections', 'OrderedDict').byte(0x29, 0x52).put();
    w.string('').byte(0x7d).put().string('version').int(1).byte(0x73, 0x73, 0x73, 0x62);
  }
  w.byte(0x2e);
  const pickle = opts.pickle ?? w.bytes();
  return zipStored([
    { name: `${prefix}/data.pkl`, data: pickle },
    ...records.sort((a, b) => (a.name < b.name ? -1 : 1)),
    { name: `${prefix}/version`, data: Buffer.from('3\n') },
  ], opts.zip64 === true);
}

export interface FormatOptions {
  readonly dtype?: FloatDtype;
  /** Keys with 'transformer.' (GPT2LMHeadModel), as transformers saves them. Default true. */
  readonly prefix?: boolean;
  /** Also store lm_head.weight: the same tensor as wte ('tied') or weights.lmHead ('untied'). */
  readonly lmHead?: 'tied' | 'untied';
  /** Extra tensors a fine-tune carries (value heads, classifier heads). */
  readonly extra?: readonly { name: string; shape: number[]; data: Float32Array }[];
  /** Also store the attn.bias / attn.masked_bias buffers. */
  readonly maskBuffers?: boolean;
}

/** The tensors of `weights` as a file stores them, in Hugging Face order. */
export function fileTensors(weights: ModelWeights, opts: FormatOptions): BinTensor[] {
  const dtype = opts.dtype ?? 'F32';
  const key = (name: string): string => (opts.prefix === false ? name : `transformer.${name}`);
  const c = weights.config;
  const out: BinTensor[] = [];
  for (const t of canonicalTensors(weights)) {
    out.push({ name: key(t.name), dtype, shape: t.shape, data: t.data });
    if (opts.maskBuffers === true && t.name.endsWith('.ln_1.bias')) {
      const l = t.name.split('.')[1];
      const mask = new Uint8Array(c.nCtx * c.nCtx);
      for (let i = 0; i < c.nCtx; i++) for (let j = 0; j <= i; j++) mask[i * c.nCtx + j] = 1;
      out.push({ name: key(`h.${l}.attn.bias`), dtype: 'BOOL', shape: [1, 1, c.nCtx, c.nCtx], data: mask });
      out.push({ name: key(`h.${l}.attn.masked_bias`), dtype: 'F32', shape: [], data: new Float32Array([-1e4]) });
    }
  }
  if (opts.lmHead === 'tied') out.push({ name: 'lm_head.weight', dtype, shape: [c.dVocab, c.dModel], data: weights.wte, sameAs: key('wte.weight') });
  if (opts.lmHead === 'untied') {
    if (!weights.lmHead) throw new Error('fileTensors: lmHead "untied" needs weights.lmHead');
    out.push({ name: 'lm_head.weight', dtype, shape: [c.dVocab, c.dModel], data: weights.lmHead });
  }
  for (const e of opts.extra ?? []) out.push({ name: e.name, dtype, shape: e.shape, data: e.data });
  return out;
}

function writeConfig(folder: string, weights: ModelWeights): void {
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'config.json'), `${JSON.stringify(hfConfigJson(weights.config), null, 2)}\n`);
}

/** config.json + pytorch_model.bin; returns the weights as stored (rounded to the dtype). */
export function writeBinCheckpoint(folder: string, weights: ModelWeights, opts: FormatOptions = {}): ModelWeights {
  writeConfig(folder, weights);
  fs.writeFileSync(path.join(folder, 'pytorch_model.bin'), torchBinBytes(fileTensors(weights, opts)));
  return roundWeights(weights, opts.dtype ?? 'F32');
}

/** config.json + one model.safetensors holding every file tensor (F32/F16/BF16). */
export function writeSafetensorsCheckpoint(folder: string, weights: ModelWeights, opts: FormatOptions = {}): ModelWeights {
  writeConfig(folder, weights);
  writeSafetensors(path.join(folder, 'model.safetensors'), safetensorsTensors(weights, opts), { format: 'pt' });
  return roundWeights(weights, opts.dtype ?? 'F32');
}

function safetensorsTensors(weights: ModelWeights, opts: FormatOptions): TensorToWrite[] {
  // safetensors has no shared tensors: a tied lm_head is written as a copy; mask buffers as F32.
  return fileTensors(weights, opts).map((t) => ({
    name: t.name,
    dtype: t.dtype === 'BOOL' ? 'F32' : t.dtype,
    shape: t.shape,
    data: t.dtype === 'BOOL' ? Float32Array.from(t.data) : (t.data as Float32Array),
  }));
}

/** config.json + `shards` safetensors files + model.safetensors.index.json, as save_pretrained writes them. */
export function writeShardedCheckpoint(folder: string, weights: ModelWeights, shards: number, opts: FormatOptions = {}): ModelWeights {
  writeConfig(folder, weights);
  const tensors = safetensorsTensors(weights, opts);
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    writeSafetensors(path.join(folder, file), part, { format: 'pt' });
    for (const t of part) {
      weightMap[t.name] = file;
      totalSize += t.data.length * (t.dtype === 'F32' ? 4 : 2);
    }
  }
  fs.writeFileSync(path.join(folder, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`);
  return roundWeights(weights, opts.dtype ?? 'F32');
}

/** config.json + `shards` pytorch_model-0000k-of-0000n.bin + pytorch_model.bin.index.json (safe_serialization=False). */
export function writeShardedBinCheckpoint(folder: string, weights: ModelWeights, shards: number, opts: FormatOptions = {}): ModelWeights {
  writeConfig(folder, weights);
  const tensors = fileTensors(weights, opts);
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `pytorch_model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.bin`;
    const part = tensors.slice(s * per, (s + 1) * per);
    fs.writeFileSync(path.join(folder, file), torchBinBytes(part));
    for (const t of part) weightMap[t.name] = file;
  }
  fs.writeFileSync(path.join(folder, 'pytorch_model.bin.index.json'), `${JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2)}\n`);
  return roundWeights(weights, opts.dtype ?? 'F32');
}

// ---- Hugging Face cache -------------------------------------------------------------------------

/**
 * Adds a snapshot of `repoId` under hub cache `root`: each file of `sourceFolder` becomes a blob
 * (named by its sha256, as etags of LFS files are) and a relative symlink
 * `snapshots/<commit>/<file> → ../../blobs/<hash>`. `main` writes refs/main = commit.
 */
export function addHfSnapshot(root: string, repoId: string, commit: string, sourceFolder: string, opts: { main?: boolean; mtime?: Date } = {}): string {
  const repoDir = path.join(root, `models--${repoId.split('/').join('--')}`);
  const snapshot = path.join(repoDir, 'snapshots', commit);
  fs.mkdirSync(path.join(repoDir, 'blobs'), { recursive: true });
  fs.mkdirSync(snapshot, { recursive: true });
  for (const file of fs.readdirSync(sourceFolder)) {
    const bytes = fs.readFileSync(path.join(sourceFolder, file));
    const hash = crypto.createHash('sha256').update(bytes).digest('hex');
    const blob = path.join(repoDir, 'blobs', hash);
    if (!fs.existsSync(blob)) fs.writeFileSync(blob, bytes);
    fs.symlinkSync(path.join('..', '..', 'blobs', hash), path.join(snapshot, file));
  }
  if (opts.main === true) {
    fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repoDir, 'refs', 'main'), commit);
  }
  if (opts.mtime) fs.utimesSync(snapshot, opts.mtime, opts.mtime);
  return snapshot;
}

/** Path → [size, mtimeMs, link target] of everything under `root` (to show a tree was not written to). */
export function treeState(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      const stat = fs.lstatSync(p);
      out.set(path.relative(root, p), `${stat.size}:${stat.mtimeMs}:${stat.isSymbolicLink() ? fs.readlinkSync(p) : ''}`);
      if (stat.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}
