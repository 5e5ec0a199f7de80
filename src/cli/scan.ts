/**
 * `residual-lens scan --model M --sae DIR|demo --files GLOB [--files GLOB…] [--root DIR] [--shard i/n]
 *  [--top 10] [--window 64] [--max-file-bytes N] --out shard.json`: top-N contexts per SAE feature
 * over text files (src/models/sae/scan.ts); one shard of a sharded batch job when --shard is given.
 * `residual-lens merge a.json b.json … --out index.json`: merges shards exactly.
 * JSON: docs/cli-json.md, kind "feature-index", schema 1. Progress lines go to stderr.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliUsageError, parseCliArgs, type CliCommand } from './args';
import { cliEngine, EXECUTION_PROVIDER_OPTION, loadForCli } from './engineOption';
import { cacheDirectory, resolveModelArg } from './trace';
import { resolveSaeArg } from './features';
import { expandGlobs } from './glob';
import { corpusFingerprint, DEFAULT_MAX_FILE_BYTES, DEFAULT_SCAN_TOP, DEFAULT_SCAN_WINDOW, scanFiles } from '../models/sae/scan';
import { mergeFeatureIndexes, parseFeatureIndex, type FeatureIndexJson } from '../analysis/featureIndex';

function positiveInt(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new CliUsageError(`${flag} must be a whole number from 1 to ${max}, got '${value}'`);
  return n;
}

/** Writes JSON atomically: a temporary file, then rename — never a half-written index. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const temporary = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temporary, `${JSON.stringify(value)}\n`);
  fs.renameSync(temporary, file);
}

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, {
      model: { type: 'string', default: 'demo' },
      sae: { type: 'string' },
      files: { type: 'string', multiple: true },
      root: { type: 'string' },
      shard: { type: 'string' },
      top: { type: 'string', default: String(DEFAULT_SCAN_TOP) },
      window: { type: 'string', default: String(DEFAULT_SCAN_WINDOW) },
      'max-file-bytes': { type: 'string', default: String(DEFAULT_MAX_FILE_BYTES) },
      out: { type: 'string' },
      dir: { type: 'string' },
      ...EXECUTION_PROVIDER_OPTION,
      quiet: { type: 'boolean', default: false },
    });
    if (!values.files || values.files.length === 0) throw new CliUsageError('--files GLOB is required (relative to --root, default the current folder)');
    if (!values.out) throw new CliUsageError('--out FILE is required');
    let shard: { index: number; count: number } | undefined;
    if (values.shard !== undefined) {
      const m = /^(\d+)\/(\d+)$/.exec(values.shard);
      if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new CliUsageError(`--shard must be i/n with 0 ≤ i < n, got '${values.shard}'`);
      shard = { index: Number(m[1]), count: Number(m[2]) };
    }
    const top = positiveInt(values.top, '--top', 1000);
    const window = positiveInt(values.window, '--window', 1023);
    const maxFileBytes = positiveInt(values['max-file-bytes'], '--max-file-bytes', 2 ** 31);
    const root = path.resolve(values.root ?? '.');
    const files = expandGlobs(root, values.files);
    const cacheDir = cacheDirectory(values.dir);
    const saeFolder = resolveSaeArg(values.sae, cacheDir);
    const model = await resolveModelArg(values.model, cacheDir);
    const engine = cliEngine(values['execution-provider']);
    try {
      const info = await loadForCli(engine, model.folder, model.name, cacheDir);
      const sae = await engine.loadSae({ folder: saeFolder });
      let last = 0;
      const index = await scanFiles(engine, {
        root, files, model: { name: info.name, fingerprint: info.fingerprint }, sae, top, window, maxFileBytes, ...(shard ? { shard } : {}),
        onProgress: (p) => {
          const now = Date.now();
          if (values.quiet || (now - last < 1000 && p.filesDone < p.filesTotal)) return;
          last = now;
          const rate = p.elapsedMs > 0 ? (p.tokens / p.elapsedMs) * 1000 : 0;
          process.stderr.write(`scan: ${p.filesDone}/${p.filesTotal} files, ${p.tokens} tokens, ${rate.toFixed(0)} tokens/s${p.file ? ` · ${p.file}` : ''}\n`);
        },
      });
      writeJsonAtomic(path.resolve(values.out), index);
      if (!values.quiet) process.stderr.write(`scan: wrote ${values.out}: ${index.files.length} files, ${index.skipped.length} skipped, ${index.tokens_scanned} tokens, ${Object.keys(index.features).length} features with contexts\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

export const mergeCommand: CliCommand = {
  async run(args) {
    const { values, positionals } = parseCliArgs(args, { out: { type: 'string' } }, true);
    if (positionals.length === 0) throw new CliUsageError('merge needs the shard files: residual-lens merge a.json b.json … --out index.json');
    if (!values.out) throw new CliUsageError('--out FILE is required');
    const indexes: FeatureIndexJson[] = positionals.map((file) => {
      let json: unknown;
      try {
        json = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (err) {
        throw new Error(`${file}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
      }
      return parseFeatureIndex(json, file);
    });
    const merged = mergeFeatureIndexes(indexes, corpusFingerprint);
    writeJsonAtomic(path.resolve(values.out), merged);
    return 0;
  },
};
