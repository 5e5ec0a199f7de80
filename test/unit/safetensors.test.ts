/**
 * The safetensors writer, the strict header parser (one exact message per malformed case)
 * and the float16 conversions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  describeJsonValue,
  f16BitsToF32,
  f32ToF16Bits,
  MAX_HEADER_BYTES,
  oneLine,
  parseSafetensorsHeader,
  quote,
  roundToF16,
  SafetensorsFormatError,
  writeSafetensors,
  type ByteReader,
} from '../../src/engine/safetensors';

/** An in-memory file and a reader over it that records the largest read it was asked for. */
function memoryFile(bytes: Uint8Array): { read: ByteReader; size: number; largestRead: () => number } {
  let largest = 0;
  return {
    read: (position, length) => {
      largest = Math.max(largest, length);
      return bytes.slice(position, Math.min(bytes.length, position + length));
    },
    size: bytes.length,
    largestRead: () => largest,
  };
}

/** A safetensors file from header text and `dataBytes` zero bytes of data. */
function fileFromHeader(header: string | Uint8Array, dataBytes: number, declaredLength?: bigint): Uint8Array {
  const headerBytes = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const out = new Uint8Array(8 + headerBytes.length + dataBytes);
  Buffer.from(out.buffer).writeBigUInt64LE(declaredLength ?? BigInt(headerBytes.length), 0);
  out.set(headerBytes, 8);
  return out;
}

function parseProblem(file: Uint8Array): string {
  const { read, size } = memoryFile(file);
  try {
    parseSafetensorsHeader(read, size);
  } catch (error) {
    assert.ok(error instanceof SafetensorsFormatError, `expected SafetensorsFormatError, got ${String(error)}`);
    assert.ok(!error.message.includes('\n'), 'message is one line');
    return error.message;
  }
  assert.fail('header parsed without error');
}

const entry = (dtype: string, shape: unknown, offsets: unknown): Record<string, unknown> => ({ dtype, shape, data_offsets: offsets });

test('float16: every bit pattern survives F16 → F32 → F16 (NaNs stay NaN)', () => {
  for (let bits = 0; bits < 65536; bits++) {
    const value = f16BitsToF32(bits);
    if (Number.isNaN(value)) assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(value))));
    else assert.equal(f32ToF16Bits(value), bits, `bits 0x${bits.toString(16)}`);
  }
});

test('float16: round to nearest, ties to even, overflow to Inf, subnormals', () => {
  const cases: [number, number][] = [
    [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: to the even mantissa (1)
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: to the even one
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie rounds up
    [2 ** -14, 0x0400], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002],
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up out of the subnormals into the smallest normal
    [-0, 0x8000], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  for (const [value, bits] of cases) assert.equal(f32ToF16Bits(value), bits, `f16(${value})`);
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  assert.deepEqual([...roundToF16(new Float32Array([0.1, 1 / 3]))], [0.0999755859375, 0.333251953125]);
});

test('writeSafetensors writes an 8-aligned header, contiguous offsets and exact values; the parser reads them back', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'residual-lens-st-'));
  try {
    const file = path.join(dir, 'x.safetensors');
    const a = new Float32Array([1.5, -2.25, 3e-8, 7]);
    const b = new Float32Array([0.1, 0.2, 0.3]);
    writeSafetensors(file, [
      { name: 'a', dtype: 'F32', shape: [2, 2], data: a },
      { name: 'b', dtype: 'F16', shape: [3], data: b },
      { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([-1e4]) },
    ], { format: 'pt' });
    const bytes = fs.readFileSync(file);
    assert.deepEqual(fs.readdirSync(dir), ['x.safetensors'], 'no temporary file left');
    const { read, size } = memoryFile(bytes);
    const header = parseSafetensorsHeader(read, size);
    assert.equal(header.headerLength % 8, 0);
    assert.equal(header.dataStart, 8 + header.headerLength);
    assert.deepEqual(header.metadata, { format: 'pt' });
    assert.deepEqual(header.tensors, [
      { name: 'a', dtype: 'F32', shape: [2, 2], begin: 0, end: 16 },
      { name: 'b', dtype: 'F16', shape: [3], begin: 16, end: 22 },
      { name: 'scalar', dtype: 'F32', shape: [], begin: 22, end: 26 },
    ]);
    assert.equal(header.dataLength, 26);
    const data = bytes.subarray(header.dataStart);
    assert.deepEqual([0, 1, 2, 3].map((i) => data.readFloatLE(i * 4)), [...a]);
    assert.deepEqual([0, 1, 2].map((i) => f16BitsToF32(data.readUInt16LE(16 + i * 2))), [...roundToF16(b)]);
    assert.equal(data.readFloatLE(22), -1e4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('writeSafetensors refuses data whose length disagrees with the shape', () => {
  assert.throws(
    () => writeSafetensors(path.join(os.tmpdir(), 'never-written.safetensors'), [{ name: 'a', dtype: 'F32', shape: [2, 3], data: new Float32Array(5) }]),
    { message: 'writeSafetensors: tensor "a" has shape [2, 3] but 5 values' },
  );
});

test('a header length over the cap is refused after reading only the 8 length bytes', () => {
  const file = fileFromHeader('{}', 0, 100_000_000n);
  const memory = memoryFile(file);
  assert.throws(() => parseSafetensorsHeader(memory.read, 100_000_008), { message: 'header length 100000000 bytes is over the 32 MiB limit' });
  assert.equal(memory.largestRead(), 8);
  assert.throws(() => parseSafetensorsHeader(memory.read, 2 ** 62), { message: 'header length 100000000 bytes is over the 32 MiB limit' });
  assert.equal(MAX_HEADER_BYTES, 32 * 1024 * 1024);
  const huge = fileFromHeader('{}', 0, 0xffffffffffffffffn);
  assert.equal(parseProblem(huge), 'header length 18446744073709551615 bytes is over the 32 MiB limit');
});

test('malformed headers: one exact message each', () => {
  const cases: [string, Uint8Array, string][] = [
    ['too short', new Uint8Array(5), 'file is 5 bytes, too short for the 8-byte header length (truncated?)'],
    ['length past end', fileFromHeader('{}', 0, 1000n), 'header length 1000 bytes runs past the end of the file (10 bytes; truncated?)'],
    ['bad UTF-8', fileFromHeader(new Uint8Array([0x7b, 0xff, 0x7d]), 0), 'header is not valid UTF-8'],
    ['not JSON', fileFromHeader('{"a":', 0), 'header is not valid JSON (Unexpected end of JSON input)'],
    ['not an object', fileFromHeader('[1,2]', 0), 'header is not a JSON object'],
    ['null', fileFromHeader('null', 0), 'header is not a JSON object'],
    ['entry not an object', fileFromHeader('{"a":3}', 0), 'tensor "a": header entry is not an object'],
    ['no dtype', fileFromHeader(JSON.stringify({ a: { shape: [1], data_offsets: [0, 4] } }), 4), 'tensor "a": "dtype" is missing or not a string'],
    ['unknown dtype', fileFromHeader(JSON.stringify({ a: entry('Q4', [1], [0, 4]) }), 4), 'tensor "a": unknown dtype "Q4"'],
    ['inherited property as dtype', fileFromHeader(JSON.stringify({ a: entry('toString', [1], [0, 4]) }), 4), 'tensor "a": unknown dtype "toString"'],
    ['shape not array', fileFromHeader(JSON.stringify({ a: entry('F32', 4, [0, 4]) }), 4), 'tensor "a": "shape" is missing or not an array'],
    ['negative dim', fileFromHeader(JSON.stringify({ a: entry('F32', [2, -1], [0, 4]) }), 4), 'tensor "a": shape [2,-1] has a dimension that is not a non-negative integer'],
    ['fractional dim', fileFromHeader(JSON.stringify({ a: entry('F32', [1.5], [0, 4]) }), 4), 'tensor "a": shape [1.5] has a dimension that is not a non-negative integer'],
    ['string dim', fileFromHeader(JSON.stringify({ a: entry('F32', ['1'], [0, 4]) }), 4), 'tensor "a": shape ["1"] has a dimension that is not a non-negative integer'],
    ['rank 9', fileFromHeader(JSON.stringify({ a: entry('F32', [1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 4]) }), 4), 'tensor "a": shape has 9 axes (at most 8 accepted)'],
    ['offsets not a pair', fileFromHeader(JSON.stringify({ a: entry('F32', [1], [0]) }), 4), 'tensor "a": "data_offsets" is missing or not a [begin, end] pair'],
    ['end before begin', fileFromHeader(JSON.stringify({ a: entry('F32', [1], [4, 0]) }), 4), 'tensor "a": data_offsets [4,0] are not integers with 0 <= begin <= end'],
    ['negative begin', fileFromHeader(JSON.stringify({ a: entry('F32', [1], [-4, 0]) }), 4), 'tensor "a": data_offsets [-4,0] are not integers with 0 <= begin <= end'],
    ['past the data', fileFromHeader(JSON.stringify({ a: entry('F32', [2], [0, 8]) }), 4), 'tensor "a": data_offsets [0, 8] run past the end of the data (4 bytes; truncated?)'],
    ['bytes vs shape', fileFromHeader(JSON.stringify({ a: entry('F32', [3], [0, 8]) }), 8), 'tensor "a": shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8'],
    ['shape overflows 2^53', fileFromHeader(JSON.stringify({ a: entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 8]) }), 8), 'tensor "a": shape [1073741824, 1073741824, 1073741824] of F32 needs more than 2^53 bytes but data_offsets [0, 8] hold 8'],
    ['overlap', fileFromHeader(JSON.stringify({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }), 12), 'tensors "a" [0, 8) and "b" [4, 12) overlap'],
    ['metadata not object', fileFromHeader(JSON.stringify({ __metadata__: 'x' }), 0), 'header "__metadata__" is not an object'],
    ['metadata value not string', fileFromHeader(JSON.stringify({ __metadata__: { k: 1 } }), 0), 'header "__metadata__" entry "k" is not a string'],
    ['newline in a name', fileFromHeader(JSON.stringify({ 'a\nb\u2028': 1 }), 0), 'tensor "a\\nb\\u2028": header entry is not an object'],
  ];
  for (const [label, file, message] of cases) assert.equal(parseProblem(file), message, label);
});

test('deeply nested hostile JSON is refused without overflowing the stack', () => {
  const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
  assert.equal(parseProblem(fileFromHeader(`{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,4]}}`, 4)),
    'tensor "a": shape [[…]] has a dimension that is not a non-negative integer');
  assert.equal(parseProblem(fileFromHeader(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[${deep},4]}}`, 4)),
    'tensor "a": data_offsets [[…],4] are not integers with 0 <= begin <= end');
  assert.equal(parseProblem(fileFromHeader(`{"a":${deep}}`, 0)), 'tensor "a": header entry is not an object');
});

test('valid edge cases: empty header, zero-size tensors at the same offset, gaps and padding', () => {
  const ok = (file: Uint8Array): ReturnType<typeof parseSafetensorsHeader> => {
    const { read, size } = memoryFile(file);
    return parseSafetensorsHeader(read, size);
  };
  assert.equal(ok(fileFromHeader('{}', 0)).tensors.length, 0);
  const header = ok(fileFromHeader(`${JSON.stringify({ e: entry('F32', [0, 5], [4, 4]), f: entry('F16', [0], [4, 4]), a: entry('F32', [1], [0, 4]), g: entry('U8', [2], [8, 10]) })}    `, 10));
  assert.deepEqual(header.tensors.map((t) => t.name), ['e', 'f', 'a', 'g']);
  assert.deepEqual(header.tensors[3], { name: 'g', dtype: 'U8', shape: [2], begin: 8, end: 10 });
});

test('quote, oneLine and describeJsonValue keep messages short and on one line', () => {
  assert.equal(describeJsonValue([1, 'x', null, [2], { a: 1 }]), '[1,"x",null,[…],{…}]');
  assert.equal(describeJsonValue(Array.from({ length: 20 }, (_, i) => i)), '[0,1,2,3,4,5,6,7,…]');
  assert.equal(describeJsonValue({ a: 1 }), '{…}');
  assert.equal(quote('x\r\ny\u0085'), '"x\\r\\ny\\u0085"');
  assert.equal(quote('a'.repeat(100)).length, 83);
  assert.equal(oneLine('a\nb\u2028c\td', 100), 'a b c d');
  assert.equal(oneLine('abcdef', 3), 'abc…');
});
