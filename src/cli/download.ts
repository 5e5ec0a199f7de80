/**
 * `residual-lens download <name> [--hub URL] [--dir DIR]`: downloads a manifest model into the
 * cache (verified, resumable), with a progress bar on stderr. Ctrl-C cancels; running the same
 * command again resumes. --hub defaults to $HF_ENDPOINT, else https://huggingface.co.
 */
import { CliUsageError, parseCliArgs, quoteArg, type CliCommand } from './args';
import { envProxyAgents } from '../models/proxy';
import { DownloadError, downloadModel, parseEndpoint, readRevisionRecord, type DownloadProgress } from '../models/download';
import { DEMO_MODEL_NAME, cliCacheDirectory, loadManifest } from '../models/registry';

export const DEFAULT_HUB = 'https://huggingface.co';

export const command: CliCommand = {
  async run(args) {
    const { values, positionals } = parseCliArgs(args, { hub: { type: 'string' }, dir: { type: 'string' } }, true);
    const [name, ...extra] = positionals;
    const manifest = loadManifest();
    const known = manifest.map((e) => e.name).join(', ');
    if (!name || extra.length > 0) throw new CliUsageError(`usage: residual-lens download <name> [--hub URL] [--dir DIR]; names: ${known}`);
    if (name === DEMO_MODEL_NAME) throw new CliUsageError('the demo model is built locally (npm install), not downloaded');
    const entry = manifest.find((e) => e.name === name);
    if (!entry) throw new CliUsageError(`unknown model ${quoteArg(name)}; known: ${known}`);
    const endpoint = values.hub ?? process.env['HF_ENDPOINT'] ?? DEFAULT_HUB;
    parseEndpoint(endpoint); // a bad --hub fails before anything is printed or created
    const cacheDir = cliCacheDirectory(values.dir);

    const abort = new AbortController();
    const onSigint = (): void => abort.abort();
    process.once('SIGINT', onSigint);
    const bar = new ProgressBar(process.stderr);
    process.stderr.write(`Downloading ${entry.repo}@${entry.revision} from ${endpoint} into ${cacheDir}\n`);
    try {
      const folder = await downloadModel(entry, { endpoint, cacheDir, signal: abort.signal, onProgress: (p) => bar.update(p), agentFor: envProxyAgents(process.env) });
      bar.done();
      const commit = readRevisionRecord(folder)?.commit;
      process.stdout.write(`${entry.name} is ready in ${folder}${commit ? ` (commit ${commit})` : ''}\n`);
      return 0;
    } catch (err) {
      bar.done();
      if (err instanceof DownloadError && err.code === 'cancelled') {
        process.stderr.write(`${err.message}\n`);
        return 130;
      }
      throw err;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  },
};

/** `[#########-----------]  45%  246.6 / 548.1 MB  12.3 MB/s  ETA 25 s  model.safetensors` */
export function progressLine(p: DownloadProgress, width = 24): string {
  const fraction = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
  const filled = Math.round(fraction * width);
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  const speed = p.bytesPerSecond > 0 ? `${mb(p.bytesPerSecond)} MB/s` : '… MB/s';
  const left = p.bytesPerSecond > 0 && p.bytesTotal > p.bytesDone ? `  ETA ${Math.ceil((p.bytesTotal - p.bytesDone) / p.bytesPerSecond)} s` : '';
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${mb(p.bytesDone)} / ${mb(p.bytesTotal)} MB  ${speed}${left}  ${p.file}`;
}

/** Redraws one line on a terminal; on a pipe, prints a line per file every 10 %. */
class ProgressBar {
  private last = '';
  private lastDecile = new Map<string, number>();
  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: DownloadProgress): void {
    const line = progressLine(p);
    if (this.out.isTTY) {
      this.out.write(`\r${line.padEnd(this.last.length)}`);
      this.last = line;
      return;
    }
    const decile = p.bytesTotal > 0 ? Math.floor((10 * p.bytesDone) / p.bytesTotal) : 0;
    if (decile !== this.lastDecile.get(p.file)) {
      this.lastDecile.set(p.file, decile);
      this.out.write(`${line}\n`);
    }
  }

  done(): void {
    if (this.out.isTTY && this.last) this.out.write('\n');
    this.last = '';
  }
}
