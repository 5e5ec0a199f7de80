/**
 * SAE features as the editor shows them (no vscode import): which SAE the setting names, the
 * hover's "Top features" lines from a trace's stored features, and the labels file format.
 */
import type { SaeFeatures } from '../engine/sae/types';

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
