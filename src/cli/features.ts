/**
 * `residual-lens features --model M --sae DIR|demo --text "…" [--k 10] [--json] [--no-bos] [--labels FILE] [--splice]`:
 * the top SAE features at every position of one trace, with L0 and reconstruction quality
 * (JSON: docs/cli-json.md, kind "features", schema 1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliUsageError, parseCliArgs, type CliCommand } from './args';
import { cliEngine, EXECUTION_PROVIDER_OPTION, loadForCli } from './engineOption';
import { formatTable, readTextOption, showToken } from './tokenize';
import { cacheDirectory, extensionRoot, resolveModelArg } from './trace';
import type { SaeFeatures, SaeInfo, SaeSpliceResult } from '../engine/sae/types';
import { decodeToken } from '../engine/tokenizer';
import type { PositionTopK } from '../protocol/patching';
import { formatProb } from '../viewModels/format';
import type { TokenInfo } from '../engine/types';
import { DEMO_SAE_HOOK } from '../models/sae/demoSae';
import { saeFolderByName } from '../models/sae/hub';

export interface FeaturesJson {
  readonly schema: 1;
  readonly kind: 'features';
  readonly model: { readonly name: string; readonly fingerprint: string };
  readonly sae: SaeJson;
  readonly k: number;
  readonly tokens: readonly { id: number; text: string; start: number; end: number; special: boolean }[];
  readonly positions: readonly {
    readonly pos: number;
    readonly l0: number;
    readonly variance_explained: number | null;
    readonly cosine: number | null;
    readonly features: readonly { readonly id: number; readonly activation: number; readonly label?: string }[];
  }[];
  readonly variance_explained_trace: number | null;
  /** With --splice: the SAE spliced in at its hook (every position), scored at the last position. */
  readonly splice?: SpliceJson;
}

export interface SpliceJson {
  readonly hook: string;
  readonly pos: number;
  /** KL(unedited ‖ spliced) of the next-token distributions, nats. */
  readonly kl: number;
  /** The unedited run's top-1 and its log-probability without / with the SAE. */
  readonly token: { readonly id: number; readonly text: string };
  readonly logprob_before: number;
  readonly logprob_after: number;
  readonly top_before: readonly { readonly id: number; readonly text: string; readonly prob: number }[];
  readonly top_after: readonly { readonly id: number; readonly text: string; readonly prob: number }[];
}

export function spliceToJson(r: SaeSpliceResult): SpliceJson {
  const list = (t: PositionTopK): SpliceJson['top_before'] => Array.from(t.ids, (id, i) => ({ id, text: decodeToken(id), prob: t.probs[i] ?? 0 }));
  return {
    hook: r.hook, pos: r.pos, kl: r.kl, token: { id: r.tokenId, text: decodeToken(r.tokenId) },
    logprob_before: r.logprobBefore, logprob_after: r.logprobAfter, top_before: list(r.baseTop), top_after: list(r.top),
  };
}

export interface SaeJson {
  readonly name: string;
  readonly folder: string;
  readonly hook_name: string;
  readonly d_in: number;
  readonly d_sae: number;
  readonly architecture: string;
  readonly activation: string;
  readonly normalize_activations: string;
  readonly apply_b_dec_to_input: boolean;
  readonly model_name: string | null;
  readonly dtype: string;
  readonly centred_input: boolean;
  readonly input: string;
  readonly fingerprint: string;
}

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, {
      model: { type: 'string', default: 'demo' },
      sae: { type: 'string' },
      text: { type: 'string' },
      k: { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      'no-bos': { type: 'boolean', default: false },
      splice: { type: 'boolean', default: false },
      labels: { type: 'string' },
      dir: { type: 'string' },
      ...EXECUTION_PROVIDER_OPTION,
    });
    const text = readTextOption(values.text);
    const k = Number(values.k);
    if (!Number.isInteger(k) || k < 1 || k > 1000) throw new CliUsageError(`--k must be a whole number from 1 to 1000, got '${values.k}'`);
    const cacheDir = cacheDirectory(values.dir);
    const saeFolder = resolveSaeArg(values.sae, cacheDir);
    const labels = readLabels(values.labels ?? path.join(saeFolder, 'feature-labels.json'), values.labels !== undefined);
    const model = await resolveModelArg(values.model, cacheDir);
    const engine = cliEngine(values['execution-provider']);
    try {
      const info = await loadForCli(engine, model.folder, model.name, cacheDir);
      await engine.loadSae({ folder: saeFolder });
      const trace = await engine.trace({ text, options: { prependBos: !values['no-bos'], topK: 1 } });
      const features = await engine.saeFeatures({ traceId: trace.traceId, k });
      const base = featuresToJson({ name: info.name, fingerprint: info.fingerprint }, trace.tokens, features, labels);
      const json: FeaturesJson = values.splice ? { ...base, splice: spliceToJson(await engine.saeSplice({ traceId: trace.traceId })) } : base;
      process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${featuresTables(json)}\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

/** --sae: 'demo' (the demo SAE), '<release>/<id>' of a downloaded release (download-sae), else a folder. */
export function resolveSaeArg(arg: string | undefined, cacheDir?: string): string {
  if (!arg) throw new CliUsageError('--sae is required: an SAE folder (cfg.json + sae_weights.safetensors), "demo", or <release>/<id> after download-sae');
  if (arg === 'demo') return path.join(extensionRoot(), 'models', 'demo-sae', DEMO_SAE_HOOK);
  const downloaded = cacheDir && !fs.existsSync(arg) ? saeFolderByName(arg, cacheDir) : undefined;
  return downloaded ?? path.resolve(arg);
}

/** Labels file: {"schema": 1, "labels": {"<id>": "label"}}; a missing default file is no labels. */
export function readLabels(file: string, required: boolean): ReadonlyMap<number, string> {
  if (!fs.existsSync(file)) {
    if (required) throw new Error(`${file}: not found`);
    return new Map();
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`);
  }
  const labels = (json as { labels?: unknown } | null)?.labels;
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw new Error(`${file}: expected {"schema": 1, "labels": {"<feature id>": "label"}}`);
  const out = new Map<number, string>();
  for (const [id, label] of Object.entries(labels)) if (/^\d+$/.test(id) && typeof label === 'string') out.set(Number(id), label);
  return out;
}

export function saeToJson(s: SaeInfo): SaeJson {
  return {
    name: s.name, folder: s.folder, hook_name: s.hookName, d_in: s.dIn, d_sae: s.dSae, architecture: s.architecture, activation: s.activation,
    normalize_activations: s.normalizeActivations, apply_b_dec_to_input: s.applyBDecToInput, model_name: s.modelName ?? null, dtype: s.tensorDtype,
    centred_input: s.centredInput, input: s.input, fingerprint: s.fingerprint,
  };
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

export function featuresToJson(model: FeaturesJson['model'], tokens: readonly TokenInfo[], f: SaeFeatures, labels: ReadonlyMap<number, string>): FeaturesJson {
  return {
    schema: 1,
    kind: 'features',
    model,
    sae: saeToJson(f.sae),
    k: f.k,
    tokens: tokens.map((t) => ({ id: t.id, text: t.text, start: t.start, end: t.end, special: t.special })),
    positions: tokens.map((_, pos) => {
      const list: { id: number; activation: number; label?: string }[] = [];
      for (let i = 0; i < f.k; i++) {
        const id = f.ids[pos * f.k + i];
        if (id < 0) continue;
        const label = labels.get(id);
        list.push({ id, activation: f.values[pos * f.k + i], ...(label !== undefined ? { label } : {}) });
      }
      return { pos, l0: f.l0[pos], variance_explained: finite(f.varianceExplained[pos]), cosine: finite(f.cosine[pos]), features: list };
    }),
    variance_explained_trace: f.varianceExplainedTrace,
  };
}

export function featuresTables(j: FeaturesJson): string {
  const out: string[] = [];
  out.push(`${j.model.name} · SAE ${j.sae.name} (${j.sae.hook_name}, ${j.sae.d_sae} features, ${j.sae.activation}) · input: ${j.sae.input}`);
  out.push(`variance explained over the trace: ${j.variance_explained_trace === null ? '-' : j.variance_explained_trace.toFixed(3)}`, '');
  const shown = Math.min(j.k, 5);
  out.push(
    formatTable(
      ['pos', 'token', 'L0', 'var.expl.', 'cos', ...Array.from({ length: shown }, (_, i) => `#${i + 1}`)],
      j.positions.map((p) => [
        String(p.pos), showToken(j.tokens[p.pos].text), String(p.l0),
        p.variance_explained === null ? '-' : p.variance_explained.toFixed(3), p.cosine === null ? '-' : p.cosine.toFixed(3),
        ...Array.from({ length: shown }, (_, i) => {
          const f = p.features[i];
          return f ? `${f.id} ${f.activation.toFixed(2)}${f.label ? ` ${shortLabel(f.label)}` : ''}` : '';
        }),
      ]),
      [true, false, true, true, true],
    ),
  );
  if (j.splice) {
    const sp = j.splice;
    const top = (l: SpliceJson['top_before']): string => l.map((e) => `${showToken(e.text)} ${formatProb(e.prob)}`).join(', ');
    out.push(
      '',
      `SAE spliced in at ${sp.hook} (every position), at pos ${sp.pos}: KL(unedited ‖ spliced) ${sp.kl.toFixed(4)} nats; log p(${showToken(sp.token.text)}) ${sp.logprob_before.toFixed(3)} → ${sp.logprob_after.toFixed(3)}`,
      `  top without: ${top(sp.top_before)}`,
      `  top with:    ${top(sp.top_after)}`,
    );
  }
  return out.join('\n');
}

function shortLabel(label: string): string {
  const one = label.replace(/\s+/g, ' ');
  return one.length <= 24 ? one : `${one.slice(0, 23)}…`;
}
