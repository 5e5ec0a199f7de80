/**
 * "Scan Workspace for Features": runs the model and the SAE in use over the workspace's text files
 * (residualLens.scan.* settings) and keeps every feature's top contexts (src/models/sae/scan.ts),
 * with progress (tokens/s, ETA), cancel, and resume after a restart: the partial state is saved
 * (atomically) after files, under the extension's global storage, keyed by (model, SAE, settings,
 * file list with sizes and mtimes) — the same key finds a finished index, so an unchanged corpus is
 * not scanned twice. Results open as a feature picker; picking a context opens the file at that token.
 * "Open Feature Index" shows an index written by the CLI (`scan` / `merge`) the same way.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseFeatureIndex, type FeatureIndexJson } from '../analysis/featureIndex';
import { DEFAULT_MAX_FILE_BYTES, DEFAULT_SCAN_TOP, DEFAULT_SCAN_WINDOW, scanFiles, type ScanState } from '../models/sae/scan';
import type { EngineSession } from './engineSession';
import { chooseModelForTrace, type ModelContext } from './modelPicker';
import { errorMessage, isCancellation, type Output } from './output';
import type { SaeFeatureSource } from './saeFeatures';

const SAVE_EVERY_MS = 5000;

interface ScanSettings {
  readonly include: string;
  readonly exclude: string;
  readonly maxFiles: number;
  readonly maxFileBytes: number;
  readonly top: number;
  readonly window: number;
}

function scanSettings(): ScanSettings {
  const c = vscode.workspace.getConfiguration('residualLens.scan');
  const int = (key: string, def: number, min: number, max: number): number => {
    const v = c.get<number>(key, def);
    return Number.isInteger(v) && v >= min && v <= max ? v : def;
  };
  return {
    include: c.get<string>('include', '**/*.{txt,md,rst,py,ts,js}') || '**/*.txt',
    exclude: c.get<string>('exclude', '**/{node_modules,.git,out,dist,build}/**'),
    maxFiles: int('maxFiles', 2000, 1, 100_000),
    maxFileBytes: int('maxFileBytes', DEFAULT_MAX_FILE_BYTES, 1, 64 * 1024 * 1024),
    top: int('top', DEFAULT_SCAN_TOP, 1, 100),
    window: int('window', DEFAULT_SCAN_WINDOW, 8, 1023),
  };
}

function writeAtomic(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temporary, JSON.stringify(value));
  fs.renameSync(temporary, file);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

export class FeatureScanCommands {
  constructor(
    private readonly session: EngineSession,
    private readonly saes: SaeFeatureSource,
    private readonly models: ModelContext,
    private readonly output: Output,
    private readonly storageDir: string,
  ) {}

  async scanCommand(): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder || folder.uri.scheme !== 'file') {
      void vscode.window.showInformationMessage('Open a folder on disk to scan its files for SAE features.');
      return;
    }
    const choice = await chooseModelForTrace(this.models);
    if (!choice) return;
    const settings = scanSettings();
    try {
      const info = await this.session.ensureLoaded(choice);
      const sae = await this.saes.ensureSaeFor(info.name, info.fingerprint);
      if (!sae) {
        void vscode.window.showInformationMessage('No SAE is in use for this model: set residualLens.sae to an SAE folder (or "demo" with the demo model).');
        return;
      }
      const uris = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, settings.include), settings.exclude || undefined, settings.maxFiles);
      const files = uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath).sort();
      if (files.length === 0) {
        void vscode.window.showInformationMessage(`No files match residualLens.scan.include (${settings.include}).`);
        return;
      }
      const stats = files.map((f) => {
        try {
          const s = fs.statSync(f);
          return `${f}\0${s.size}\0${s.mtimeMs}`;
        } catch {
          return `${f}\0missing`;
        }
      });
      const totalBytes = files.reduce((n, f) => n + (fs.existsSync(f) ? Math.min(fs.statSync(f).size, settings.maxFileBytes) : 0), 0);
      const key = crypto.createHash('sha256').update(JSON.stringify([info.fingerprint, sae.fingerprint, settings, folder.uri.fsPath, stats])).digest('hex').slice(0, 32);
      const finished = path.join(this.storageDir, 'scans', `${key}.json`);
      const partial = path.join(this.storageDir, 'scans', `${key}.partial.json`);
      const cached = readJson(finished);
      if (cached !== undefined) {
        this.output.info(`Feature scan: the workspace is unchanged since its last scan (${finished}).`);
        await this.browse(parseFeatureIndex(cached, finished), folder.uri.fsPath);
        return;
      }
      const resume = readJson(partial) as ScanState | undefined;
      let savedAt = Date.now();
      const index = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Scanning ${files.length} files for ${sae.name} features`, cancellable: true },
        async (progress, token) => {
          const abort = new AbortController();
          const sub = token.onCancellationRequested(() => abort.abort());
          let reported = 0;
          let bytesDone = 0;
          try {
            return await scanFiles(
              { saeScan: (p) => this.session.request('saeScan', p, { signal: abort.signal }, 'computing') },
              {
                root: folder.uri.fsPath, files, model: { name: info.name, fingerprint: info.fingerprint }, sae, top: settings.top, window: settings.window, maxFileBytes: settings.maxFileBytes,
                signal: abort.signal,
                ...(resume && Array.isArray(resume.files) ? { resume } : {}),
                onFileDone: (state) => {
                  bytesDone = state.files.reduce((n, f) => n + f.bytes, 0);
                  if (Date.now() - savedAt >= SAVE_EVERY_MS) {
                    savedAt = Date.now();
                    writeAtomic(partial, state);
                  }
                },
                onProgress: (p) => {
                  const rate = p.elapsedMs > 0 ? (p.tokens / p.elapsedMs) * 1000 : 0;
                  const bytesRate = p.elapsedMs > 0 ? bytesDone / p.elapsedMs : 0;
                  const eta = bytesRate > 0 ? Math.round((totalBytes - bytesDone) / bytesRate / 1000) : undefined;
                  const increment = ((p.filesDone - reported) / p.filesTotal) * 100;
                  reported = p.filesDone;
                  progress.report({ increment, message: `${p.filesDone}/${p.filesTotal} files · ${rate.toFixed(0)} tokens/s${eta !== undefined ? ` · about ${eta} s left` : ''}` });
                },
              },
            );
          } finally {
            sub.dispose();
          }
        },
      );
      writeAtomic(finished, index);
      fs.rmSync(partial, { force: true });
      this.output.info(`Feature scan: ${index.files.length} files, ${index.skipped.length} skipped, ${index.tokens_scanned} tokens; index ${finished}.`);
      await this.browse(index, folder.uri.fsPath);
    } catch (err) {
      if (isCancellation(err) || errorMessage(err) === 'scan cancelled') {
        void vscode.window.showInformationMessage('Feature scan cancelled; run it again to resume where it stopped.');
        return;
      }
      this.output.showError(err);
    }
  }

  /** Opens an index written by the CLI (scan / merge), its paths relative to the first workspace folder. */
  async openIndexCommand(): Promise<void> {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Feature index': ['json'] } });
    if (!picked?.[0]) return;
    try {
      const index = parseFeatureIndex(JSON.parse(fs.readFileSync(picked[0].fsPath, 'utf8')), picked[0].fsPath);
      await this.browse(index, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? path.dirname(picked[0].fsPath));
    } catch (err) {
      this.output.showError(err);
    }
  }

  private async browse(index: FeatureIndexJson, root: string): Promise<void> {
    const labels = this.saes.info?.fingerprint === index.sae.fingerprint ? this.saes.labels() : new Map<number, string>();
    const features = Object.entries(index.features)
      .map(([id, list]) => ({ id: Number(id), list }))
      .sort((a, b) => b.list[0].activation - a.list[0].activation || a.id - b.id);
    const pick = await vscode.window.showQuickPick(
      features.map((f) => ({ label: `#${f.id}  ${f.list[0].activation.toFixed(2)}${labels.has(f.id) ? `  ${labels.get(f.id)}` : ''}`, description: f.list[0].context, feature: f })),
      { title: `${index.sae.name} (${index.sae.hook_name}): ${features.length} features over ${index.files.length} files`, matchOnDescription: true },
    );
    if (!pick) return;
    const ctx = await vscode.window.showQuickPick(
      pick.feature.list.map((c) => ({ label: `${c.activation.toFixed(2)}  ${c.file}`, description: c.context, c })),
      { title: `Feature #${pick.feature.id}: top contexts`, matchOnDescription: true },
    );
    if (!ctx) return;
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(root, ctx.c.file)));
    const start = doc.positionAt(ctx.c.start);
    const end = doc.positionAt(ctx.c.end);
    await vscode.window.showTextDocument(doc, { selection: new vscode.Range(start, end) });
  }
}
