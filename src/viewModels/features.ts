/**
 * SAE features as the editor shows them (no vscode import): which SAE the setting names, the
 * hover's "Top features" lines from a trace's stored features, and the labels file format.
 */
import type { SaeFeatures } from '../engine/sae/types';
import { formatFixed, formatProb } from './format';

/** `residualLens.sae`: '' = the demo SAE with the demo model, none otherwise; 'none'; 'demo'; or an absolute folder. */
export type SaeChoice = { readonly kind: 'off' } | { readonly kind: 'folder'; readonly folder: string } | { readonly kind: 'error'; readonly message: string };

export function resolveSaeSetting(setting: string, modelName: string | undefined, demoSaeFolder: string, isAbsolute: (p: string) => boolean): SaeChoice {
  const value = setting.trim();
  if (value === 'none') return { kind: 'off' };
  if (value === '') return modelName === 'demo' ? { kind: 'folder', folder: demoSaeFolder } : { kind: 'off' };
  if (value === 'demo') return { kind: 'folder', folder: demoSaeFolder };
  if (!isAbsolute(value)) return { kind: 'error', message: `residualLens.sae must be "", "none", "demo" or an absolute folder; got ${JSON.stringify(value)}.` };
  return { kind: 'folder', folder: value };
}

/** "blocks.8.hook_resid_pre" → "L8 resid_pre". */
export function hookLabel(hookName: string): string {
  const m = /^blocks\.(\d+)\.hook_(\w+)$/.exec(hookName);
  return m ? `L${m[1]} ${m[2]}` : hookName;
}

export interface FeatureHoverItem {
  readonly id: number;
  readonly activation: number;
  readonly label?: string;
}

/** The top `n` features at `pos` (activation > 0, best first), with labels. */
export function featuresAt(f: SaeFeatures, pos: number, n: number, labels: ReadonlyMap<number, string>): FeatureHoverItem[] {
  const out: FeatureHoverItem[] = [];
  if (!Number.isInteger(pos) || pos < 0 || pos >= f.positions) return out;
  for (let i = 0; i < Math.min(n, f.k); i++) {
    const id = f.ids[pos * f.k + i];
    if (id < 0) break;
    const label = labels.get(id);
    out.push({ id, activation: f.values[pos * f.k + i], ...(label !== undefined ? { label } : {}) });
  }
  return out;
}

/** Labels JSON, as exported and as the demo SAE ships them: {"schema": 1, "sae": …, "labels": {"<id>": "label"}}. */
export interface FeatureLabelsJson {
  readonly schema: 1;
  readonly sae?: { readonly name: string; readonly hook_name: string; readonly fingerprint: string };
  readonly labels: Readonly<Record<string, string>>;
}

/** Parses a labels file's JSON; undefined when it is not one. Only string labels of whole-number ids are kept. */
export function parseFeatureLabels(json: unknown): Map<number, string> | undefined {
  const labels = (json as { labels?: unknown } | null)?.labels;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return undefined;
  const out = new Map<number, string>();
  for (const [id, label] of Object.entries(labels as Record<string, unknown>)) {
    if (/^\d{1,9}$/.test(id) && typeof label === 'string' && label.length <= 500) out.set(Number(id), label);
  }
  return out;
}

export function labelsJson(labels: ReadonlyMap<number, string>, sae?: FeatureLabelsJson['sae']): FeatureLabelsJson {
  const sorted = [...labels.entries()].sort((a, b) => a[0] - b[0]);
  return { schema: 1, ...(sae ? { sae } : {}), labels: Object.fromEntries(sorted.map(([id, l]) => [String(id), l])) };
}

/** The trace panel's feature × position heatmap (src/protocol/webview.ts FeaturesPayload). */
export interface FeatureHeatmap {
  readonly traceId: number;
  /** "L1 resid_pre · demo" */
  readonly sae: string;
  /** Which activation the SAE read (SaeInfo.input). */
  readonly input: string;
  /** [F] feature ids, strongest (largest activation anywhere in the trace) first, ties by lower id. */
  readonly ids: number[];
  readonly labels: string[];
  /** [F, T] activation of each feature at each position, from that position's top-k list (0 where absent). */
  readonly values: number[];
  readonly positions: number;
  /** [T] */ readonly l0: number[];
  /** [T] variance explained per position, null where undefined. */
  readonly varianceExplained: (number | null)[];
  /** The SAE spliced in at its hook (engine saeSplice), once it is in: one line for the view. */
  readonly splice?: string;
}

/** What splicing the SAE in did at the last position, in one line (no NaN: the engine's values are finite). */
export function spliceLine(r: { readonly hook: string; readonly pos: number; readonly kl: number; readonly logprobBefore: number; readonly logprobAfter: number }, token: string, topAfter: string): string {
  const p = (lp: number): string => formatProb(Math.exp(lp));
  return `SAE spliced in at ${r.hook} (every position): at position ${r.pos}, KL(unedited ‖ spliced) ${formatFixed(Math.max(0, r.kl), 4)} nats; p(${token}) ${p(r.logprobBefore)} → ${p(r.logprobAfter)}; top-1 with the SAE: ${topAfter}`;
}

/** The strongest `maxRows` features of a trace as a [F, T] matrix. */
export function featureHeatmap(f: SaeFeatures, labels: ReadonlyMap<number, string>, maxRows: number): FeatureHeatmap {
  const T = f.positions;
  const best = new Map<number, number>();
  for (let i = 0; i < f.ids.length; i++) {
    const id = f.ids[i];
    if (id >= 0 && f.values[i] > (best.get(id) ?? 0)) best.set(id, f.values[i]);
  }
  const ids = [...best.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, maxRows).map(([id]) => id);
  const row = new Map(ids.map((id, r) => [id, r]));
  const values = new Array<number>(ids.length * T).fill(0);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < f.k; i++) {
      const r = row.get(f.ids[t * f.k + i]);
      if (r !== undefined) values[r * T + t] = f.values[t * f.k + i];
    }
  }
  return {
    traceId: f.traceId,
    sae: `${hookLabel(f.sae.hookName)} · ${f.sae.name}`,
    input: f.sae.input,
    ids,
    labels: ids.map((id) => labels.get(id) ?? ''),
    values,
    positions: T,
    l0: Array.from(f.l0),
    varianceExplained: Array.from(f.varianceExplained, (v) => (Number.isFinite(v) ? v : null)),
  };
}
