/**
 * Models already in the Hugging Face cache, used in place and read-only (never written to).
 *
 * Layout (huggingface_hub, file_download.py / constants.py): the cache root is $HF_HUB_CACHE,
 * else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. A model repo `org/name` lives in `models--org--name/` with
 * `refs/<revision>` (a file holding a commit hash), `snapshots/<commit>/<file>` (symlinks into
 * `../../blobs/<etag>`), and `blobs/`. We take the snapshot `refs/main` names, else the newest
 * snapshot that holds a usable checkpoint (config.json plus weights).
 * No vscode import: the extension, the CLI and the tests share it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Weights files a snapshot may hold, in the order transformers prefers them. */
export const WEIGHTS_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'] as const;
/** Largest config.json read while listing (real ones are about 1 KiB). */
const MAX_CONFIG_BYTES = 1024 * 1024;
const REPO_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** The Hugging Face hub cache folder, as huggingface_hub computes it. */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  const explicit = env['HF_HUB_CACHE'] || env['HUGGINGFACE_HUB_CACHE'];
  if (explicit) return path.resolve(expandHome(explicit, home));
  const hfHome = env['HF_HOME'] || path.join(env['XDG_CACHE_HOME'] || path.join(home, '.cache'), 'huggingface');
  return path.resolve(expandHome(hfHome, home), 'hub');
}

function expandHome(p: string, home: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(home, p.slice(1)) : p;
}

/** "org/name" or a legacy bare "name" (e.g. "gpt2"): what the hub accepts as a model id. */
export function isHubId(value: string): boolean {
  const parts = value.split('/');
  return parts.length <= 2 && parts.every((p) => REPO_SEGMENT.test(p) && !p.includes('--') && p !== '.' && p !== '..');
}

/** `models--org--name` for repo "org/name". */
export function repoFolderName(repoId: string): string {
  return `models--${repoId.split('/').join('--')}`;
}

export interface HfSnapshot {
  readonly repoId: string;
  /** The snapshot folder (its files are symlinks into blobs/). */
  readonly folder: string;
  readonly commit: string;
  /** 'main' when refs/main names it, else 'newest' (the most recently modified usable snapshot). */
  readonly chosenBy: 'main' | 'newest';
  /** The weights file it holds (see WEIGHTS_FILES). */
  readonly weightsFile: string;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile(); // follows the blob symlink; a dangling link (partial download) is not a file
  } catch {
    return false;
  }
}

function weightsFileIn(folder: string): string | undefined {
  if (!isFile(path.join(folder, 'config.json'))) return undefined;
  return WEIGHTS_FILES.find((f) => isFile(path.join(folder, f)));
}

/** The snapshot of `repoId` to use from `cacheDir`, or undefined when none holds a checkpoint. */
export function findHfSnapshot(repoId: string, cacheDir: string): HfSnapshot | undefined {
  if (!isHubId(repoId)) return undefined;
  const repoDir = path.join(cacheDir, repoFolderName(repoId));
  const snapshots = path.join(repoDir, 'snapshots');
  let main: string | undefined;
  try {
    const ref = fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8').trim();
    if (COMMIT.test(ref)) main = ref;
  } catch {
    // no refs/main: fall back to the newest snapshot
  }
  if (main !== undefined) {
    const folder = path.join(snapshots, main);
    const weightsFile = weightsFileIn(folder);
    if (weightsFile) return { repoId, folder, commit: main, chosenBy: 'main', weightsFile };
  }
  let names: string[];
  try {
    names = fs.readdirSync(snapshots);
  } catch {
    return undefined;
  }
  let best: (HfSnapshot & { mtimeMs: number }) | undefined;
  for (const commit of names) {
    const folder = path.join(snapshots, commit);
    const weightsFile = weightsFileIn(folder);
    if (!weightsFile) continue;
    let mtimeMs = 0;
    try {
      mtimeMs = fs.statSync(folder).mtimeMs;
    } catch {
      continue;
    }
    if (!best || mtimeMs > best.mtimeMs || (mtimeMs === best.mtimeMs && commit > best.commit)) {
      best = { repoId, folder, commit, chosenBy: 'newest', weightsFile, mtimeMs };
    }
  }
  if (!best) return undefined;
  const { mtimeMs: _ignored, ...snapshot } = best;
  return snapshot;
}

/** Whether a config.json describes a GPT-2-family model (model_type "gpt2" or a GPT2* architecture). */
export function isGpt2Config(configPath: string): boolean {
  try {
    const stat = fs.statSync(configPath);
    if (!stat.isFile() || stat.size > MAX_CONFIG_BYTES) return false;
    const json: unknown = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    if (typeof json !== 'object' || json === null) return false;
    const c = json as Record<string, unknown>;
    if (c['model_type'] !== undefined) return c['model_type'] === 'gpt2';
    const architectures = c['architectures'];
    return Array.isArray(architectures) && architectures.some((a) => typeof a === 'string' && a.startsWith('GPT2'));
  } catch {
    return false;
  }
}

export interface HfCachedModel extends HfSnapshot {
  /** Bytes of its weights files (the blobs they link to). */
  readonly sizeBytes: number;
}

/** Every GPT-2-family model in the cache with a usable snapshot, by repo id. Reads only config.json files. */
export function listHfModels(cacheDir: string): HfCachedModel[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(cacheDir);
  } catch {
    return [];
  }
  const out: HfCachedModel[] = [];
  for (const entry of entries.sort()) {
    if (!entry.startsWith('models--')) continue;
    const repoId = entry.slice('models--'.length).split('--').join('/');
    const snapshot = findHfSnapshot(repoId, cacheDir);
    if (!snapshot || !isGpt2Config(path.join(snapshot.folder, 'config.json'))) continue;
    out.push({ ...snapshot, sizeBytes: weightsBytes(snapshot) });
  }
  return out;
}

function weightsBytes(snapshot: HfSnapshot): number {
  const size = (file: string): number => {
    try {
      return fs.statSync(path.join(snapshot.folder, file)).size;
    } catch {
      return 0;
    }
  };
  if (!snapshot.weightsFile.endsWith('.index.json')) return size(snapshot.weightsFile);
  const shardExtension = snapshot.weightsFile.startsWith('pytorch_model') ? '.bin' : '.safetensors';
  let total = 0;
  try {
    for (const f of fs.readdirSync(snapshot.folder)) if (f.endsWith(shardExtension)) total += size(f);
  } catch {
    // unreadable folder: size unknown
  }
  return total;
}
