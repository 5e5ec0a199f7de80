/**
 * Opens an SAE folder in the SAELens layout (cfg.json + sae_weights.safetensors) and reads its
 * weights into float32, validating everything first: the config (config.ts), the safetensors
 * header against the real file size (src/engine/safetensors.ts), and every tensor's dtype (F32,
 * F16, BF16) and shape against d_in / d_sae. Nothing is returned unless all of it is good, so a
 * caller that swaps in the result never holds a partial SAE. Every failure is an SaeError whose
 * message is one line naming the file (and the field or tensor).
 *
 * Tensors (SAELens state-dict names): W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in],
 * b_dec [d_in], threshold [d_sae] (jumprelu only; `log_threshold` is accepted and exponentiated).
 * A `scaling_factor` of all ones is ignored, as SAELens does; any other refuses the SAE.
 * Allocation bound: every buffer is at most 2 × the weights file's size (F16/BF16 bits plus their
 * float32 values) or MAX_SAE_CONFIG_BYTES.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from '../../engine/types';
import { assertLittleEndian, f16BitsToF32Array, MAX_HEADER_BYTES, parseSafetensorsHeader, quote, SafetensorsFormatError, type SafetensorsTensorInfo } from '../../engine/safetensors';
import { MAX_SAE_CONFIG_BYTES, parseSaeConfig, SaeError, type SaeConfig } from './config';

export const SAE_CONFIG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';

/** Float32 weights, row-major. */
export interface SaeWeights {
  /** [d_in, d_sae] */ readonly wEnc: Float32Array;
  /** [d_sae] */ readonly bEnc: Float32Array;
  /** [d_sae, d_in] */ readonly wDec: Float32Array;
  /** [d_in] */ readonly bDec: Float32Array;
  /** [d_sae] jumprelu only */ readonly threshold?: Float32Array;
}

export interface LoadedSae {
  readonly folder: string;
  readonly configPath: string;
  readonly weightsPath: string;
  readonly config: SaeConfig;
  readonly weights: SaeWeights;
  /** The weights file's dtype ('F16'/'BF16' when any tensor is stored so). */
  readonly tensorDtype: 'F32' | 'F16' | 'BF16';
  /** sha256 of size, mtime and header bytes of the weights file, and cfg.json's bytes. */
  readonly fingerprint: string;
  /** Absolute byte offset of each F32 tensor used (W_enc, b_enc, W_dec, b_dec, threshold) in the weights file; ORT reads them as external data. */
  readonly f32Offsets: ReadonlyMap<string, number>;
}

const FLOAT_DTYPES = ['F32', 'F16', 'BF16'];

let largestAllocationBytes = 0;
/** Largest buffer this module allocated from a file-sized value since the last reset (the fuzz test bounds it). */
export function largestSaeAllocation(): number {
  return largestAllocationBytes;
}
export function resetSaeAllocationStats(): void {
  largestAllocationBytes = 0;
}

/** Reads and validates an SAE folder; when `model` is given, also checks the SAE fits it (checkSaeForModel). */
export function openSae(folder: string, model?: { readonly name: string; readonly config: ModelConfig }): LoadedSae {
  assertLittleEndian();
  const absolute = path.resolve(folder);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolute);
  } catch {
    throw new SaeError(absolute, 'no such folder');
  }
  if (!stat.isDirectory()) throw new SaeError(absolute, `is a file, not an SAE folder (expected a folder holding ${SAE_CONFIG_FILE} and ${SAE_WEIGHTS_FILE})`);
  const configPath = path.join(absolute, SAE_CONFIG_FILE);
  const weightsPath = path.join(absolute, SAE_WEIGHTS_FILE);
  if (!fs.existsSync(configPath)) throw new SaeError(configPath, `not found (an SAE folder in the SAELens layout holds ${SAE_CONFIG_FILE} and ${SAE_WEIGHTS_FILE})`);
  const configBytes = readSmallFile(configPath);
  const config = parseSaeConfig(configPath, configBytes);
  if (model) checkSaeForModel(config, configPath, model.name, model.config);
  if (!fs.existsSync(weightsPath)) {
    const hint = fs.existsSync(path.join(absolute, 'sae_weights.pt')) ? '; only safetensors weights are read, not sae_weights.pt' : '';
    throw new SaeError(weightsPath, `not found${hint}`);
  }

  const fd = openRegular(weightsPath);
  try {
    const fileStat = fs.fstatSync(fd);
    let header: ReturnType<typeof parseSafetensorsHeader>;
    try {
      header = parseSafetensorsHeader((position, length) => readAt(fd, weightsPath, position, length), fileStat.size, MAX_HEADER_BYTES);
    } catch (error) {
      if (error instanceof SafetensorsFormatError) throw new SaeError(weightsPath, error.message);
      throw error;
    }
    const byName = new Map(header.tensors.map((t) => [t.name, t]));
    const { dIn, dSae } = config;
    const expect = (name: string, shape: readonly number[]): SafetensorsTensorInfo => {
      const t = byName.get(name);
      if (!t) throw new SaeError(weightsPath, `tensor ${quote(name)} is missing (expected [${shape.join(', ')}] from cfg.json's d_in ${dIn}, d_sae ${dSae})`);
      if (!FLOAT_DTYPES.includes(t.dtype)) throw new SaeError(weightsPath, `tensor ${quote(name)} is ${t.dtype}; only F32, F16 and BF16 are read`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new SaeError(weightsPath, `tensor ${quote(name)} has shape [${t.shape.join(', ')}], cfg.json's d_in ${dIn} and d_sae ${dSae} imply [${shape.join(', ')}]`);
      }
      return t;
    };
    const jump = config.activation.kind === 'jumprelu';
    const infos = {
      wEnc: expect('W_enc', [dIn, dSae]),
      bEnc: expect('b_enc', [dSae]),
      wDec: expect('W_dec', [dSae, dIn]),
      bDec: expect('b_dec', [dIn]),
    };
    let thresholdInfo: SafetensorsTensorInfo | undefined;
    let logThreshold = false;
    if (jump) {
      if (byName.has('threshold')) thresholdInfo = expect('threshold', [dSae]);
      else if (byName.has('log_threshold')) {
        thresholdInfo = expect('log_threshold', [dSae]);
        logThreshold = true;
      } else throw new SaeError(weightsPath, `tensor "threshold" is missing (a jumprelu SAE needs [${dSae}])`);
    }
    const scaling = byName.get('scaling_factor');
    const read = (t: SafetensorsTensorInfo): Float32Array => readFloat(fd, weightsPath, header.dataStart, t);
    if (scaling) {
      if (!FLOAT_DTYPES.includes(scaling.dtype) || scaling.end - scaling.begin > 4 * MAX_SAE_CONFIG_BYTES) throw new SaeError(weightsPath, 'tensor "scaling_factor" is not a small float tensor');
      const values = read(scaling);
      if (values.some((v) => v !== 1)) throw new SaeError(weightsPath, 'tensor "scaling_factor" is not all ones; finetuned scaling factors are not supported');
    }
    const weights: SaeWeights = {
      wEnc: read(infos.wEnc),
      bEnc: read(infos.bEnc),
      wDec: read(infos.wDec),
      bDec: read(infos.bDec),
      ...(thresholdInfo ? { threshold: read(thresholdInfo) } : {}),
    };
    if (weights.threshold && logThreshold) for (let i = 0; i < weights.threshold.length; i++) weights.threshold[i] = Math.exp(weights.threshold[i]);
    for (const [key, values] of Object.entries(weights) as [string, Float32Array][]) {
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new SaeError(weightsPath, `tensor ${quote(TENSOR_NAMES[key] ?? key)} holds a non-finite value (${values[bad]}) at element ${bad}`);
    }
    const used = [infos.wEnc, infos.bEnc, infos.wDec, infos.bDec, ...(thresholdInfo ? [thresholdInfo] : [])];
    const tensorDtype = used.some((t) => t.dtype === 'BF16') ? 'BF16' : used.some((t) => t.dtype === 'F16') ? 'F16' : 'F32';
    const fingerprint = crypto.createHash('sha256').update(`${fileStat.size}:${fileStat.mtimeMs}:`).update(header.headerBytes).update(configBytes).digest('hex').slice(0, 32);
    const f32Offsets = new Map<string, number>();
    if (!logThreshold) for (const t of used) if (t.dtype === 'F32') f32Offsets.set(t.name, header.dataStart + t.begin);
    return { folder: absolute, configPath, weightsPath, config, weights, tensorDtype, fingerprint, f32Offsets };
  } finally {
    fs.closeSync(fd);
  }
}

const TENSOR_NAMES: Record<string, string> = { wEnc: 'W_enc', bEnc: 'b_enc', wDec: 'W_dec', bDec: 'b_dec', threshold: 'threshold' };

/** Canonical model names: TransformerLens aliases and hub repos of the GPT-2 family. */
const MODEL_ALIASES: Readonly<Record<string, string>> = {
  'gpt2': 'gpt2', 'gpt2-small': 'gpt2', 'openai-community/gpt2': 'gpt2',
  'gpt2-medium': 'gpt2-medium', 'openai-community/gpt2-medium': 'gpt2-medium',
  'gpt2-large': 'gpt2-large', 'openai-community/gpt2-large': 'gpt2-large',
  'gpt2-xl': 'gpt2-xl', 'openai-community/gpt2-xl': 'gpt2-xl',
  'distilgpt2': 'distilgpt2', 'distillgpt2': 'distilgpt2', 'distil-gpt2': 'distilgpt2', 'distilbert/distilgpt2': 'distilgpt2',
  'demo': 'demo', 'residual-lens-demo': 'demo',
};
/** Shapes that identify a local folder holding one of them: [name, layers, d_model, vocab]. */
const MODEL_SHAPES: readonly (readonly [string, number, number, number])[] = [
  ['gpt2', 12, 768, 50257], ['gpt2-medium', 24, 1024, 50257], ['gpt2-large', 36, 1280, 50257],
  ['gpt2-xl', 48, 1600, 50257], ['distilgpt2', 6, 768, 50257], ['demo', 2, 256, 50257],
];

/** The canonical name of a loaded model: by its name, else by its shape (a local folder of a known model). */
export function canonicalModelName(name: string, config: ModelConfig): string | undefined {
  const byName = MODEL_ALIASES[name.toLowerCase()];
  if (byName) return byName;
  return MODEL_SHAPES.find(([, L, D, V]) => config.nLayer === L && config.dModel === D && config.dVocab === V)?.[0];
}

/**
 * Throws SaeError when the SAE cannot read this model: d_in ≠ d_model, a hook layer the model
 * lacks, or a model_name naming another model. A missing model_name is accepted (shapes checked).
 */
export function checkSaeForModel(config: SaeConfig, configPath: string, modelName: string, model: ModelConfig): void {
  if (config.dIn !== model.dModel) throw new SaeError(configPath, `"d_in" ${config.dIn} is not the loaded model ${modelName}'s d_model ${model.dModel}`);
  if (config.hookLayer >= model.nLayer) {
    throw new SaeError(configPath, `"hook_name" ${quote(config.hookName)} does not exist in the loaded model ${modelName} (layers 0..${model.nLayer - 1})`);
  }
  if (config.modelName === undefined) return;
  const saeModel = MODEL_ALIASES[config.modelName.toLowerCase()];
  const loaded = canonicalModelName(modelName, model);
  const matches = saeModel !== undefined ? saeModel === loaded : config.modelName === modelName;
  if (!matches) throw new SaeError(configPath, `"model_name" ${quote(config.modelName)} does not match the loaded model ${modelName}${loaded && loaded !== modelName ? ` (${loaded})` : ''}`);
}

function readSmallFile(file: string): Uint8Array {
  const fd = openRegular(file);
  try {
    const size = fs.fstatSync(fd).size;
    if (size > MAX_SAE_CONFIG_BYTES) throw new SaeError(file, `is ${size} bytes, larger than the ${MAX_SAE_CONFIG_BYTES} bytes a cfg.json may be`);
    return readAt(fd, file, 0, size);
  } finally {
    fs.closeSync(fd);
  }
}

function openRegular(file: string): number {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    throw new SaeError(file, `cannot be opened (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new SaeError(file, 'is not a regular file');
  }
  return fd;
}

function readAt(fd: number, file: string, position: number, length: number): Uint8Array {
  largestAllocationBytes = Math.max(largestAllocationBytes, length);
  const out = new Uint8Array(length);
  readInto(fd, file, out, position);
  return out;
}

function readInto(fd: number, file: string, out: Uint8Array, position: number): void {
  let done = 0;
  while (done < out.length) {
    let n: number;
    try {
      n = fs.readSync(fd, out, done, out.length - done, position + done);
    } catch (error) {
      throw new SaeError(file, `read failed (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (n === 0) throw new SaeError(file, 'ended early while reading (changed while being read?)');
    done += n;
  }
}

/** One tensor as float32 (F16 and BF16 converted); its size was checked against the file by the header parser. */
function readFloat(fd: number, file: string, dataStart: number, t: SafetensorsTensorInfo): Float32Array {
  const elements = t.shape.reduce((a, b) => a * b, 1);
  largestAllocationBytes = Math.max(largestAllocationBytes, elements * 4);
  const out = new Float32Array(elements);
  if (t.dtype === 'F32') {
    readInto(fd, file, new Uint8Array(out.buffer), dataStart + t.begin);
    return out;
  }
  const bits = new Uint16Array(elements);
  largestAllocationBytes = Math.max(largestAllocationBytes, elements * 2);
  readInto(fd, file, new Uint8Array(bits.buffer), dataStart + t.begin);
  if (t.dtype === 'F16') return f16BitsToF32Array(bits, out);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < elements; i++) words[i] = (bits[i] as number) << 16;
  return out;
}
