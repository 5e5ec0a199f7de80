/**
 * `residual-lens download-sae <release> [--layers ID,ID…] [--hub URL] [--dir DIR]`: without
 * --layers, lists the release's SAEs with their sizes; with them, downloads those SAEs (verified,
 * resumable) into <dir>/saes/<release>/<id>/ and prints each folder (for --sae).
 */
import { CliUsageError, parseCliArgs, type CliCommand } from './args';
import { DEFAULT_HUB, progressLine } from './download';
import { envProxyAgents } from '../models/proxy';
import { DownloadError, parseEndpoint } from '../models/download';
import { cliCacheDirectory } from '../models/registry';
import { downloadSaes, loadSaeManifest } from '../models/sae/hub';

export const command: CliCommand = {
  async run(args) {
    const { values, positionals } = parseCliArgs(args, { layers: { type: 'string' }, hub: { type: 'string' }, dir: { type: 'string' } }, true);
    const releases = loadSaeManifest();
    const [name, ...extra] = positionals;
    const known = releases.map((r) => r.name).join(', ');
    if (!name || extra.length > 0) throw new CliUsageError(`usage: residual-lens download-sae <release> [--layers ID,ID…] [--hub URL] [--dir DIR]; releases: ${known}`);
    const release = releases.find((r) => r.name === name);
    if (!release) throw new CliUsageError(`unknown SAE release '${name}'; known: ${known}`);
    if (!values.layers) {
      process.stdout.write(`${release.displayName} (${release.repo}, for ${release.model}):\n`);
      for (const s of release.saes) process.stdout.write(`  ${s.id.padEnd(28)} ${(s.sizeBytes / 1e6).toFixed(0).padStart(5)} MB${s.l0 !== undefined ? `  L0 ≈ ${s.l0}` : ''}${s.variance_explained !== undefined ? `  variance explained ${s.variance_explained}` : ''}\n`);
      process.stdout.write('Pick with --layers, e.g. --layers blocks.8.hook_resid_pre\n');
      return 0;
    }
    const ids = values.layers.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const id of ids) if (!release.saes.some((s) => s.id === id)) throw new CliUsageError(`${release.name} has no SAE '${id}'`);
    const endpoint = values.hub ?? process.env['HF_ENDPOINT'] ?? DEFAULT_HUB;
    parseEndpoint(endpoint);
    const cacheDir = cliCacheDirectory(values.dir);
    const total = ids.reduce((n, id) => n + (release.saes.find((s) => s.id === id)?.sizeBytes ?? 0), 0);
    process.stderr.write(`Downloading ${ids.length} SAE(s) of ${release.repo} (about ${(total / 1e6).toFixed(0)} MB) from ${endpoint} into ${cacheDir}\n`);
    const abort = new AbortController();
    const onSigint = (): void => abort.abort();
    process.once('SIGINT', onSigint);
    let last = 0;
    try {
      const folders = await downloadSaes(release, ids, {
        endpoint, cacheDir, signal: abort.signal, agentFor: envProxyAgents(process.env),
        onProgress: (p) => {
          const now = Date.now();
          if (now - last < 1000 && p.bytesDone < p.bytesTotal) return;
          last = now;
          process.stderr.write(`${progressLine(p)}\n`);
        },
      });
      for (const f of folders) process.stdout.write(`${f}\n`);
      return 0;
    } catch (err) {
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
