/**
 * `residual-lens models [--dir DIR] [--json]`: the models Residual Lens knows (the demo model and
 * the manifest's hub models), which are downloaded, and where.
 */
import { parseCliArgs, type CliCommand } from './args';
import { formatTable } from './tokenize';
import { readRevisionRecord } from '../models/download';
import { DEMO_MODEL_NAME, cliCacheDirectory, demoModelFolder, listModels, packageRoot, resolveModel } from '../models/registry';

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
  }[];
}

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, { dir: { type: 'string' }, json: { type: 'boolean', default: false } });
    const cacheDir = cliCacheDirectory(values.dir);
    const extensionRoot = packageRoot(__dirname);
    const demo = resolveModel(DEMO_MODEL_NAME, { extensionRoot, cacheDir });
    const out: ModelsJson = {
      schema: 1,
      cacheDir,
      models: [
        {
          name: DEMO_MODEL_NAME, displayName: 'Demo model (planted circuits)', repo: null, revision: null, sizeBytes: null,
          downloaded: demo.kind === 'ready', folder: demoModelFolder(extensionRoot), commit: null,
        },
        ...listModels({ extensionRoot, cacheDir }).map(({ entry, folder, downloaded }) => ({
          name: entry.name,
          displayName: entry.displayName,
          repo: entry.repo,
          revision: entry.revision,
          sizeBytes: entry.sizeBytes ?? null,
          downloaded,
          folder,
          commit: downloaded ? readRevisionRecord(folder)?.commit ?? null : null,
        })),
      ],
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
      m.name === DEMO_MODEL_NAME ? (m.downloaded ? 'built' : 'missing (npm install builds it)') : m.downloaded ? 'downloaded' : 'not downloaded',
      m.downloaded || m.name === DEMO_MODEL_NAME ? m.folder : '',
    ]);
    process.stdout.write(`Model cache: ${cacheDir}\n\n${formatTable(['name', 'model', 'size', 'status', 'folder'], rows, [false, false, true, false, false])}\n`);
    const missing = out.models.find((m) => !m.downloaded && m.name !== DEMO_MODEL_NAME);
    if (missing) process.stdout.write(`\nDownload one with: residual-lens download ${missing.name}\n`);
    return 0;
  },
};
