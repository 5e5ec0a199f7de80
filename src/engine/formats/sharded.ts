/**
 * Sharded checkpoints as transformers' save_pretrained writes them: `model.safetensors.index.json`
 * `{ "metadata": { "total_size": N }, "weight_map": { tensor: "model-0000k-of-0000n.safetensors" } }`
 * beside the shards (or `pytorch_model.bin.index.json` and `pytorch_model-0000k-of-0000n.bin`
 * with safe_serialization=False). Every shard is validated like a single file, and the index is
 * checked against them both ways: each mapped tensor is in the shard the index names, and each
 * shard's tensors are all mapped to it (a stale index is refused, not half-used).
 */
import * as path from 'node:path';
import { describeJsonValue, oneLine, quote } from '../safetensors';
import { CheckpointError, exists, readSmallFile } from './fileAccess';
import { readSafetensorsFile } from './safetensorsFile';
import { readTorchBin } from './torchBin';
import type { SourceFile, StoredTensor, WeightSource } from './types';

export const INDEX_FILE = 'model.safetensors.index.json';
export const BIN_INDEX_FILE = 'pytorch_model.bin.index.json';
/** Largest index accepted (GPT-2 XL's has ~600 entries, about 30 KiB). */
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;
/** More shards than this is not a GPT-2 checkpoint. */
export const MAX_SHARDS = 1024;
const SHARD_NAME = { safetensors: /^[A-Za-z0-9][A-Za-z0-9._-]*\.safetensors$/, bin: /^[A-Za-z0-9][A-Za-z0-9._-]*\.bin$/ };

/** One shard's tensors, file and layout bytes, read by its format's reader. */
function readShard(file: string, kind: 'safetensors' | 'bin'): { file: SourceFile; tensors: readonly StoredTensor[]; layout: readonly Uint8Array[]; notes: readonly string[] } {
  if (kind === 'safetensors') {
    const contents = readSafetensorsFile(file);
    return { file: contents.file, tensors: contents.tensors, layout: [contents.headerBytes], notes: [] };
  }
  const source = readTorchBin(file);
  return { file: source.files[0] as SourceFile, tensors: source.tensors, layout: source.layoutBytes, notes: source.notes };
}

export function readShardedSafetensors(folder: string): WeightSource {
  return readSharded(folder, 'safetensors');
}

export function readShardedBin(folder: string): WeightSource {
  return readSharded(folder, 'bin');
}

function readSharded(folder: string, kind: 'safetensors' | 'bin'): WeightSource {
  const indexName = kind === 'safetensors' ? INDEX_FILE : BIN_INDEX_FILE;
  const indexPath = path.join(folder, indexName);
  const fail = (problem: string): never => {
    throw new CheckpointError(indexPath, problem);
  };
  const bytes = readSmallFile(indexPath, MAX_INDEX_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    fail(`is not valid JSON (${oneLine(error instanceof Error ? error.message : String(error), 120)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('is not a JSON object');
  const weightMap = (json as Record<string, unknown>)['weight_map'];
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) return fail('has no "weight_map" object');

  const shardOf = new Map<string, string>();
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || !SHARD_NAME[kind].test(shard)) {
      fail(`weight_map maps ${quote(tensor)} to ${describeJsonValue(shard)}, not a .${kind} file name in this folder`);
    }
    shardOf.set(tensor, shard as string);
    shards.add(shard as string);
  }
  if (shards.size === 0) fail('weight_map is empty');
  if (shards.size > MAX_SHARDS) fail(`names ${shards.size} shards (at most ${MAX_SHARDS} accepted)`);

  const tensors: StoredTensor[] = [];
  const files = [];
  const layoutBytes: Uint8Array[] = [bytes];
  const notes: string[] = [];
  let totalBytes = 0;
  for (const shard of [...shards].sort()) {
    const shardPath = path.join(folder, shard);
    if (!exists(shardPath)) fail(`names shard ${quote(shard)}, which is not in the folder`);
    const contents = readShard(shardPath, kind);
    files.push(contents.file);
    layoutBytes.push(...contents.layout);
    notes.push(...contents.notes);
    for (const t of contents.tensors) {
      const mapped = shardOf.get(t.name);
      if (mapped === undefined) throw new CheckpointError(shardPath, `holds tensor ${quote(t.name)}, which the index does not list (stale index?)`);
      if (mapped !== shard) throw new CheckpointError(shardPath, `holds tensor ${quote(t.name)}, which the index places in ${quote(mapped)}`);
      shardOf.delete(t.name);
      tensors.push(t);
      totalBytes += t.byteLength;
    }
  }
  const [missing] = shardOf;
  if (missing !== undefined) fail(`maps tensor ${quote(missing[0])} to ${quote(missing[1])}, which does not hold it`);

  const metadata = (json as Record<string, unknown>)['metadata'];
  const declared = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)['total_size'] : undefined;
  if (typeof declared === 'number' && declared !== totalBytes) {
    // transformers' own loader ignores total_size; a mismatch is worth a note, not a refusal.
    notes.push(`${indexName} says total_size ${declared} but the shards hold ${totalBytes} bytes of tensors`);
  }
  return { format: kind === 'safetensors' ? 'sharded-safetensors' : 'sharded-pytorch-bin', primaryFile: indexPath, files, tensors, layoutBytes, notes };
}
