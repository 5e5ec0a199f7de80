/**
 * File access shared by every checkpoint format: the one-line CheckpointError, opening regular
 * files only, exact positional reads, and the allocation counter the fuzz tests assert a bound on.
 */
import * as fs from 'node:fs';
import { formatBytes, oneLine } from '../safetensors';

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

// ---- allocation accounting (the fuzz tests assert a bound on it) -------------------------------

let largestAllocationBytes = 0;

/** Size in bytes of the largest buffer the loader allocated since resetAllocationStats(). */
export function largestAllocation(): number {
  return largestAllocationBytes;
}

export function resetAllocationStats(): void {
  largestAllocationBytes = 0;
}

/** Every buffer sized by something read from a file is allocated here, so it is counted. */
export function allocateBytes(bytes: number): Uint8Array {
  largestAllocationBytes = Math.max(largestAllocationBytes, bytes);
  return new Uint8Array(bytes);
}

// ---- reads --------------------------------------------------------------------------------------

/** Reads exactly `length` bytes at `position` (fewer only when `allowShort`, at the end of the file). */
export function readAt(fd: number, file: string, position: number, length: number, allowShort: boolean): Uint8Array {
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

export function writeAllAt(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

// ---- file system helpers ------------------------------------------------------------------------

/** False when nothing is at `file`; other problems (a symlink loop, permissions) are errors. */
export function exists(file: string): boolean {
  try {
    fs.statSync(file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw new CheckpointError(file, describeFsError(error));
  }
}

export function statOrThrow(file: string, missing: string): fs.Stats {
  try {
    return fs.statSync(file);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') throw new CheckpointError(file, missing);
    throw new CheckpointError(file, describeFsError(error));
  }
}

/**
 * Opens a regular file for reading (a symlink is followed: the Hugging Face cache links
 * snapshots to blobs); FIFOs and devices are refused before they can block or stream forever.
 */
export function openRegularFile(file: string): number {
  const stat = statOrThrow(file, 'not found');
  if (stat.isDirectory()) throw new CheckpointError(file, 'is a folder, expected a file');
  if (!stat.isFile()) throw new CheckpointError(file, 'is not a regular file');
  try {
    return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    throw new CheckpointError(file, describeFsError(error));
  }
}

/** Opens `file`, runs `use` with its descriptor and size, and always closes it. */
export function withOpenFile<T>(file: string, use: (fd: number, size: number, stat: fs.Stats) => T): T {
  const fd = openRegularFile(file);
  try {
    const stat = fs.fstatSync(fd);
    return use(fd, stat.size, stat);
  } finally {
    fs.closeSync(fd);
  }
}

/** A small file's bytes, refusing anything over maxBytes before reading it. */
export function readSmallFile(file: string, maxBytes: number): Uint8Array {
  return withOpenFile(file, (fd, size) => {
    if (size > maxBytes) throw new CheckpointError(file, `is ${size} bytes, over the ${formatBytes(maxBytes)} limit for this file`);
    return readAt(fd, file, 0, size, true);
  });
}

export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

export function describeFsError(error: unknown): string {
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
