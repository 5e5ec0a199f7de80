/**
 * bfloat16: the writer's rounding (round to nearest, ties to even, as PyTorch's float → bfloat16)
 * on hand-derived bit patterns, and the loader's exact upcast (bits << 16) of every pattern.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f32ArrayToBf16Bits, roundToBf16 } from '../../src/engine/safetensors';
import { toF32 } from '../../src/engine/formats/dtypes';

const fromBits = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0] as number;

test('F32 → BF16 rounds to nearest, ties to even; NaN stays NaN; overflow goes to Infinity', () => {
  const cases: [number, number][] = [
    [0x3f800000, 0x3f80], // 1
    [0x3f808000, 0x3f80], // 1 + 2^-8: a tie, kept even
    [0x3f818000, 0x3f82], // a tie from odd: rounds up to even
    [0x3f808001, 0x3f81], // just above the tie
    [0x3f807fff, 0x3f80], // just below
    [0x80000000, 0x8000], // -0
    [0x7f800000, 0x7f80], // Infinity
    [0xff800000, 0xff80], // -Infinity
    [0x7f7fffff, 0x7f80], // the largest float rounds up to Infinity
    [0x00000001, 0x0000], // the smallest subnormal rounds to 0
  ];
  const values = Float32Array.from(cases.map(([bits]) => fromBits(bits)));
  assert.deepEqual(Array.from(f32ArrayToBf16Bits(values)), cases.map(([, half]) => half));
  const nan = f32ArrayToBf16Bits(Float32Array.of(fromBits(0x7f800001)))[0] as number;
  assert.ok((nan & 0x7f80) === 0x7f80 && (nan & 0x7f) !== 0, 'a NaN with only low payload bits stays NaN');
  assert.equal(roundToBf16(Float32Array.of(1 / 3))[0], fromBits(0x3eab0000));
});

test('BF16 → F32 is exact for every one of the 65,536 patterns', () => {
  const bits = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) bits[i] = i;
  const values = toF32('BF16', new Uint8Array(bits.buffer), 65536, () => new Float32Array(65536));
  const wide = new Uint32Array(values.buffer);
  for (let i = 0; i < 65536; i++) assert.equal(wide[i], i << 16 >>> 0, `pattern ${i}`);
});
