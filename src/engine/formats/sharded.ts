/**
 * Sharded safetensors as transformers' save_pretrained writes them: `model.safetensors.index.json`
 * `{ "metadata": { "total_size": N }, "weight_map": { tensor: "model-0000k-of-0000n.safetensors" } }`
 * beside the shards. Every shard is validated like a single file, and the index is checked
 * against them both ways: each mapped tensor is in the shard the index names, and each shard's
 * tensors are all mapped to it (a stale index is refused, not half-used).
 */
import * as path from 'node:path';
import { describeJsonValue, oneLine, quote } from '../safetensors';
import { CheckpointError, exists, readSmallFile } from './fileAccess';
import { readSafetensorsFile } from './safetensorsFile';
import type { StoredTensor, WeightSource } from './types';

export const INDEX_FILE = 'model.safetensors.index.json';
/** Largest index accepted (GPT-2 XL's has ~600 entries, about 30 KiB). */
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;
/** More shards than this is not a GPT-2 checkpoint. */
export const MAX_SHARDS = 1024;
const SHARD_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.safetensors$/;

export function readShardedSafetensors(folder: string): WeightSource {
  const indexPath = path.join(folder, INDEX_FILE);
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
    if (typeof shard !== 'string' || !SHARD_NAME.test(shard)) {
      fail(`weight_map maps ${quote(tensor)} to ${describeJsonValue(shard)}, not a .safetensors file name in this folder`);
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
    const contents = readSafetensorsFile(shardPath);
    files.push(contents.file);
    layoutBytes.push(contents.headerBytes);
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
    notes.push(`${INDEX_FILE} says total_size ${declared} but the shards hold ${totalBytes} bytes of tensors`);
  }
  return { format: 'sharded-safetensors', primaryFile: indexPath, files, tensors, layoutBytes, notes };
}
