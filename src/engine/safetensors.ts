/**
 * The safetensors file format: a writer and a strict header parser.
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {…} }`, then the data
 * block; offsets are relative to the start of the data block (byte 8 + N).
 *
 * The parser trusts nothing in the file: the header length is capped before anything is
 * allocated, and every offset, dtype and shape is checked against the real file size, so no
 * later read is sized by an unchecked value. Problems are reported as one-line
 * `SafetensorsFormatError`s; callers add the file name (see checkpoint.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

/** Largest header accepted: real GPT-2 headers are a few tens of KiB; this leaves room for huge models. */
export const MAX_HEADER_BYTES = 32 * 1024 * 1024;
/** Tensors with more axes than this are refused (GPT-2 uses at most 4, for the attn.bias mask). */
export const MAX_TENSOR_RANK = 8;

/** Element sizes of every dtype the safetensors spec defines; only F32 and F16 can be read as weights. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
};

/** A problem with the bytes of a safetensors file; the message is one line without the file name. */
export class SafetensorsFormatError extends Error {
  override readonly name = 'SafetensorsFormatError';
}

/** One tensor as the header describes it (already validated against the file size). */
export interface SafetensorsTensorInfo {
  /** Name exactly as stored in the file. */
  readonly name: string;
  /** One of the keys of SAFETENSORS_DTYPE_BYTES. */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte range relative to the data block: [begin, end). */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes. */
  readonly headerLength: number;
  /** Absolute offset of the data block (8 + N). */
  readonly dataStart: number;
  /** Bytes from dataStart to the end of the file. */
  readonly dataLength: number;
  readonly tensors: readonly SafetensorsTensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  /** The raw header bytes (for fingerprints). */
  readonly headerBytes: Uint8Array;
}

/**
 * Reads `length` bytes at absolute `position`; may return fewer only at the end of the file.
 * The parser allocates nothing itself beyond what it asks this reader for, so a reader that
 * records `length` measures the parser's largest allocation.
 */
export type ByteReader = (position: number, length: number) => Uint8Array;

/** Validates the header of a safetensors file of `fileSize` bytes; throws SafetensorsFormatError. */
export function parseSafetensorsHeader(read: ByteReader, fileSize: number, maxHeaderBytes = MAX_HEADER_BYTES): SafetensorsHeader {
  if (fileSize < 8) {
    throw new SafetensorsFormatError(`file is ${fileSize} bytes, too short for the 8-byte header length (truncated?)`);
  }
  const lengthBytes = read(0, 8);
  if (lengthBytes.length < 8) throw new SafetensorsFormatError('file ended while reading the 8-byte header length (truncated?)');
  const headerLengthBig = Buffer.from(lengthBytes.buffer, lengthBytes.byteOffset, 8).readBigUInt64LE(0);
  if (headerLengthBig > BigInt(maxHeaderBytes)) {
    throw new SafetensorsFormatError(`header length ${headerLengthBig} bytes is over the ${formatBytes(maxHeaderBytes)} limit`);
  }
  const headerLength = Number(headerLengthBig);
  if (8 + headerLength > fileSize) {
    throw new SafetensorsFormatError(`header length ${headerLength} bytes runs past the end of the file (${fileSize} bytes; truncated?)`);
  }
  const headerBytes = read(8, headerLength);
  if (headerBytes.length < headerLength) throw new SafetensorsFormatError('file ended while reading the header (truncated?)');

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsFormatError('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsFormatError(`header is not valid JSON (${oneLine(error instanceof Error ? error.message : String(error), 120)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsFormatError('header is not a JSON object');
  }

  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  const tensors: SafetensorsTensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value);
      continue;
    }
    tensors.push(parseTensorInfo(name, value, dataLength));
  }
  checkNoOverlap(tensors);
  return { headerLength, dataStart, dataLength, tensors, metadata, headerBytes };
}

function parseMetadata(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsFormatError('header "__metadata__" is not an object');
  }
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (typeof item !== 'string') throw new SafetensorsFormatError(`header "__metadata__" entry ${quote(key)} is not a string`);
    out[key] = item;
  }
  return out;
}

function parseTensorInfo(name: string, value: unknown, dataLength: number): SafetensorsTensorInfo {
  const where = `tensor ${quote(name)}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SafetensorsFormatError(`${where}: header entry is not an object`);
  }
  const entry = value as Record<string, unknown>;
  const dtype = entry['dtype'];
  if (typeof dtype !== 'string') throw new SafetensorsFormatError(`${where}: "dtype" is missing or not a string`);
  const elementBytes = SAFETENSORS_DTYPE_BYTES[dtype];
  if (elementBytes === undefined || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)) {
    throw new SafetensorsFormatError(`${where}: unknown dtype ${quote(dtype)}`);
  }

  const shapeValue = entry['shape'];
  if (!Array.isArray(shapeValue)) throw new SafetensorsFormatError(`${where}: "shape" is missing or not an array`);
  if (shapeValue.length > MAX_TENSOR_RANK) {
    throw new SafetensorsFormatError(`${where}: shape has ${shapeValue.length} axes (at most ${MAX_TENSOR_RANK} accepted)`);
  }
  const shape: number[] = [];
  let elements = 1;
  for (const dim of shapeValue) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw new SafetensorsFormatError(`${where}: shape ${describeJsonValue(shapeValue)} has a dimension that is not a non-negative integer`);
    }
    shape.push(dim);
    // Saturate instead of overflowing: anything this large cannot match a real byte range.
    elements = elements * dim > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : elements * dim;
  }

  const offsets = entry['data_offsets'];
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SafetensorsFormatError(`${where}: "data_offsets" is missing or not a [begin, end] pair`);
  }
  const [begin, end] = offsets as unknown[];
  if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
    throw new SafetensorsFormatError(`${where}: data_offsets ${describeJsonValue(offsets)} are not integers with 0 <= begin <= end`);
  }
  if (end > dataLength) {
    throw new SafetensorsFormatError(`${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes; truncated?)`);
  }
  const byteLength = elements * elementBytes;
  if (byteLength !== end - begin) {
    throw new SafetensorsFormatError(
      `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${elements >= Number.MAX_SAFE_INTEGER ? 'more than 2^53' : byteLength} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, shape, begin, end };
}

function checkNoOverlap(tensors: readonly SafetensorsTensorInfo[]): void {
  // Empty tensors occupy no bytes, so they cannot overlap anything.
  const sorted = tensors.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1] as SafetensorsTensorInfo;
    const current = sorted[i] as SafetensorsTensorInfo;
    if (current.begin < previous.end) {
      throw new SafetensorsFormatError(
        `tensors ${quote(previous.name)} [${previous.begin}, ${previous.end}) and ${quote(current.name)} [${current.begin}, ${current.end}) overlap`,
      );
    }
  }
}

/** A tensor to write; data is F32 and is rounded to F16 / BF16 when dtype says so. */
export interface TensorToWrite {
  readonly name: string;
  readonly dtype: 'F32' | 'F16' | 'BF16';
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * Writes a safetensors file (tensors in the given order, contiguous, header padded with spaces
 * to a multiple of 8 so F32 data stays aligned). Written to a temporary name, then renamed.
 */
export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): void {
  assertLittleEndian();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header['__metadata__'] = metadata;
  let offset = 0;
  for (const tensor of tensors) {
    const elements = tensor.shape.reduce((a, b) => a * b, 1);
    if (elements !== tensor.data.length) {
      throw new Error(`writeSafetensors: tensor ${quote(tensor.name)} has shape [${tensor.shape.join(', ')}] but ${tensor.data.length} values`);
    }
    const byteLength = elements * (tensor.dtype === 'F32' ? 4 : 2);
    header[tensor.name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const lengthBytes = Buffer.alloc(8);
  lengthBytes.writeBigUInt64LE(BigInt(headerBytes.length));

  const temporary = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = fs.openSync(temporary, 'w');
  try {
    writeAll(fd, lengthBytes);
    writeAll(fd, headerBytes);
    for (const tensor of tensors) {
      const bytes = tensor.dtype === 'F16' ? f32ArrayToF16Bits(tensor.data) : tensor.dtype === 'BF16' ? f32ArrayToBf16Bits(tensor.data) : tensor.data;
      writeAll(fd, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
    fs.closeSync(fd);
    fs.renameSync(temporary, path);
  } catch (error) {
    try { fs.closeSync(fd); } catch { /* already closed */ }
    try { fs.unlinkSync(temporary); } catch { /* never created */ }
    throw error;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

// ---- float16 ----------------------------------------------------------------------------------

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE binary16 bits of `value`, rounded to nearest, ties to even (as numpy/PyTorch do). */
export function f32ToF16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // Inf or NaN
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (halfExponent <= 0) {
    // Subnormal half: shift the 24-bit significand down, rounding ties to even.
    if (halfExponent < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const half = 1 << (shift - 1);
    let bits = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    if (rest > half || (rest === half && (bits & 1) === 1)) bits++;
    return sign | bits; // a carry into bit 10 correctly gives the smallest normal
  }
  let bits = sign | (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (bits & 1) === 1)) bits++; // a carry may reach Inf, as it should
  return bits;
}

let f16Table: Float32Array | undefined;

/** F32 value of every binary16 bit pattern, built once (256 KiB). */
function f16ToF32Table(): Float32Array {
  if (f16Table !== undefined) return f16Table;
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) table[bits] = mantissa !== 0 ? NaN : sign * Infinity;
    else table[bits] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  f16Table = table;
  return table;
}

/** The F32 value of binary16 bits `bits`. */
export function f16BitsToF32(bits: number): number {
  return f16ToF32Table()[bits & 0xffff] as number;
}

/** Converts binary16 bit patterns to F32 values, into `out` (same length) when given. */
export function f16BitsToF32Array(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const table = f16ToF32Table();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i] as number] as number;
  return out;
}

/** Binary16 bit patterns of F32 values (round to nearest even). */
export function f32ArrayToF16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i] as number);
  return out;
}

/** Values rounded to F16 precision and back to F32 (what an F16 checkpoint really holds). */
export function roundToF16(values: Float32Array): Float32Array {
  return f16BitsToF32Array(f32ArrayToF16Bits(values));
}

// ---- bfloat16 ---------------------------------------------------------------------------------

/** bfloat16 bit patterns (the top 16 bits of an F32) of F32 values, rounded to nearest even as PyTorch does. */
export function f32ArrayToBf16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i] as number;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) out[i] = (x >>> 16) | 0x40; // NaN stays NaN
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** Values rounded to BF16 precision and back to F32 (what a BF16 checkpoint really holds; the upcast is exact). */
export function roundToBf16(values: Float32Array): Float32Array {
  const half = f32ArrayToBf16Bits(values);
  const out = new Float32Array(values.length);
  const wide = new Uint32Array(out.buffer);
  for (let i = 0; i < half.length; i++) wide[i] = (half[i] as number) << 16;
  return out;
}

// ---- small helpers ----------------------------------------------------------------------------

/** Typed-array views of file bytes assume a little-endian CPU (x86, ARM as Node runs them). */
export function assertLittleEndian(): void {
  if (os.endianness() !== 'LE') throw new Error('Residual Lens reads safetensors only on little-endian CPUs');
}

/** A name from a file, quoted and made safe for a one-line message (control characters escaped, long names cut). */
export function quote(name: string, maxLength = 80): string {
  const shown = name.length > maxLength ? `${name.slice(0, maxLength)}…` : name;
  return JSON.stringify(shown).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Text squeezed onto one line and cut to maxLength characters. */
export function oneLine(text: string, maxLength: number): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > maxLength ? `${flat.slice(0, maxLength)}…` : flat;
}

/**
 * A short one-line rendering of a parsed JSON value for messages, e.g. `[2,-1]`, `"16"`, `{…}`.
 * Never recurses (JSON.stringify would overflow the stack on deeply nested hostile input).
 */
export function describeJsonValue(value: unknown): string {
  const scalar = (v: unknown): string => {
    if (typeof v === 'string') return quote(v, 40);
    if (Array.isArray(v)) return '[…]';
    if (typeof v === 'object' && v !== null) return '{…}';
    return String(v);
  };
  if (!Array.isArray(value)) return scalar(value);
  const shown = value.slice(0, 8).map(scalar).join(',');
  return `[${shown}${value.length > 8 ? ',…' : ''}]`;
}

/** "32 MiB", "1.5 KiB", "12 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}
