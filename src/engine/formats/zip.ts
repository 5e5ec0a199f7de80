/**
 * Just enough of the ZIP format (PKWARE APPNOTE 6.3) to find the records of a PyTorch checkpoint:
 * the end-of-central-directory record (and its ZIP64 form, for files over 4 GiB), the central
 * directory, and each wanted entry's local header, which gives where its bytes start.
 *
 * torch.save writes every record uncompressed ("stored") and aligns its data to 64 bytes, so a
 * tensor is a plain byte range of the .bin file; compressed or encrypted entries are refused.
 * Every size and offset is checked against the real file size before it is used, and every
 * buffer is bounded (the central directory by MAX_CENTRAL_DIRECTORY_BYTES).
 */
import { formatBytes, quote } from '../safetensors';
import { CheckpointError, readAt } from './fileAccess';

export const MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024 * 1024;
const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
/** EOCD (22 bytes) plus the longest comment (65535). */
const EOCD_SEARCH_BYTES = 22 + 0xffff;

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored; anything else is compressed. */
  readonly method: number;
  readonly encrypted: boolean;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

export interface ZipDirectory {
  readonly entries: ReadonlyMap<string, ZipEntry>;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(v: DataView, at: number): number {
  const value = v.getBigUint64(at, true);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

/** Reads the central directory of the zip file open as `fd`. */
export function readZipDirectory(fd: number, file: string, fileSize: number): ZipDirectory {
  const fail = (problem: string): never => {
    throw new CheckpointError(file, problem);
  };
  if (fileSize < 22) fail(`is ${fileSize} bytes, too short to be a zip file (truncated?)`);
  const tailLength = Math.min(fileSize, EOCD_SEARCH_BYTES);
  const tailStart = fileSize - tailLength;
  const tail = readAt(fd, file, tailStart, tailLength, false);
  const tv = view(tail);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('is not a complete zip file: no end-of-central-directory record (truncated?)');
  let count = tv.getUint16(eocd + 10, true);
  let directorySize = tv.getUint32(eocd + 12, true);
  let directoryOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    // ZIP64: a locator just before the EOCD points at the ZIP64 end-of-central-directory record.
    if (eocd < 20 || tv.getUint32(eocd - 20, true) !== ZIP64_LOCATOR_SIGNATURE) fail('is a ZIP64 file without a ZIP64 locator (corrupt?)');
    const recordOffset = u64(tv, eocd - 20 + 8);
    if (recordOffset + 56 > tailStart + eocd - 20) fail('has a ZIP64 end record outside the file (corrupt?)');
    const record = view(readAt(fd, file, recordOffset, 56, false));
    if (record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) fail('has a ZIP64 locator that points at no ZIP64 end record (corrupt?)');
    count = u64(record, 32);
    directorySize = u64(record, 40);
    directoryOffset = u64(record, 48);
  }
  if (directoryOffset + directorySize > fileSize) {
    fail(`has a central directory [${directoryOffset}, ${directoryOffset + directorySize}) past the end of the file (${fileSize} bytes; truncated?)`);
  }
  if (directorySize > MAX_CENTRAL_DIRECTORY_BYTES) fail(`has a ${directorySize}-byte central directory, over the ${formatBytes(MAX_CENTRAL_DIRECTORY_BYTES)} limit`);
  if (count > directorySize / 46) fail(`declares ${count} entries but its central directory holds at most ${Math.floor(directorySize / 46)}`);

  const directory = readAt(fd, file, directoryOffset, directorySize, false);
  const dv = view(directory);
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > directory.length || dv.getUint32(at, true) !== CENTRAL_SIGNATURE) fail(`central directory entry ${i} is malformed (corrupt?)`);
    const flags = dv.getUint16(at + 8, true);
    const method = dv.getUint16(at + 10, true);
    let compressedSize = dv.getUint32(at + 20, true);
    let size = dv.getUint32(at + 24, true);
    const nameLength = dv.getUint16(at + 28, true);
    const extraLength = dv.getUint16(at + 30, true);
    const commentLength = dv.getUint16(at + 32, true);
    let localHeaderOffset = dv.getUint32(at + 42, true);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > directory.length) fail(`central directory entry ${i} runs past the directory (corrupt?)`);
    const name = new TextDecoder('utf-8').decode(directory.subarray(at + 46, at + 46 + nameLength));
    // ZIP64 extended information: the 64-bit values of the fields that read 0xFFFFFFFF, in order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = dv.getUint16(extra, true);
      const length = dv.getUint16(extra + 2, true);
      if (extra + 4 + length > extraEnd) break;
      if (id === 0x0001) {
        let field = extra + 4;
        const next = (): number => {
          if (field + 8 > extra + 4 + length) fail(`entry ${quote(name)} has a short ZIP64 field (corrupt?)`);
          const value = u64(dv, field);
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      extra += 4 + length;
    }
    if (entries.has(name)) fail(`holds two entries named ${quote(name)}`);
    entries.set(name, { name, method, encrypted: (flags & 1) !== 0, compressedSize, size, localHeaderOffset });
    at = end;
  }
  return { entries };
}

/**
 * Absolute offset of an entry's bytes, checked to be a stored (uncompressed, unencrypted) entry
 * whose `size` bytes lie inside the file.
 */
export function storedEntryData(fd: number, file: string, fileSize: number, entry: ZipEntry): number {
  const fail = (problem: string): never => {
    throw new CheckpointError(file, `zip entry ${quote(entry.name)} ${problem}`);
  };
  if (entry.encrypted) fail('is encrypted');
  if (entry.method !== 0) fail(`is compressed (method ${entry.method}); torch.save stores records uncompressed, so this file was re-zipped: save it again with torch.save`);
  if (entry.compressedSize !== entry.size) fail('has different stored and uncompressed sizes (corrupt?)');
  if (entry.localHeaderOffset + 30 > fileSize) fail('has a local header past the end of the file (truncated?)');
  const header = view(readAt(fd, file, entry.localHeaderOffset, 30, false));
  if (header.getUint32(0, true) !== LOCAL_SIGNATURE) fail('has no local header where the directory says (corrupt?)');
  const dataStart = entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  if (dataStart + entry.size > fileSize) fail(`runs past the end of the file ([${dataStart}, ${dataStart + entry.size}) of ${fileSize} bytes; truncated?)`);
  return dataStart;
}
