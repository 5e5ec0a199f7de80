/**
 * Which model a command uses, and the model commands: the residualLens.model setting resolved
 * through the registry (workspace-trust aware), Select Model (quick pick) and Download Model
 * (notification progress with MB, speed, ETA and Cancel).
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DownloadError, downloadModel, type DownloadProgress } from '../models/download';
import { isHubId } from '../models/hfCache';
import { DEMO_MODEL_NAME, demoModelFolder, listHfCacheModels, listModels, loadManifest, resolveModel, type ManifestEntry } from '../models/registry';
import type { ModelChoice } from './engineSession';
import type { Output } from './output';
import { cacheDirSetting, hubEndpointSetting, looksLikePath, untrustedOverride } from './settingsPolicy';

export interface ModelContext {
  readonly extensionRoot: string;
  /** Default cache folder (global storage) when residualLens.modelCacheDir is empty. */
  readonly defaultCacheDir: string;
  readonly output: Output;
  /** Told when the configured model cannot be used (so the status bar can name it). */
  readonly onModelProblem?: (model: string, message: string) => void;
}

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('residualLens');
}

let warnedUntrusted = false;

/**
 * A setting's value, except that in an untrusted workspace a path set in the workspace's
 * settings is ignored (a model path is read and parsed; only a trusted workspace may choose it).
 */
function trustedSetting(key: 'model' | 'modelCacheDir', fallback: string, output: Output): string {
  const cfg = config();
  const override = untrustedOverride(key, cfg.inspect<string>(key), vscode.workspace.isTrusted, fallback);
  if (override) {
    output.info(override.message);
    if (!warnedUntrusted) {
      warnedUntrusted = true;
      void vscode.window.showWarningMessage(override.message);
    }
    return override.value;
  }
  return cfg.get<string>(key, fallback);
}

export function modelSetting(output: Output): string {
  return trustedSetting('model', DEMO_MODEL_NAME, output) || DEMO_MODEL_NAME;
}

export function modelCacheDir(ctx: ModelContext): string {
  const { dir, note } = cacheDirSetting(trustedSetting('modelCacheDir', '', ctx.output), ctx.defaultCacheDir);
  if (note) ctx.output.info(note);
  return dir;
}

function registryContext(ctx: ModelContext): { extensionRoot: string; cacheDir: string } {
  return { extensionRoot: ctx.extensionRoot, cacheDir: modelCacheDir(ctx) };
}

export function demoChoice(ctx: ModelContext): ModelChoice {
  return { name: DEMO_MODEL_NAME, folder: demoModelFolder(ctx.extensionRoot) };
}

function formatSize(bytes: number | undefined): string {
  if (bytes === undefined) return 'size unknown';
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.round(bytes / 1e6)} MB`;
}

/**
 * The model to trace with, asking the user when it is not downloaded (one click: Download, or
 * Use demo model). Undefined when the user declined or the setting is unusable (message shown).
 */
export async function chooseModelForTrace(ctx: ModelContext): Promise<ModelChoice | undefined> {
  const resolution = resolveModel(modelSetting(ctx.output), registryContext(ctx));
  switch (resolution.kind) {
    case 'ready':
      return { name: resolution.name, folder: resolution.folder };
    case 'not-downloaded': {
      const { entry } = resolution;
      const pick = await vscode.window.showInformationMessage(`${entry.displayName} (${formatSize(entry.sizeBytes)}) is not downloaded yet.`, 'Download', 'Use demo model');
      if (pick === 'Use demo model') return demoChoice(ctx);
      if (pick !== 'Download') return undefined;
      const folder = await runDownload(entry, ctx);
      return folder ? { name: entry.name, folder } : undefined;
    }
    case 'error': {
      ctx.onModelProblem?.(modelSetting(ctx.output), resolution.message);
      const pick = await vscode.window.showErrorMessage(resolution.message, 'Select Model', 'Use demo model');
      if (pick === 'Use demo model') return demoChoice(ctx);
      if (pick === 'Select Model') void vscode.commands.executeCommand('residualLens.selectModel');
      ctx.output.info(resolution.message);
      return undefined;
    }
  }
}

interface ModelPick extends vscode.QuickPickItem {
  readonly setting?: string;
  readonly entry?: ManifestEntry;
  readonly downloaded?: boolean;
  readonly browse?: boolean;
}

/** Residual Lens: Select Model. */
export async function selectModelCommand(ctx: ModelContext): Promise<void> {
  const current = modelSetting(ctx.output);
  const items: ModelPick[] = [
    { label: DEMO_MODEL_NAME, description: `built-in, planted circuits${current === DEMO_MODEL_NAME ? ' · current' : ''}`, detail: 'Offline demo model with a previous-token head and an induction head.', setting: DEMO_MODEL_NAME },
  ];
  let known: ReturnType<typeof listModels> = [];
  try {
    known = listModels(registryContext(ctx));
  } catch (err) {
    ctx.output.showError(err);
  }
  for (const m of known) {
    if (m.entry.name === DEMO_MODEL_NAME) continue;
    const ready = m.downloaded || m.hfCache !== undefined;
    const marks = [formatSize(m.entry.sizeBytes), m.downloaded ? '$(check) downloaded' : m.hfCache ? '$(check) in Hugging Face cache' : 'not downloaded'];
    if (m.entry.name === current) marks.push('current');
    const detail = m.downloaded ? m.folder : m.hfCache ? m.hfCache.folder : `${m.entry.repo} @ ${m.entry.revision}`;
    items.push({ label: m.entry.name, description: `${m.entry.displayName} · ${marks.join(' · ')}`, detail, setting: m.entry.name, entry: m.entry, downloaded: ready });
  }
  // Every other GPT-2-family model the Hugging Face cache holds (fine-tunes included), by hub id.
  const manifestRepos = new Set(known.flatMap((m) => [m.entry.repo, m.entry.name]));
  try {
    for (const m of listHfCacheModels(registryContext(ctx)).models) {
      if (manifestRepos.has(m.repoId)) continue;
      const marks = ['GPT-2 family', formatSize(m.sizeBytes), '$(check) Hugging Face cache'];
      if (m.repoId === current) marks.push('current');
      items.push({ label: m.repoId, description: marks.join(' · '), detail: m.folder, setting: m.repoId, downloaded: true });
    }
  } catch (err) {
    ctx.output.showError(err);
  }
  if (looksLikePath(current) && !isHubId(current)) items.push({ label: path.basename(current), description: 'local folder · current', detail: current, setting: current });
  items.push({ label: '$(folder-opened) Browse local folder…', description: 'a folder with config.json and model.safetensors (or shards, or pytorch_model.bin)', browse: true });

  const pick = await vscode.window.showQuickPick(items, { title: 'Residual Lens: Select Model', placeHolder: `Current: ${current}`, matchOnDescription: true });
  if (!pick) return;
  let setting = pick.setting;
  if (pick.browse) {
    const folders = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use this model folder' });
    if (!folders?.[0]) return;
    setting = folders[0].fsPath;
  }
  if (setting === undefined) return;
  await config().update('model', setting, vscode.ConfigurationTarget.Global);
  if (pick.entry && !pick.downloaded) {
    const go = await vscode.window.showInformationMessage(`${pick.entry.displayName} (${formatSize(pick.entry.sizeBytes)}) is not downloaded yet.`, 'Download');
    if (go === 'Download') await runDownload(pick.entry, ctx);
  } else {
    void vscode.window.showInformationMessage(`Residual Lens will trace with ${pick.browse ? setting : pick.label}.`);
  }
}

/** Residual Lens: Download Model (asks which one when not given). */
export async function downloadModelCommand(ctx: ModelContext, name?: string): Promise<void> {
  let entries: ManifestEntry[];
  try {
    entries = loadManifest();
  } catch (err) {
    ctx.output.showError(err);
    return;
  }
  let entry = entries.find((e) => e.name === name);
  if (!entry) {
    const downloaded = new Set(listModels(registryContext(ctx)).filter((m) => m.downloaded).map((m) => m.entry.name));
    const pick = await vscode.window.showQuickPick(
      entries.filter((e) => e.name !== DEMO_MODEL_NAME).map((e) => ({ label: e.name, description: `${e.displayName} · ${formatSize(e.sizeBytes)}${downloaded.has(e.name) ? ' · $(check) downloaded' : ''}`, entry: e })),
      { title: 'Residual Lens: Download Model' },
    );
    if (!pick) return;
    entry = pick.entry;
  }
  const folder = await runDownload(entry, ctx);
  if (folder) {
    const use = await vscode.window.showInformationMessage(`${entry.displayName} is ready in ${folder}.`, 'Use it');
    if (use === 'Use it') await config().update('model', entry.name, vscode.ConfigurationTarget.Global);
  }
}

function hubEndpoint(): { readonly endpoint: string } | { readonly message: string } {
  return hubEndpointSetting(config().get<string>('hubEndpoint', 'https://huggingface.co'));
}

function progressText(p: DownloadProgress): string {
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  const speed = p.bytesPerSecond > 0 ? `${(p.bytesPerSecond / 1e6).toFixed(1)} MB/s` : '…';
  const eta = p.bytesPerSecond > 0 && p.bytesTotal > p.bytesDone ? ` · ETA ${formatEta((p.bytesTotal - p.bytesDone) / p.bytesPerSecond)}` : '';
  return `${p.file}: ${mb(p.bytesDone)} / ${mb(p.bytesTotal)} MB · ${speed}${eta}`;
}

function formatEta(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Downloads with a cancellable notification; returns the folder, or undefined (message shown). */
async function runDownload(entry: ManifestEntry, ctx: ModelContext): Promise<string | undefined> {
  const hub = hubEndpoint();
  if ('message' in hub) {
    ctx.output.showError(new Error(hub.message));
    return undefined;
  }
  const endpoint = hub.endpoint;
  const cacheDir = modelCacheDir(ctx);
  ctx.output.info(`Downloading ${entry.repo}@${entry.revision} from ${endpoint} into ${cacheDir}.`);
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Downloading ${entry.displayName}`, cancellable: true }, async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      const files = entry.files.map((f) => f.path);
      let shown = 0;
      const folder = await downloadModel(entry, {
        endpoint,
        cacheDir,
        signal: abort.signal,
        onProgress: (p) => {
          const index = Math.max(0, files.indexOf(p.file));
          const overall = (100 * (index + (p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 0))) / Math.max(1, files.length);
          progress.report({ increment: Math.max(0, overall - shown), message: progressText(p) });
          shown = Math.max(shown, overall);
        },
      });
      ctx.output.info(`Downloaded ${entry.name} into ${folder}.`);
      return folder;
    });
  } catch (err) {
    if (err instanceof DownloadError && err.code === 'cancelled') {
      void vscode.window.showInformationMessage(`Download of ${entry.displayName} cancelled. Run Download Model again to resume where it stopped.`);
    } else if (err instanceof DownloadError && err.code === 'network') {
      const files = entry.files.map((f) => f.path).join(' and ');
      const target = resolveModel(entry.name, registryContext(ctx));
      const where = target.kind === 'error' ? 'a folder and choose it with Select Model → Browse local folder' : target.folder;
      ctx.output.showError(err, `Could not reach ${endpoint} (offline?). To use ${entry.name} offline, put ${files} from ${entry.repo} into ${where}.`);
    } else {
      ctx.output.showError(err);
    }
    return undefined;
  }
}
