/**
 * Writes small random SAEs in the SAELens layout (cfg.json + sae_weights.safetensors) for tests:
 * every architecture and normalisation the loader supports, pre-6.0 ("hook_point") or 6.x
 * ("metadata") configs, F32 / F16 / BF16 tensors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { f32ArrayToF16Bits } from '../../src/engine/safetensors';
import { Random } from './random';

export interface RandomSaeOptions {
  readonly seed: number;
  readonly dIn: number;
  readonly dSae: number;
  readonly hookName?: string;
  readonly architecture?: 'standard' | 'jumprelu' | 'topk';
  readonly k?: number;
  readonly normalizeActivations?: string | boolean;
  readonly applyBDecToInput?: boolean;
  readonly modelName?: string;
  /** true / false: written as model_from_pretrained_kwargs.center_writing_weights; undefined: left out. */
  readonly centre?: boolean;
  readonly dtype?: 'F32' | 'F16' | 'BF16';
  /** '6': SAELens 6 layout (architecture, metadata); 'pre6': gpt2-small-res-jb style. */
  readonly style?: 'pre6' | '6';
  /** Scale of W_enc entries (default 1/√dIn · 2). */
  readonly encScale?: number;
}

export interface SaeTensors {
  readonly W_enc: Float32Array;
  readonly b_enc: Float32Array;
  readonly W_dec: Float32Array;
  readonly b_dec: Float32Array;
  readonly threshold?: Float32Array;
}

export function randomSaeTensors(o: RandomSaeOptions): SaeTensors {
  const r = new Random(o.seed);
  const g = (n: number, s: number): Float32Array => Float32Array.from({ length: n }, () => r.gaussian() * s);
  const encScale = o.encScale ?? 2 / Math.sqrt(o.dIn);
  return {
    W_enc: g(o.dIn * o.dSae, encScale),
    b_enc: g(o.dSae, 0.2),
    W_dec: g(o.dSae * o.dIn, 1 / Math.sqrt(o.dIn)),
    b_dec: g(o.dIn, 0.1),
    ...(o.architecture === 'jumprelu' ? { threshold: Float32Array.from({ length: o.dSae }, () => r.uniform() * 0.5) } : {}),
  };
}

export function saeConfigJson(o: RandomSaeOptions): Record<string, unknown> {
  const arch = o.architecture ?? 'standard';
  const hookName = o.hookName ?? 'blocks.1.hook_resid_pre';
  const kwargs = o.centre === undefined ? undefined : { center_writing_weights: o.centre };
  if ((o.style ?? 'pre6') === 'pre6') {
    return {
      model_name: o.modelName ?? 'tiny',
      hook_point: hookName,
      hook_point_layer: Number(/\d+/.exec(hookName)?.[0] ?? 0),
      hook_point_head_index: null,
      d_in: o.dIn,
      d_sae: o.dSae,
      dtype: 'torch.float32',
      device: 'cpu',
      context_size: 128,
      ...(arch === 'topk' ? { activation_fn_str: 'topk', activation_fn_kwargs: { k: o.k ?? 4 } } : {}),
      ...(arch === 'jumprelu' ? { architecture: 'jumprelu' } : {}),
      ...(o.normalizeActivations !== undefined ? { normalize_activations: o.normalizeActivations } : {}),
      ...(o.applyBDecToInput !== undefined ? { apply_b_dec_to_input: o.applyBDecToInput } : {}),
      ...(kwargs ? { model_from_pretrained_kwargs: kwargs } : {}),
    };
  }
  return {
    architecture: arch,
    d_in: o.dIn,
    d_sae: o.dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: o.applyBDecToInput ?? true,
    normalize_activations: o.normalizeActivations ?? 'none',
    reshape_activations: 'none',
    ...(arch === 'topk' ? { k: o.k ?? 4 } : {}),
    metadata: {
      sae_lens_version: '6.5.1',
      model_name: o.modelName ?? 'tiny',
      hook_name: hookName,
      hook_head_index: null,
      ...(kwargs ? { model_from_pretrained_kwargs: kwargs } : {}),
    },
  };
}

/** Writes the folder; returns the float32 tensors as the loader will read them (rounded when F16/BF16). */
export function writeRandomSae(folder: string, o: RandomSaeOptions, tensors: SaeTensors = randomSaeTensors(o)): SaeTensors {
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify(saeConfigJson(o), null, 2));
  const dtype = o.dtype ?? 'F32';
  const entries: [string, readonly number[], Float32Array][] = [
    ['W_enc', [o.dIn, o.dSae], tensors.W_enc],
    ['b_enc', [o.dSae], tensors.b_enc],
    ['W_dec', [o.dSae, o.dIn], tensors.W_dec],
    ['b_dec', [o.dIn], tensors.b_dec],
    ...(tensors.threshold ? [['threshold', [o.dSae], tensors.threshold] as [string, readonly number[], Float32Array]] : []),
  ];
  writeRawSafetensors(path.join(folder, 'sae_weights.safetensors'), entries, dtype);
  const round = (a: Float32Array): Float32Array => roundTo(a, dtype);
  return {
    W_enc: round(tensors.W_enc), b_enc: round(tensors.b_enc), W_dec: round(tensors.W_dec), b_dec: round(tensors.b_dec),
    ...(tensors.threshold ? { threshold: round(tensors.threshold) } : {}),
  };
}

export function roundTo(a: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Float32Array {
  if (dtype === 'F32') return a.slice();
  if (dtype === 'F16') {
    const bits = f32ArrayToF16Bits(a);
    const out = new Float32Array(a.length);
    const view = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < a.length; i++) out[i] = f16ToF32(bits[i] as number, view);
    return out;
  }
  const words = new Uint32Array(a.slice().buffer);
  for (let i = 0; i < words.length; i++) words[i] = ((bf16Bits(words[i] as number)) << 16) >>> 0;
  return new Float32Array(words.buffer);
}

function f16ToF32(h: number, view: DataView): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  void view;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round-to-nearest-even float32 → bfloat16 bits. */
function bf16Bits(word: number): number {
  const rounding = 0x7fff + ((word >> 16) & 1);
  return ((word + rounding) >>> 16) & 0xffff;
}

/** A safetensors file of F32, F16 or BF16 tensors (the project's writer does F32/F16 only). */
export function writeRawSafetensors(file: string, entries: readonly (readonly [string, readonly number[], Float32Array])[], dtype: 'F32' | 'F16' | 'BF16'): void {
  const size = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape, data] of entries) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length * size] };
    offset += data.length * size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.length));
  const parts: Buffer[] = [len, head];
  for (const [, , data] of entries) {
    if (dtype === 'F32') parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    else if (dtype === 'F16') {
      const bits = f32ArrayToF16Bits(data);
      parts.push(Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength));
    } else {
      const words = new Uint32Array(data.slice().buffer);
      const bits = Uint16Array.from(words, (w) => bf16Bits(w));
      parts.push(Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength));
    }
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}
