/** One safetensors file as a WeightSource piece: the header validated against the file (safetensors.ts). */
import { MAX_HEADER_BYTES, parseSafetensorsHeader, SafetensorsFormatError } from '../safetensors';
import { CheckpointError, readAt, withOpenFile } from './fileAccess';
import type { SourceFile, StoredTensor } from './types';

export interface SafetensorsFileContents {
  readonly file: SourceFile;
  readonly tensors: StoredTensor[];
  readonly headerBytes: Uint8Array;
}

/** Reads and validates one safetensors file's header; reads no tensor data. */
export function readSafetensorsFile(file: string): SafetensorsFileContents {
  return withOpenFile(file, (fd, size, stat) => {
    let header: ReturnType<typeof parseSafetensorsHeader>;
    try {
      header = parseSafetensorsHeader((position, length) => readAt(fd, file, position, length, true), size, MAX_HEADER_BYTES);
    } catch (error) {
      if (error instanceof SafetensorsFormatError) throw new CheckpointError(file, error.message);
      throw error;
    }
    const tensors = header.tensors.map((t): StoredTensor => ({
      name: t.name,
      dtype: t.dtype,
      shape: t.shape,
      file,
      fileOffset: header.dataStart + t.begin,
      byteLength: t.end - t.begin,
    }));
    return { file: { path: file, size, mtimeMs: stat.mtimeMs }, tensors, headerBytes: header.headerBytes };
  });
}
