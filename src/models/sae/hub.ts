/**
 * SAE releases on the Hugging Face hub (models/sae-manifest.json) and their download through the
 * models' verified, resumable downloader (src/models/download.ts): the user picks SAEs (layers) of
 * a release; each picked SAE's cfg.json and sae_weights.safetensors land in
 * <cacheDir>/saes/<release>/<path>/, renamed into place only when verified (size and hash from the
 * hub), a `.part` resumed with Range after a cancel. No vscode import.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import manifestJson from '../../../models/sae-manifest.json';
import { downloadModel, type DownloadOptions } from '../download';
import type { ManifestEntry } from '../registry';
import { SAE_CONFIG_FILE, SAE_WEIGHTS_FILE } from './load';

export interface SaeReleaseSae {
  readonly id: string;
  /** Folder in the repository. */
  readonly path: string;
  /** Approximate download size (for display before downloading). */
  readonly sizeBytes: number;
  readonly l0?: number;
  readonly variance_explained?: number;
}

export interface SaeRelease {
  readonly name: string;
  readonly displayName: string;
  readonly repo: string;
  readonly revision: string;
  /** The manifest model name these SAEs read. */
  readonly model: string;
  readonly saes: readonly SaeReleaseSae[];
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/;
const REPO = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const FOLDER = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/** Validates a parsed SAE manifest; throws one line naming the entry and the field. */
export function parseSaeManifest(json: unknown, source = 'models/sae-manifest.json'): SaeRelease[] {
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  const releases = (json as { releases?: unknown } | null)?.releases;
  if (!Array.isArray(releases)) return fail('expected an object with a "releases" array');
  return releases.map((raw: unknown, i): SaeRelease => {
    const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const text = (key: string, pattern?: RegExp): string => {
      const v = r[key];
      if (typeof v !== 'string' || v === '' || (pattern && !pattern.test(v))) return fail(`releases[${i}].${key} is ${JSON.stringify(v) ?? 'missing'}`);
      return v;
    };
    const saes = r['saes'];
    if (!Array.isArray(saes) || saes.length === 0) return fail(`releases[${i}].saes must be a non-empty array`);
    return {
      name: text('name', NAME), displayName: text('displayName'), repo: text('repo', REPO), revision: text('revision', /^[A-Za-z0-9._/-]+$/), model: text('model', NAME),
      saes: saes.map((s: unknown, j): SaeReleaseSae => {
        const o = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
        const id = o['id'];
        const p = o['path'];
        const size = o['sizeBytes'];
        if (typeof id !== 'string' || id === '') return fail(`releases[${i}].saes[${j}].id is ${JSON.stringify(id) ?? 'missing'}`);
        if (typeof p !== 'string' || !FOLDER.test(p) || p.split('/').includes('..')) return fail(`releases[${i}].saes[${j}].path is ${JSON.stringify(p) ?? 'missing'}`);
        if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) return fail(`releases[${i}].saes[${j}].sizeBytes is ${JSON.stringify(size) ?? 'missing'}`);
        return {
          id, path: p, sizeBytes: size,
          ...(typeof o['l0'] === 'number' ? { l0: o['l0'] } : {}),
          ...(typeof o['variance_explained'] === 'number' ? { variance_explained: o['variance_explained'] } : {}),
        };
      }),
    };
  });
}

export function loadSaeManifest(): SaeRelease[] {
  return parseSaeManifest(manifestJson);
}

/** <cacheDir>/saes/<release> */
export function saeReleaseFolder(cacheDir: string, release: SaeRelease): string {
  return path.join(cacheDir, 'saes', release.name);
}

/** The downloader's entry for some SAEs of a release: their cfg.json and weights. */
export function saeDownloadEntry(release: SaeRelease, ids: readonly string[]): ManifestEntry {
  const picked = ids.map((id) => {
    const s = release.saes.find((x) => x.id === id);
    if (!s) throw new Error(`${release.name} has no SAE ${JSON.stringify(id)}; it has ${release.saes.map((x) => x.id).join(', ')}`);
    return s;
  });
  if (picked.length === 0) throw new Error('pick at least one SAE');
  return {
    name: path.posix.join('saes', release.name),
    displayName: release.displayName,
    repo: release.repo,
    revision: release.revision,
    files: picked.flatMap((s) => [{ path: `${s.path}/${SAE_CONFIG_FILE}` }, { path: `${s.path}/${SAE_WEIGHTS_FILE}` }]),
    sizeBytes: picked.reduce((n, s) => n + s.sizeBytes, 0),
  };
}

/** Downloads the picked SAEs (verified, resumable); returns each one's folder, in the order asked. */
export async function downloadSaes(release: SaeRelease, ids: readonly string[], opts: DownloadOptions): Promise<string[]> {
  const entry = saeDownloadEntry(release, ids);
  // The downloader writes into existing folders: make each SAE's folder first.
  const base = saeReleaseFolder(opts.cacheDir, release);
  for (const id of ids) await fsp.mkdir(path.join(base, (release.saes.find((s) => s.id === id) as SaeReleaseSae).path), { recursive: true });
  const root = await downloadModel(entry, opts);
  return ids.map((id) => path.join(root, (release.saes.find((s) => s.id === id) as SaeReleaseSae).path));
}

/** "<release>/<sae id>" (e.g. "gpt2-small-res-jb/blocks.8.hook_resid_pre") → its folder under the cache; undefined for anything else. */
export function saeFolderByName(name: string, cacheDir: string, releases: readonly SaeRelease[] = loadSaeManifest()): string | undefined {
  const slash = name.indexOf('/');
  if (slash < 0) return undefined;
  const release = releases.find((r) => r.name === name.slice(0, slash));
  const sae = release?.saes.find((s) => s.id === name.slice(slash + 1));
  return release && sae ? path.join(saeReleaseFolder(cacheDir, release), sae.path) : undefined;
}
