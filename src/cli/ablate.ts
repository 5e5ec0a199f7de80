/**
 * `residual-lens ablate --model M --text "…" --head 1.0[,0.3] [--mode zero|mean] [--k N] [--json]`:
 * re-runs a trace with heads ablated (attn.hook_z of each head at every position set to zero, or
 * to its mean over the prompt's positions, as TransformerLens's run_with_hooks) and prints the
 * top-k at the last position before and after, as tables or as the JSON of docs/cli-json.md
 * ("ablate", schema 1).
 */
import { CliUsageError, parseCliArgs, type CliCommand } from './args';
import { cliEngine, EXECUTION_PROVIDER_OPTION, loadForCli } from './engineOption';
import { formatTable, readTextOption, showToken } from './tokenize';
import { cacheDirectory, resolveModelArg } from './trace';
import { parseHeads } from './patch';
import { decodeToken } from '../engine/tokenizer';
import { INTERVENTIONS_SCHEMA_VERSION, type Intervention } from '../protocol/interventions';
import type { PositionTopK } from '../protocol/patching';

/** JSON schema version of `ablate --json`. */
export const ABLATE_JSON_SCHEMA = 1;

interface TopEntry {
  readonly id: number;
  readonly token: string;
  readonly logit: number;
  readonly prob: number;
}

export interface AblateJson {
  readonly schema: typeof ABLATE_JSON_SCHEMA;
  readonly command: 'ablate';
  readonly model: string;
  readonly text: string;
  readonly tokens: readonly { id: number; text: string }[];
  readonly mode: 'zero' | 'mean';
  readonly heads: readonly { layer: number; head: number; hook: string }[];
  /** The position scored (the last). */
  readonly pos: number;
  readonly before: readonly TopEntry[];
  readonly after: readonly TopEntry[];
  /** Log-probability of the unablated top-1 token, before and after. */
  readonly metric: { readonly kind: 'logprob'; readonly token: { id: number; token: string }; readonly before: number; readonly after: number; readonly change: number };
}

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, {
      model: { type: 'string', default: 'demo' },
      text: { type: 'string' },
      head: { type: 'string' },
      mode: { type: 'string', default: 'zero' },
      k: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
      'no-bos': { type: 'boolean', default: false },
      dir: { type: 'string' },
      ...EXECUTION_PROVIDER_OPTION,
    });
    const text = readTextOption(values.text);
    if (values.head === undefined) throw new CliUsageError('--head is required: layer.head, e.g. --head 1.0 (several: 1.0,0.3)');
    const heads = parseHeads(values.head, '--head');
    const mode = values.mode;
    if (mode !== 'zero' && mode !== 'mean') throw new CliUsageError(`--mode must be zero or mean, got '${mode}'`);
    const k = Number(values.k);
    if (!Number.isInteger(k) || k < 1 || k > 1000) throw new CliUsageError(`--k must be a whole number from 1 to 1000, got '${values.k}'`);
    const cacheDir = cacheDirectory(values.dir);
    const model = await resolveModelArg(values.model, cacheDir);
    const engine = cliEngine(values['execution-provider']);
    try {
      const info = await loadForCli(engine, model.folder, model.name, cacheDir);
      for (const h of heads) {
        if (h.layer >= info.config.nLayer || h.head >= info.config.nHead) {
          throw new CliUsageError(`--head ${h.layer}.${h.head} is out of range: ${model.name} has layers 0..${info.config.nLayer - 1} and heads 0..${info.config.nHead - 1}`);
        }
      }
      const trace = await engine.traceSummary({ text, options: { prependBos: !values['no-bos'] } });
      const T = trace.tokens.length;
      const top1 = trace.logitsTop.ids[(T - 1) * trace.logitsTop.k];
      const interventions: Intervention[] = heads.map((h) => ({ site: { hook: `blocks.${h.layer}.attn.hook_z`, head: h.head }, action: { kind: mode } }));
      const r = await engine.runInterventions({
        schema: INTERVENTIONS_SCHEMA_VERSION, traceId: trace.traceId, metric: { kind: 'logprob', token: top1 }, topK: k, runs: [{ interventions }],
      });
      const json: AblateJson = {
        schema: ABLATE_JSON_SCHEMA, command: 'ablate', model: model.name, text,
        tokens: trace.tokens.map((t) => ({ id: t.id, text: t.text })),
        mode, heads: heads.map((h) => ({ ...h, hook: `blocks.${h.layer}.attn.hook_z` })), pos: r.pos,
        before: entries(r.baseTop), after: entries(r.top?.[0]),
        metric: { kind: 'logprob', token: { id: top1, token: decodeToken(top1) }, before: r.baseline, after: r.metrics[0], change: r.metrics[0] - r.baseline },
      };
      process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${ablateTables(json)}\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

function entries(top: PositionTopK | undefined): TopEntry[] {
  if (!top) return [];
  return Array.from(top.ids, (id, i) => ({ id, token: decodeToken(id), logit: Number(top.logits[i].toPrecision(8)), prob: Number(top.probs[i].toPrecision(8)) }));
}

export function ablateTables(j: AblateJson): string {
  const names = j.heads.map((h) => `L${h.layer}H${h.head}`).join(', ');
  const out = [`${j.model} · ${j.tokens.length} tokens · ${j.mode}-ablated ${names} · position ${j.pos}`];
  out.push(`log p(${showToken(j.metric.token.token)}): ${j.metric.before.toFixed(4)} → ${j.metric.after.toFixed(4)} (${j.metric.change >= 0 ? '+' : ''}${j.metric.change.toFixed(4)})`, '');
  const n = Math.max(j.before.length, j.after.length);
  out.push(formatTable(
    ['#', 'before', 'prob', 'after', 'prob'],
    Array.from({ length: n }, (_, i) => [String(i + 1), showToken(j.before[i]?.token ?? ''), pct(j.before[i]?.prob), showToken(j.after[i]?.token ?? ''), pct(j.after[i]?.prob)]),
    [true, false, true, false, true],
  ));
  return out.join('\n');
}

function pct(p: number | undefined): string {
  return p === undefined ? '' : `${(p * 100).toFixed(1)}%`;
}
