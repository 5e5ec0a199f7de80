/**
 * "Download SAE": pick a release of models/sae-manifest.json, then its SAEs (layers) with their
 * sizes shown, download them with the models' verified, resumable downloader (a cancellable
 * notification; run again to resume), and offer to use the first one (residualLens.sae).
 */
import * as vscode from 'vscode';
import { DownloadError } from '../models/download';
import { downloadSaes, loadSaeManifest } from '../models/sae/hub';
import { modelCacheDir, type ModelContext } from './modelPicker';
import { hubEndpointSetting } from './settingsPolicy';

export async function downloadSaeCommand(ctx: ModelContext): Promise<void> {
  const releases = loadSaeManifest();
  const release = releases.length === 1 ? releases[0] : (await vscode.window.showQuickPick(releases.map((r) => ({ label: r.name, description: `${r.displayName} · for ${r.model}`, r })), { title: 'SAE release' }))?.r;
  if (!release) return;
  const picks = await vscode.window.showQuickPick(
    release.saes.map((s) => ({
      label: s.id,
      description: `${(s.sizeBytes / 1e6).toFixed(0)} MB${s.l0 !== undefined ? ` · L0 ≈ ${s.l0}` : ''}${s.variance_explained !== undefined ? ` · variance explained ${s.variance_explained}` : ''}`,
      id: s.id,
      size: s.sizeBytes,
    })),
    { title: `${release.displayName} (${release.repo}): pick SAEs to download`, canPickMany: true },
  );
  if (!picks || picks.length === 0) return;
  const total = picks.reduce((n, p) => n + p.size, 0);
  const hub = hubEndpointSetting(vscode.workspace.getConfiguration('residualLens').get<string>('hubEndpoint', 'https://huggingface.co'));
  if ('message' in hub) {
    ctx.output.showError(new Error(hub.message));
    return;
  }
  const cacheDir = modelCacheDir(ctx);
  ctx.output.info(`Downloading ${picks.length} SAE(s) of ${release.repo} (about ${(total / 1e6).toFixed(0)} MB) from ${hub.endpoint} into ${cacheDir}.`);
  try {
    const folders = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Downloading ${picks.length} SAE(s), about ${(total / 1e6).toFixed(0)} MB`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        try {
          return await downloadSaes(release, picks.map((p) => p.id), {
            endpoint: hub.endpoint,
            cacheDir,
            signal: abort.signal,
            onProgress: (p) => progress.report({ message: `${p.file}: ${(p.bytesDone / 1e6).toFixed(1)} / ${(p.bytesTotal / 1e6).toFixed(1)} MB` }),
          });
        } finally {
          sub.dispose();
        }
      },
    );
    ctx.output.info(`Downloaded SAEs into ${folders.join(', ')}.`);
    const use = await vscode.window.showInformationMessage(`${folders.length} SAE(s) of ${release.name} are ready.`, `Use ${picks[0].id}`);
    if (use) await vscode.workspace.getConfiguration('residualLens').update('sae', folders[0], vscode.ConfigurationTarget.Global);
  } catch (err) {
    if (err instanceof DownloadError && err.code === 'cancelled') void vscode.window.showInformationMessage('SAE download cancelled. Run Download SAE again to resume where it stopped.');
    else ctx.output.showError(err);
  }
}
