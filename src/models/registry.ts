/**
 * Which models exist and where they live: the demo model inside the extension, the hub models of
 * models/manifest.json under the model cache (one folder per manifest name), a hub id found in the
 * Hugging Face cache (hfCache.ts; used in place, read-only), or any local folder.
 * No vscode import: the extension, the CLI and the tests share it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import manifestJson from '../../models/manifest.json';
import { findHfSnapshot, hfHubCacheDir, isHubId, listHfModels, WEIGHTS_FILES, type HfCachedModel, type HfSnapshot } from './hfCache';

export interface ManifestFile {
  readonly path: string;
  /** Exact size in bytes, when pinned (else the hub's headers give it). */
  readonly size?: number;
  /** Exact sha256 (hex), when pinned; then it must also match the hub's. */
  readonly sha256?: string;
}

export interface ManifestEntry {
  readonly name: string;
  readonly displayName: string;
  readonly repo: string;
  readonly revision: string;
  readonly files: readonly ManifestFile[];
  /** Approximate total download size, for display and the free-space estimate. */
  readonly sizeBytes?: number;
}

export const DEMO_MODEL_NAME = 'demo';
/** The files that make a checkpoint folder. */
export const CHECKPOINT_FILES = ['config.json', 'model.safetensors'] as const;
/** The weights a model folder may hold, for messages. */
const WEIGHT_CHOICES = 'model.safetensors, model.safetensors.index.json with its shards, or pytorch_model.bin';
/** Written beside downloaded files: what was asked for and the commit the hub resolved. */
export const REVISION_FILE = 'revision.json';

const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
const REPO_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const FILE_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/** Validates a parsed manifest; throws one line naming the entry and the problem. */
export function parseManifest(json: unknown, source = 'models/manifest.json'): ManifestEntry[] {
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  const models = typeof json === 'object' && json !== null ? (json as { models?: unknown }).models : undefined;
  if (!Array.isArray(models)) return fail('expected an object with a "models" array');
  const seen = new Set<string>([DEMO_MODEL_NAME]);
  return models.map((raw: unknown, i): ManifestEntry => {
    if (typeof raw !== 'object' || raw === null) return fail(`models[${i}] is not an object`);
    const m = raw as Record<string, unknown>;
    const text = (key: string, pattern?: RegExp): string => {
      const value = m[key];
      if (typeof value !== 'string' || value === '' || (pattern && !pattern.test(value))) {
        return fail(`models[${i}].${key} is ${JSON.stringify(value) ?? 'missing'}`);
      }
      return value;
    };
    const name = text('name', NAME_PATTERN);
    if (seen.has(name)) fail(`models[${i}].name "${name}" is used twice (or is reserved)`);
    seen.add(name);
    const files = m['files'];
    if (!Array.isArray(files) || files.length === 0) return fail(`models[${i}].files must be a non-empty array`);
    const sizeBytes = m['sizeBytes'];
    if (sizeBytes !== undefined && !(typeof sizeBytes === 'number' && Number.isSafeInteger(sizeBytes) && sizeBytes > 0)) {
      fail(`models[${i}].sizeBytes is ${JSON.stringify(sizeBytes)}`);
    }
    return {
      name,
      displayName: text('displayName'),
      repo: text('repo', REPO_PATTERN),
      revision: text('revision', /^[A-Za-z0-9._/-]+$/),
      files: files.map((f: unknown, j): ManifestFile => {
        const file = (typeof f === 'object' && f !== null ? f : {}) as Record<string, unknown>;
        const p = file['path'];
        if (typeof p !== 'string' || !FILE_PATTERN.test(p) || p.split('/').includes('..')) return fail(`models[${i}].files[${j}].path is ${JSON.stringify(p)}`);
        const size = file['size'];
        if (size !== undefined && !(typeof size === 'number' && Number.isSafeInteger(size) && size >= 0)) fail(`models[${i}].files[${j}].size is ${JSON.stringify(size)}`);
        const sha256 = file['sha256'];
        if (sha256 !== undefined && !(typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256))) fail(`models[${i}].files[${j}].sha256 is not 64 hex digits`);
        return { path: p, ...(size !== undefined ? { size: size as number } : {}), ...(sha256 !== undefined ? { sha256: sha256 as string } : {}) };
      }),
      ...(sizeBytes !== undefined ? { sizeBytes: sizeBytes as number } : {}),
    };
  });
}

let manifest: ManifestEntry[] | undefined;

/** The hub models of models/manifest.json (bundled at build time). */
export function loadManifest(): ManifestEntry[] {
  manifest ??= parseManifest(manifestJson);
  return manifest.map((e) => ({ ...e }));
}

/** <root>/models/demo */
export function demoModelFolder(extensionRoot: string): string {
  return path.join(extensionRoot, 'models', DEMO_MODEL_NAME);
}

/** Where a manifest model lives in the cache. */
export function modelFolder(entry: ManifestEntry, cacheDir: string): string {
  return path.join(cacheDir, entry.name);
}

const isFile = (p: string): boolean => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

/** Every manifest file is in place under its final name (files are renamed there only once verified). */
export function isDownloaded(entry: ManifestEntry, folder: string): boolean {
  return entry.files.every((f) => isFile(path.join(folder, f.path)));
}

export type ModelResolution =
  | { readonly kind: 'ready'; readonly name: string; readonly folder: string; readonly hfCache?: HfSnapshot }
  | { readonly kind: 'not-downloaded'; readonly entry: ManifestEntry; readonly folder: string }
  | { readonly kind: 'error'; readonly message: string };

export interface RegistryContext {
  readonly extensionRoot: string;
  readonly cacheDir: string;
  /** The Hugging Face hub cache; default hfHubCacheDir() (from $HF_HUB_CACHE, $HF_HOME, …). */
  readonly hfCacheDir?: string;
}

/** The hub ids a manifest entry may be cached under: its repo, and its legacy bare name ("gpt2"). */
function hubAliases(entry: ManifestEntry): string[] {
  return entry.repo === entry.name ? [entry.repo] : [entry.repo, entry.name];
}

/** The first of `repoIds` with a usable snapshot in the Hugging Face cache. */
function findInHfCache(repoIds: readonly string[], ctx: RegistryContext): HfSnapshot | undefined {
  const dir = ctx.hfCacheDir ?? hfHubCacheDir();
  for (const id of repoIds) {
    const snapshot = findHfSnapshot(id, dir);
    if (snapshot) return snapshot;
  }
  return undefined;
}

/** The checkpoint files missing from a folder, or a one-line problem with the folder itself. */
function folderProblem(folder: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(folder);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `the folder ${folder} does not exist`;
    // A symlink loop (ELOOP), no permission (EACCES), …: say so rather than "does not exist".
    return `the folder ${folder} cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`;
  }
  if (!stat.isDirectory()) return `${folder} is not a folder`;
  const hasConfig = isFile(path.join(folder, 'config.json'));
  const hasWeights = WEIGHTS_FILES.some((f) => isFile(path.join(folder, f)));
  if (!hasConfig || !hasWeights) {
    const missing = [...(hasConfig ? [] : ['config.json']), ...(hasWeights ? [] : ['weights'])].join(' or ');
    return `${folder} has no ${missing} (a model folder holds config.json + ${WEIGHT_CHOICES})`;
  }
  return undefined;
}

/**
 * The model named by the `residualLens.model` setting: '' or 'demo' → the demo model; a manifest
 * name (or its hub id) → its cache folder when downloaded, else its snapshot in the Hugging Face
 * cache, else not downloaded; an absolute path → that folder; any other hub id ("org/name") → its
 * snapshot in the Hugging Face cache.
 */
export function resolveModel(setting: string, ctx: RegistryContext): ModelResolution {
  const value = setting.trim();
  if (value === '' || value === DEMO_MODEL_NAME) {
    const folder = demoModelFolder(ctx.extensionRoot);
    const problem = folderProblem(folder);
    if (problem) {
      return { kind: 'error', message: `The demo model is missing: ${problem}. Rebuild it with: node --import tsx scripts/build-demo-model.ts (run by npm install).` };
    }
    return { kind: 'ready', name: DEMO_MODEL_NAME, folder };
  }
  const entries = loadManifest();
  const entry = entries.find((e) => e.name === value || e.repo === value);
  if (entry) {
    const folder = modelFolder(entry, ctx.cacheDir);
    if (isDownloaded(entry, folder)) return { kind: 'ready', name: entry.name, folder };
    const cached = findInHfCache(hubAliases(entry), ctx);
    if (cached) return { kind: 'ready', name: entry.name, folder: cached.folder, hfCache: cached };
    return { kind: 'not-downloaded', entry, folder };
  }
  if (path.isAbsolute(value)) {
    const problem = folderProblem(value);
    if (problem) return { kind: 'error', message: `Model folder: ${problem}.` };
    return { kind: 'ready', name: path.basename(value), folder: value };
  }
  const known = [DEMO_MODEL_NAME, ...entries.map((e) => e.name)].join(', ');
  if (isHubId(value)) {
    const cached = findInHfCache([value], ctx);
    if (cached) return { kind: 'ready', name: value, folder: cached.folder, hfCache: cached };
    if (value.includes('/')) {
      return {
        kind: 'error',
        message: `Model "${value}" is not in the Hugging Face cache (${ctx.hfCacheDir ?? hfHubCacheDir()}) and is not an absolute folder path; fetch it with transformers or \`huggingface-cli download ${value}\`, or use an absolute folder path or one of: ${known}.`,
      };
    }
  }
  const looksLikePath = value.includes('/') || value.includes('\\') || value.startsWith('.') || value.startsWith('~');
  return {
    kind: 'error',
    message: looksLikePath
      ? `Model "${value}" is a relative path; use an absolute folder path (holding ${CHECKPOINT_FILES.join(' + ')}) or one of: ${known}.`
      : `Unknown model "${value}"; use one of: ${known}, or an absolute folder path.`,
  };
}

/** Every manifest model with its cache folder, whether it is downloaded, and its Hugging Face cache snapshot if any. */
export function listModels(ctx: RegistryContext): { entry: ManifestEntry; folder: string; downloaded: boolean; hfCache?: HfSnapshot }[] {
  return loadManifest().map((entry) => {
    const folder = modelFolder(entry, ctx.cacheDir);
    const hfCache = findInHfCache(hubAliases(entry), ctx);
    return { entry, folder, downloaded: isDownloaded(entry, folder), ...(hfCache ? { hfCache } : {}) };
  });
}

/** Every GPT-2-family model in the Hugging Face cache (by hub id), each usable as a model setting. */
export function listHfCacheModels(ctx: RegistryContext): { readonly hfCacheDir: string; readonly models: HfCachedModel[] } {
  const hfCacheDir = ctx.hfCacheDir ?? hfHubCacheDir();
  return { hfCacheDir, models: listHfModels(hfCacheDir) };
}

/** The CLI's model cache: --dir, else $RESIDUAL_LENS_CACHE, else ~/.cache/residual-lens (as `trace --dir`). */
export function cliCacheDirectory(dir: string | undefined): string {
  return path.resolve(dir || process.env['RESIDUAL_LENS_CACHE'] || path.join(os.homedir(), '.cache', 'residual-lens'));
}

/** The nearest folder at or above `from` holding a package.json: the repo or the installed extension. */
export function packageRoot(from: string): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return from;
    dir = parent;
  }
  return dir;
}
