/**
 * `residual-lens models [--dir DIR] [--json]`: the models Residual Lens knows (the demo model and
 * the manifest's hub models), which are downloaded, and where; then every GPT-2-family model in
 * the Hugging Face cache, usable by its hub id.
 */
import { parseCliArgs, type CliCommand } from './args';
import { formatTable } from './tokenize';
import { readRevisionRecord } from '../models/download';
import { DEMO_MODEL_NAME, cliCacheDirectory, demoModelFolder, listHfCacheModels, listModels, packageRoot, resolveModel } from '../models/registry';

/** JSON of `models --json`. */
export interface ModelsJson {
  readonly schema: 1;
  readonly cacheDir: string;
  readonly models: {
    name: string;
    displayName: string;
    repo: string | null;
    revision: string | null;
    sizeBytes: number | null;
    downloaded: boolean;
    folder: string;
    /** The commit the hub resolved, from revision.json. */
    commit: string | null;
    /** Its snapshot in the Hugging Face cache, used when it is not downloaded; null when none. */
    hfCacheFolder: string | null;
  }[];
  /** The Hugging Face hub cache searched. */
  readonly hfCacheDir: string;
  /** GPT-2-family models found there; `repo` is what --model and residualLens.model accept. */
  readonly hfCache: {
    repo: string;
    commit: string;
    /** 'main' when refs/main names the snapshot, else 'newest'. */
    chosenBy: 'main' | 'newest';
    folder: string;
    weightsFile: string;
    sizeBytes: number;
  }[];
}

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, { dir: { type: 'string' }, json: { type: 'boolean', default: false } });
    const cacheDir = cliCacheDirectory(values.dir);
    const extensionRoot = packageRoot(__dirname);
    const demo = resolveModel(DEMO_MODEL_NAME, { extensionRoot, cacheDir });
    const hf = listHfCacheModels({ extensionRoot, cacheDir });
    const out: ModelsJson = {
      schema: 1,
      cacheDir,
      models: [
        {
          name: DEMO_MODEL_NAME, displayName: 'Demo model (planted circuits)', repo: null, revision: null, sizeBytes: null,
          downloaded: demo.kind === 'ready', folder: demoModelFolder(extensionRoot), commit: null, hfCacheFolder: null,
        },
        ...listModels({ extensionRoot, cacheDir, hfCacheDir: hf.hfCacheDir }).map(({ entry, folder, downloaded, hfCache }) => ({
          name: entry.name,
          displayName: entry.displayName,
          repo: entry.repo,
          revision: entry.revision,
          sizeBytes: entry.sizeBytes ?? null,
          downloaded,
          folder,
          commit: downloaded ? readRevisionRecord(folder)?.commit ?? null : null,
          hfCacheFolder: hfCache?.folder ?? null,
        })),
      ],
      hfCacheDir: hf.hfCacheDir,
      hfCache: hf.models.map((m) => ({ repo: m.repoId, commit: m.commit, chosenBy: m.chosenBy, folder: m.folder, weightsFile: m.weightsFile, sizeBytes: m.sizeBytes })),
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(out)}\n`);
      return 0;
    }
    const size = (b: number | null): string => (b === null ? '' : b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${Math.round(b / 1e6)} MB`);
    const rows = out.models.map((m) => [
      m.name,
      m.displayName,
      size(m.sizeBytes),
      m.name === DEMO_MODEL_NAME ? (m.downloaded ? 'built' : 'missing (npm install builds it)') : m.downloaded ? 'downloaded' : m.hfCacheFolder !== null ? 'in Hugging Face cache' : 'not downloaded',
      m.downloaded || m.name === DEMO_MODEL_NAME ? m.folder : m.hfCacheFolder ?? '',
    ]);
    process.stdout.write(`Model cache: ${cacheDir}\n\n${formatTable(['name', 'model', 'size', 'status', 'folder'], rows, [false, false, true, false, false])}\n`);
    if (out.hfCache.length > 0) {
      const hfRows = out.hfCache.map((m) => [m.repo, 'GPT-2 family', size(m.sizeBytes), `Hugging Face cache (${m.chosenBy === 'main' ? 'main' : 'newest snapshot'})`, m.folder]);
      process.stdout.write(`\nHugging Face cache: ${out.hfCacheDir} (read-only; use the name with --model)\n\n${formatTable(['name', 'model', 'size', 'status', 'folder'], hfRows, [false, false, true, false, false])}\n`);
    } else {
      process.stdout.write(`\nHugging Face cache: ${out.hfCacheDir} (no GPT-2-family models found)\n`);
    }
    const missing = out.models.find((m) => !m.downloaded && m.name !== DEMO_MODEL_NAME && m.hfCacheFolder === null);
    if (missing) process.stdout.write(`\nDownload one with: residual-lens download ${missing.name}\n`);
    return 0;
  },
};
