/**
 * SAE features in the editor: loads the SAE the `residualLens.sae` setting names into the engine
 * worker (once per folder and model), asks for each new trace's features once (a while after the
 * trace, so the panel paints first), and serves hovers from those stored answers — a hover makes no
 * engine call once a trace's features are in. Labels are stored per SAE (by its fingerprint) in
 * the extension's global state, over the SAE folder's own feature-labels.json, and export as JSON.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SaeFeatures, SaeInfo } from '../engine/sae/types';
import { EngineError } from '../protocol/engine';
import { DEMO_SAE_HOOK } from '../models/sae/demoSae';
import { featureHeatmap, labelsJson, parseFeatureLabels, resolveSaeSetting, spliceLine, type FeatureHeatmap } from '../viewModels/features';
import type { HostMessage } from './webviewChannel';
import type { FeatureCardPayload } from '../protocol/webview';
import { decodeToken } from '../engine/tokenizer';
import type { EngineSession } from './engineSession';
import { errorMessage, type Output } from './output';
import type { TraceController, TraceRecord } from './traceController';

/** Features per position asked of the engine (the hover shows the first HOVER_FEATURES). */
const FEATURES_K = 10;
export const HOVER_FEATURES = 5;
/** After a trace: let the panel paint and its own follow-ups go first (they wait up to 400 ms). */
const PREFETCH_AFTER_MS = 700;
const MAX_CACHED_TRACES = 16;
const LABELS_KEY = 'residualLens.saeLabels.';
/** Rows of the trace panel's feature heatmap. */
const HEATMAP_FEATURES = 16;

export class SaeFeatureSource implements vscode.Disposable {
  private loaded: { readonly key: string; readonly info: SaeInfo } | undefined;
  private loading: { readonly key: string; readonly promise: Promise<SaeInfo> } | undefined;
  private readonly perTrace = new Map<number, Promise<SaeFeatures | undefined>>();
  private readonly warned = new Set<string>();
  private prefetchTimer: ReturnType<typeof setTimeout> | undefined;
  private lastPrefetched: number | undefined;
  private readonly subscription: vscode.Disposable;
  /** The latest trace's heatmap, replayed to a panel that (re)opens. */
  private shown: FeatureHeatmap | undefined;
  /** Each SAE folder's own feature-labels.json, read once (by SAE fingerprint). */
  private readonly folderLabels = new Map<string, Map<number, string>>();

  constructor(
    private readonly session: EngineSession,
    private readonly output: Output,
    private readonly traces: TraceController,
    private readonly globalState: vscode.Memento,
    private readonly extensionRoot: string,
    /** Posts to the trace panel and the side view. */
    private readonly post: (msg: HostMessage) => void = () => undefined,
  ) {
    this.subscription = traces.onDidChangeRecords(() => this.schedulePrefetch());
  }

  /** The SAE in use, if loaded. */
  get info(): SaeInfo | undefined {
    return this.loaded?.info;
  }

  /** Loads the SAE the setting names for this model (once); undefined when none is in use. */
  ensureSaeFor(modelName: string, modelFingerprint: string): Promise<SaeInfo | undefined> {
    return this.ensureLoaded(modelName, modelFingerprint);
  }

  /** The record's features, requested at most once per trace; undefined when no SAE is in use or it failed (said once in the output). */
  featuresOf(record: TraceRecord): Promise<SaeFeatures | undefined> {
    let p = this.perTrace.get(record.trace.traceId);
    if (!p) {
      p = this.fetch(record).then((f) => {
        if (f && this.traces.latest === record) {
          this.shown = featureHeatmap(f, this.labels(f.sae), HEATMAP_FEATURES);
          this.post({ type: 'features', features: this.shown });
          void this.showSplice(record, this.shown);
        }
        return f;
      }).catch((err: unknown) => {
        this.perTrace.delete(record.trace.traceId);
        this.report(err);
        return undefined;
      });
      this.perTrace.set(record.trace.traceId, p);
      while (this.perTrace.size > MAX_CACHED_TRACES) this.perTrace.delete(this.perTrace.keys().next().value as number);
    }
    return p;
  }

  /** After the heatmap: what splicing the SAE in does at the last position (one interventions run), added to the heatmap's line. */
  private async showSplice(record: TraceRecord, heatmap: FeatureHeatmap): Promise<void> {
    try {
      // A follow-up of the trace: a newer trace (a live re-trace) cancels it rather than queue behind it.
      const r = await this.session.request('saeSplice', { traceId: record.trace.traceId, topK: 1 }, { signal: record.followUpSignal() }, 'ready');
      if (this.traces.latest !== record || this.shown !== heatmap) return;
      const top = r.top.ids[0] ?? 0;
      this.shown = { ...heatmap, splice: spliceLine(r, JSON.stringify(decodeToken(r.tokenId)), JSON.stringify(decodeToken(top))) };
      this.post({ type: 'features', features: this.shown });
    } catch (err) {
      // The heatmap stands without it; a cancelled or superseded request says nothing.
      if (!(err instanceof EngineError && err.code === 'cancelled')) this.report(err);
    }
  }

  /** The latest trace's feature heatmap, for a view that opens after it was posted. */
  replay(): HostMessage[] {
    const latest = this.traces.latest?.trace.traceId;
    return this.shown && this.shown.traceId === latest ? [{ type: 'features', features: this.shown }] : [];
  }

  /** Labels of the SAE in use: the folder's feature-labels.json, overridden by the user's. */
  labels(info: SaeInfo | undefined = this.info): Map<number, string> {
    if (!info) return new Map<number, string>();
    let shipped = this.folderLabels.get(info.fingerprint);
    if (!shipped) {
      shipped = new Map<number, string>();
      const file = path.join(info.folder, 'feature-labels.json');
      try {
        if (fs.existsSync(file)) shipped = parseFeatureLabels(JSON.parse(fs.readFileSync(file, 'utf8'))) ?? shipped;
      } catch {
        // A broken labels file only loses its labels.
      }
      this.folderLabels.set(info.fingerprint, shipped);
    }
    const out = new Map(shipped);
    const mine = this.globalState.get<Record<string, string>>(LABELS_KEY + info.fingerprint, {});
    for (const [id, l] of parseFeatureLabels({ labels: mine }) ?? []) {
      if (l === '') out.delete(id);
      else out.set(id, l);
    }
    return out;
  }

  /** The trace panel asked for a feature's card (at the selected position of the latest trace). */
  async card(feature: number, pos: number): Promise<void> {
    const record = this.traces.latest;
    const info = this.info;
    if (!record || !info) return;
    try {
      const features = await this.featuresOf(record);
      if (!features || feature >= info.dSae || pos >= record.trace.tokens.length) return;
      const d = await this.session.request('saeFeature', { feature, traceId: record.trace.traceId, pos, n: 8 }, {}, 'ready');
      if (this.traces.latest !== record) return;
      const activations = Array.from({ length: features.positions }, (_, t) => {
        for (let i = 0; i < features.k; i++) if (features.ids[t * features.k + i] === feature) return features.values[t * features.k + i];
        return 0;
      });
      const text = (list: readonly { id: number; value: number }[]): { text: string; value: number }[] => list.map((e) => ({ text: decodeToken(e.id), value: e.value }));
      const card: FeatureCardPayload = {
        traceId: record.trace.traceId, feature, label: this.labels(info).get(feature) ?? '', activations,
        promoted: text(d.promoted), suppressed: text(d.suppressed), embeddingTokens: text(d.topEmbeddingTokens),
        ...(d.dla ? { dla: { pos: d.dla.pos, token: decodeToken(d.dla.tokenId), activation: d.dla.activation, value: d.dla.value } } : {}),
      };
      this.post({ type: 'featureCard', card });
    } catch (err) {
      this.report(err);
    }
  }

  /** Stores a label from the trace panel's feature card and re-posts the heatmap with it. */
  async setLabel(feature: number, label: string): Promise<void> {
    const info = this.info;
    if (!info || feature >= info.dSae) return;
    const key = LABELS_KEY + info.fingerprint;
    await this.globalState.update(key, { ...this.globalState.get<Record<string, string>>(key, {}), [String(feature)]: label.trim().slice(0, 500) });
    const record = this.traces.latest;
    if (record && this.shown?.traceId === record.trace.traceId) {
      const f = await this.featuresOf(record);
      if (f) {
        this.shown = featureHeatmap(f, this.labels(f.sae), HEATMAP_FEATURES);
        this.post({ type: 'features', features: this.shown });
      }
    }
  }

  /** Command: label a feature of the SAE in use (an empty label removes it). */
  async labelFeatureCommand(): Promise<void> {
    const info = this.info;
    if (!info) {
      void vscode.window.showInformationMessage('No SAE is in use yet: trace some text with an SAE set in residualLens.sae.');
      return;
    }
    const idText = await vscode.window.showInputBox({ title: `Label a feature of ${info.name}`, prompt: `Feature id (0–${info.dSae - 1})`, validateInput: (v) => (/^\d+$/.test(v) && Number(v) < info.dSae ? undefined : `A whole number from 0 to ${info.dSae - 1}`) });
    if (idText === undefined) return;
    const label = await vscode.window.showInputBox({ title: `Label of feature ${idText}`, value: this.labels(info).get(Number(idText)) ?? '', prompt: 'Empty removes the label' });
    if (label === undefined) return;
    const key = LABELS_KEY + info.fingerprint;
    const mine = { ...this.globalState.get<Record<string, string>>(key, {}) };
    mine[idText] = label.trim().slice(0, 500);
    await this.globalState.update(key, mine);
  }

  /** Command: write the SAE's labels as JSON ({"schema": 1, "sae": …, "labels": …}). */
  async exportLabelsCommand(): Promise<void> {
    const info = this.info;
    if (!info) {
      void vscode.window.showInformationMessage('No SAE is in use yet: trace some text with an SAE set in residualLens.sae.');
      return;
    }
    const target = await vscode.window.showSaveDialog({ filters: { JSON: ['json'] }, defaultUri: vscode.Uri.file(`${info.name}-labels.json`) });
    if (!target) return;
    const json = labelsJson(this.labels(info), { name: info.name, hook_name: info.hookName, fingerprint: info.fingerprint });
    await vscode.workspace.fs.writeFile(target, Buffer.from(`${JSON.stringify(json, null, 2)}\n`, 'utf8'));
  }

  dispose(): void {
    clearTimeout(this.prefetchTimer);
    this.subscription.dispose();
    this.perTrace.clear();
  }

  private schedulePrefetch(): void {
    const record = this.traces.latest;
    if (!record || record.trace.traceId === this.lastPrefetched) return;
    this.lastPrefetched = record.trace.traceId;
    clearTimeout(this.prefetchTimer);
    this.prefetchTimer = setTimeout(() => {
      if (this.traces.latest === record) void this.featuresOf(record);
    }, PREFETCH_AFTER_MS);
  }

  private async fetch(record: TraceRecord): Promise<SaeFeatures | undefined> {
    const info = await this.ensureLoaded(record.trace.model.name, record.trace.model.fingerprint);
    if (!info) return undefined;
    try {
      return await this.session.request('saeFeatures', { traceId: record.trace.traceId, k: FEATURES_K }, {}, 'ready');
    } catch (err) {
      if (!(err instanceof EngineError && err.code === 'no-sae')) throw err;
      // The worker restarted (and lost the SAE): load it again, once.
      this.loaded = undefined;
      if (!(await this.ensureLoaded(record.trace.model.name, record.trace.model.fingerprint))) return undefined;
      return this.session.request('saeFeatures', { traceId: record.trace.traceId, k: FEATURES_K }, {}, 'ready');
    }
  }

  private async ensureLoaded(modelName: string, modelFingerprint: string): Promise<SaeInfo | undefined> {
    // In an untrusted workspace a folder from the workspace's settings is not read (as for residualLens.model).
    const config = vscode.workspace.getConfiguration('residualLens');
    const setting = vscode.workspace.isTrusted ? config.get<string>('sae', '') : (config.inspect<string>('sae')?.globalValue ?? '');
    const choice = resolveSaeSetting(typeof setting === 'string' ? setting : '', modelName, path.join(this.extensionRoot, 'models', 'demo-sae', DEMO_SAE_HOOK), path.isAbsolute);
    if (choice.kind === 'off') return undefined;
    if (choice.kind === 'error') throw new Error(choice.message);
    const key = `${choice.folder}\0${modelFingerprint}`;
    if (this.loaded?.key === key) return this.loaded.info;
    if (this.loading?.key !== key) {
      const promise = this.session.request('loadSae', { folder: choice.folder }, {}, 'computing');
      this.loading = { key, promise };
      promise.then(
        (info) => {
          if (this.loading?.promise === promise) {
            this.loaded = { key, info };
            this.loading = undefined;
            this.output.info(`SAE ${info.name} (${info.hookName}, ${info.dSae} features, ${info.activation}) loaded; input: ${info.input}.`);
          }
        },
        () => {
          if (this.loading?.promise === promise) this.loading = undefined;
        },
      );
    }
    return this.loading.promise;
  }

  /** Says an SAE problem once per message (not at every trace). */
  private report(err: unknown): void {
    const message = errorMessage(err);
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.output.showWarning(`SAE features are off: ${message}`);
  }
}
