/**
 * What every checkpoint format reader returns: the tensors it found, each located as a byte range
 * of one file, so checkpoint.ts matches names and shapes and reads bytes the same way for all.
 */

/** Weight dtypes the loader converts to F32; any other dtype is only accepted on ignored buffers. */
export type WeightDtype = 'F32' | 'F16' | 'BF16';

export const WEIGHT_DTYPE_BYTES: Readonly<Record<WeightDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

export function isWeightDtype(dtype: string): dtype is WeightDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** One tensor of a checkpoint file, already validated against that file's size. */
export interface StoredTensor {
  /** Name exactly as stored (may carry the 'transformer.' prefix). */
  readonly name: string;
  /** A safetensors dtype name ('F32', 'F16', 'BF16', 'BOOL', 'I64', …). */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** The file that holds its bytes (contiguous, row-major, little-endian). */
  readonly file: string;
  /** Absolute byte offset of element 0 in `file`. */
  readonly fileOffset: number;
  readonly byteLength: number;
  /**
   * Why its bytes cannot be read as a weight (e.g. a strided .bin view), if so: only an error
   * when the tensor is one the model needs.
   */
  readonly unreadable?: string;
}

/** A file the tensors live in, with what it was when opened (reads refuse a file that changed). */
export interface SourceFile {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export type CheckpointFormat = 'safetensors' | 'sharded-safetensors' | 'pytorch-bin' | 'sharded-pytorch-bin';

/** Everything a format reader found, before names and shapes are matched to config.json. */
export interface WeightSource {
  readonly format: CheckpointFormat;
  /** The file named in messages about the checkpoint as a whole (model.safetensors, the index, pytorch_model.bin). */
  readonly primaryFile: string;
  readonly files: readonly SourceFile[];
  readonly tensors: readonly StoredTensor[];
  /** Bytes that change whenever the tensor layout does (headers, the pickle), for the fingerprint. */
  readonly layoutBytes: readonly Uint8Array[];
  /** Things worth telling the user that do not stop the load. */
  readonly notes: readonly string[];
}
