/**
 * The on-disk cache of circuits reports: <cacheDir>/circuits/<key>.json (structure, with
 * {"$f32": [offset, length]} placeholders) + <key>.bin (every Float32Array's bytes, concatenated).
 * The key hashes the cache version, the model fingerprint and the options; the JSON also records
 * the version, so a report written by an older build is never served (it is recomputed).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CircuitsOptions, CircuitsReport } from '../analysis/circuitTypes';

/**
 * Bump whenever a CircuitsReport gains or changes a field or its numbers change (e.g. v2: heads'
 * `ovTopTokens`, W_U with center_unembed, `subspaces.headOverlap`). test/integration/engineCircuits.test.ts
 * pins the report's field list to this number, so a new field without a bump fails there.
 */
export const CIRCUITS_CACHE_VERSION = 3; // 3: detectorCeilings

/** <cacheDir>/circuits/<32 hex> (without extension) for this model and options. */
export function circuitsCachePath(cacheDir: string, fingerprint: string, options: CircuitsOptions, version = CIRCUITS_CACHE_VERSION): string {
  const key = createHash('sha256')
    .update(JSON.stringify({ v: version, fingerprint, seed: options.seed ?? 0, tokenSample: options.tokenSample ?? 200 }))
    .digest('hex')
    .slice(0, 32);
  return path.join(cacheDir, 'circuits', key);
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Splits a report into JSON with {"$f32": [offset, length]} placeholders and one binary blob. */
function encode(value: unknown, blobs: Float32Array[], offset: { n: number }): Json {
  if (value instanceof Float32Array) {
    const ref: Json = { $f32: [offset.n, value.length] };
    blobs.push(value);
    offset.n += value.length;
    return ref;
  }
  if (Array.isArray(value)) return value.map((v) => encode(v, blobs, offset));
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = encode(v, blobs, offset);
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return { $num: String(value) };
  return value as Json;
}

function decode(value: Json, data: Float32Array): unknown {
  if (Array.isArray(value)) return value.map((v) => decode(v, data));
  if (value !== null && typeof value === 'object') {
    if (typeof value.$num === 'string') return Number(value.$num);
    const ref = value.$f32;
    if (Array.isArray(ref) && typeof ref[0] === 'number' && typeof ref[1] === 'number') {
      if (ref[0] < 0 || ref[1] < 0 || ref[0] + ref[1] > data.length) throw new Error('circuits cache: reference out of range');
      return data.slice(ref[0], ref[0] + ref[1]);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = decode(v, data);
    return out;
  }
  return value;
}

/** The cached report, or undefined when missing, damaged or written with another version. */
export function readCircuitsCache(file: string, version = CIRCUITS_CACHE_VERSION): CircuitsReport | undefined {
  try {
    const json = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as { v?: number; report?: Json };
    if (json.v !== version || json.report === undefined) return undefined;
    const bytes = fs.readFileSync(`${file}.bin`);
    if (bytes.byteLength % 4 !== 0) return undefined;
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    return decode(json.report, data) as CircuitsReport;
  } catch {
    return undefined; // missing or damaged: recompute
  }
}

/** Writes atomically (the .bin first: a .json is only ever next to its complete .bin); failures only cost time next run. */
export function writeCircuitsCache(file: string, report: CircuitsReport, version = CIRCUITS_CACHE_VERSION): void {
  try {
    const blobs: Float32Array[] = [];
    const json = encode(report, blobs, { n: 0 });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(`${tmp}.bin`, Buffer.concat(blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))));
    fs.writeFileSync(`${tmp}.json`, JSON.stringify({ v: version, report: json }));
    fs.renameSync(`${tmp}.bin`, `${file}.bin`);
    fs.renameSync(`${tmp}.json`, `${file}.json`);
  } catch {
    // A cache that cannot be written only costs time next run.
  }
}
