/** Weight bytes → F32 values, and the finite check every weight passes at load. */
import { f16BitsToF32Array } from '../safetensors';
import type { WeightDtype } from './types';

/**
 * `count` elements of `dtype` from `bytes` as F32: F32 is viewed in place (bytes must be
 * 4-byte aligned), F16 goes through the exact table, BF16 is the top half of an F32 (exact).
 * `out` receives converted values when the dtype is not F32.
 */
export function toF32(dtype: WeightDtype, bytes: Uint8Array, count: number, out: () => Float32Array): Float32Array {
  if (dtype === 'F32') return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  const values = out();
  if (dtype === 'F16') return f16BitsToF32Array(bits, values);
  const wide = new Uint32Array(values.buffer, values.byteOffset, count);
  for (let i = 0; i < count; i++) wide[i] = (bits[i] as number) << 16;
  return values;
}

/** Index of the first NaN or ±Infinity in `values`, or -1. */
export function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    // v - v is NaN exactly for NaN and ±Infinity; one subtraction per element keeps the scan cheap.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** "[3, 17]" for flat index 113 of shape [n, 32]. */
export function indexInShape(flat: number, shape: readonly number[]): string {
  const index: number[] = [];
  let rest = flat;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const dim = shape[axis] as number;
    index.unshift(dim > 0 ? rest % dim : 0);
    rest = dim > 0 ? Math.floor(rest / dim) : 0;
  }
  return `[${index.join(', ')}]`;
}

/** "NaN", "Infinity" or "-Infinity". */
export function nonFiniteName(value: number): string {
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}
