/**
 * The workspace scan: runs the model and the loaded SAE over text files in windows and keeps, for
 * every feature, its top-N contexts (src/analysis/featureIndex.ts) — a local Neuronpedia. Shared by
 * the CLI (`residual-lens scan`) and anything else holding an engine; no vscode import.
 *
 * Windows: each file is tokenized alone (no BOS), cut into consecutive windows of `window` tokens,
 * and each window runs as BOS + its tokens; the SAE encodes every position but BOS (saeScan
 * fromPos 1), so a context is (file, window) with the feature's maximum over its tokens.
 * Files: read once (a file that changes during the scan is scanned as read); skipped with a
 * reason when larger than maxFileBytes, binary (a NUL byte or invalid UTF-8), or unreadable.
 * Sharding: the sorted file list, file i to shard i mod n — every file in exactly one shard, and
 * each file's windows the same in any shard, so merged shards equal one run.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tokenize } from '../../engine/tokenizer';
import type { SaeInfo, SaeScanParams, SaeScanWindow } from '../../engine/sae/types';
import { FeatureTopN, type FeatureContext, type FeatureIndexJson } from '../../analysis/featureIndex';

export const BOS = 50256;
export const DEFAULT_SCAN_WINDOW = 64;
export const DEFAULT_SCAN_TOP = 10;
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
const CONTEXT_BEFORE = 8;
const CONTEXT_AFTER = 4;

export interface ScanEngine {
  saeScan(p: SaeScanParams): Promise<SaeScanWindow>;
}

export interface ScanOptions {
  /** Absolute root; files are reported relative to it. */
  readonly root: string;
  /** Absolute file paths (the caller expanded globs). */
  readonly files: readonly string[];
  readonly model: { readonly name: string; readonly fingerprint: string };
  readonly sae: SaeInfo;
  readonly top?: number;
  readonly window?: number;
  readonly maxFileBytes?: number;
  readonly shard?: { readonly index: number; readonly count: number };
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ScanProgress) => void;
  /** A saved partial scan (same model, SAE, settings and file list) to continue: its files are not scanned again. */
  readonly resume?: ScanState;
  /** After each file: the state so far, for a caller that saves it to resume after a restart. */
  readonly onFileDone?: (state: ScanState) => void;
}

/** What a partial scan has done (the fields of FeatureIndexJson it fills). */
export interface ScanState {
  readonly files: FeatureIndexJson['files'];
  readonly skipped: FeatureIndexJson['skipped'];
  readonly tokens_scanned: number;
  readonly features: FeatureIndexJson['features'];
}

export interface ScanProgress {
  readonly filesDone: number;
  readonly filesTotal: number;
  readonly tokens: number;
  readonly elapsedMs: number;
  readonly file: string;
}

/** Files of one shard: sorted by relative path, every count-th from index. */
export function shardFiles(root: string, files: readonly string[], shard?: { index: number; count: number }): string[] {
  const sorted = [...new Set(files.map((f) => path.resolve(f)))].sort((a, b) => {
    const ra = relative(root, a);
    const rb = relative(root, b);
    return ra < rb ? -1 : ra > rb ? 1 : 0;
  });
  if (!shard) return sorted;
  if (!Number.isInteger(shard.count) || shard.count < 1 || !Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count) {
    throw new Error(`shard ${shard.index}/${shard.count} is not i/n with 0 ≤ i < n`);
  }
  return sorted.filter((_, i) => i % shard.count === shard.index);
}

export async function scanFiles(engine: ScanEngine, o: ScanOptions): Promise<FeatureIndexJson> {
  const top = o.top ?? DEFAULT_SCAN_TOP;
  const window = o.window ?? DEFAULT_SCAN_WINDOW;
  const maxFileBytes = o.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isInteger(window) || window < 1) throw new Error(`window must be a positive whole number, got ${window}`);
  const heaps = new FeatureTopN(top);
  const files = shardFiles(o.root, o.files, o.shard);
  const scanned: FeatureIndexJson['files'][number][] = [...(o.resume?.files ?? [])];
  const skipped: FeatureIndexJson['skipped'][number][] = [...(o.resume?.skipped ?? [])];
  const done = new Set([...scanned, ...skipped].map((f) => f.path));
  if (o.resume) for (const [id, list] of Object.entries(o.resume.features)) for (const c of list) heaps.offer(Number(id), c);
  const started = performance.now();
  let tokensTotal = o.resume?.tokens_scanned ?? 0;
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    const rel = relative(o.root, file);
    if (done.has(rel)) continue;
    o.onProgress?.({ filesDone: i, filesTotal: files.length, tokens: tokensTotal, elapsedMs: performance.now() - started, file: rel });
    const read = readText(file, maxFileBytes);
    if ('skip' in read) {
      skipped.push({ path: rel, reason: read.skip });
      o.onFileDone?.({ files: scanned, skipped, tokens_scanned: tokensTotal, features: heaps.toRecord() });
      continue;
    }
    const tokens = tokenize(read.text, { prependBos: false }).tokens;
    for (let w = 0; w < tokens.length; w += window) {
      if (o.signal?.aborted) throw new Error('scan cancelled');
      const slice = tokens.slice(w, w + window);
      const r = await engine.saeScan({ ids: [BOS, ...slice.map((t) => t.id)], fromPos: 1 });
      for (let j = 0; j < r.features.length; j++) {
        const token = w + r.argmax[j] - 1;
        const candidate = { activation: r.max[j], file: rel, token };
        if (!heaps.admits(r.features[j], candidate)) continue;
        const t = tokens[token];
        heaps.offer(r.features[j], { ...candidate, start: t.start, end: t.end, context: contextText(read.text, tokens, token) } satisfies FeatureContext);
      }
    }
    tokensTotal += tokens.length;
    scanned.push({ path: rel, bytes: read.bytes, tokens: tokens.length, sha256: read.sha256 });
    o.onFileDone?.({ files: scanned, skipped, tokens_scanned: tokensTotal, features: heaps.toRecord() });
  }
  // Sorted as a run without a resume lists them (the order files were scanned in).
  const order = new Map(files.map((f, i) => [relative(o.root, f), i]));
  const byOrder = (a: { path: string }, b: { path: string }): number => (order.get(a.path) ?? 0) - (order.get(b.path) ?? 0);
  scanned.sort(byOrder);
  skipped.sort(byOrder);
  o.onProgress?.({ filesDone: files.length, filesTotal: files.length, tokens: tokensTotal, elapsedMs: performance.now() - started, file: '' });
  return {
    schema: 1,
    kind: 'feature-index',
    model: o.model,
    sae: { name: o.sae.name, hook_name: o.sae.hookName, d_sae: o.sae.dSae, fingerprint: o.sae.fingerprint, input: o.sae.input },
    settings: { top, window, max_file_bytes: maxFileBytes },
    shard: o.shard ? { index: o.shard.index, count: o.shard.count } : null,
    shards_merged: 1,
    files: scanned,
    skipped,
    tokens_scanned: tokensTotal,
    corpus_fingerprint: corpusFingerprint(scanned),
    features: heaps.toRecord(),
  };
}

export function corpusFingerprint(files: FeatureIndexJson['files']): string {
  const h = crypto.createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) h.update(`${f.path}\0${f.sha256}\n`);
  return h.digest('hex');
}

function relative(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

function readText(file: string, maxBytes: number): { text: string; bytes: number; sha256: string } | { skip: string } {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return { skip: 'not a regular file' };
    if (stat.size > maxBytes) return { skip: `larger than ${maxBytes} bytes (${stat.size})` };
    bytes = fs.readFileSync(file);
  } catch (err) {
    return { skip: `unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (bytes.length > maxBytes) return { skip: `larger than ${maxBytes} bytes (${bytes.length}; grew while read)` };
  if (bytes.subarray(0, 8192).includes(0)) return { skip: 'binary (NUL byte)' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { skip: 'binary (not UTF-8)' };
  }
  return { text, bytes: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

/** A few tokens either side of tokens[at], the token in ⟦ ⟧, newlines as ↵. */
function contextText(text: string, tokens: readonly { start: number; end: number }[], at: number): string {
  const a = tokens[Math.max(0, at - CONTEXT_BEFORE)];
  const b = tokens[Math.min(tokens.length - 1, at + CONTEXT_AFTER)];
  const t = tokens[at];
  const show = (s: string): string => s.replace(/\r?\n/g, '↵');
  return `${show(text.slice(a.start, t.start))}⟦${show(text.slice(t.start, t.end))}⟧${show(text.slice(t.end, b.end))}`;
}
