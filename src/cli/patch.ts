/**
 * `residual-lens patch --model M --clean "…" --corrupt "…" --answer " Mary" [--wrong " John"]
 * [--what resid_pre,attn_out,mlp_out,heads,patterns,heads_by_pos] [--heads 1.0,0.1] [--json]`:
 * activation patching clean → corrupted with the engine in-process (TransformerLens's patching
 * module semantics), printed as tables or as the JSON of docs/cli-json.md ("patch", schema 1).
 */
import { CliUsageError, parseCliArgs, type CliCommand } from './args';
import { cliEngine, EXECUTION_PROVIDER_OPTION, loadForCli } from './engineOption';
import { formatTable, showToken } from './tokenize';
import { cacheDirectory, resolveModelArg } from './trace';
import { decodeToken, tokenize } from '../engine/tokenizer';
import type { TokenInfo } from '../engine/types';
import { INTERVENTIONS_SCHEMA_VERSION } from '../protocol/interventions';
import { PATCH_TARGETS, type HeadRef, type PatchTarget } from '../protocol/patching';

/** JSON schema version of `patch --json`. */
export const PATCH_JSON_SCHEMA = 1;

export interface PatchJson {
  readonly schema: typeof PATCH_JSON_SCHEMA;
  readonly command: 'patch';
  readonly model: string;
  readonly clean: { readonly text: string; readonly tokens: readonly { id: number; text: string }[] };
  readonly corrupt: { readonly text: string; readonly tokens: readonly { id: number; text: string }[] };
  readonly metric: { readonly kind: 'logit_diff'; readonly pos: number; readonly answer: { id: number; token: string }; readonly wrong: { id: number; token: string } };
  readonly clean_metric: number;
  readonly corrupted_metric: number;
  /** False when clean and corrupted give the same metric: then every `scores` is null. */
  readonly normalised: boolean;
  readonly message: string | null;
  readonly sweeps: readonly {
    readonly what: PatchTarget;
    readonly row_labels: readonly string[];
    readonly col_labels: readonly string[];
    /** [rows][cols] metric of each patched run. */
    readonly values: number[][];
    /** [rows][cols] (patched − corrupted) / (clean − corrupted), or null. */
    readonly scores: number[][] | null;
    readonly ms: number;
  }[];
}

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, {
      model: { type: 'string', default: 'demo' },
      clean: { type: 'string' },
      corrupt: { type: 'string' },
      answer: { type: 'string' },
      wrong: { type: 'string' },
      what: { type: 'string', default: 'resid_pre,attn_out,mlp_out,heads' },
      heads: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-bos': { type: 'boolean', default: false },
      dir: { type: 'string' },
      ...EXECUTION_PROVIDER_OPTION,
    });
    if (values.clean === undefined || values.corrupt === undefined) throw new CliUsageError('--clean and --corrupt are required');
    if (values.answer === undefined) throw new CliUsageError('--answer is required (one token, e.g. " Mary")');
    const prependBos = !values['no-bos'];
    const what = parseTargets(values.what);
    const heads = values.heads === undefined ? undefined : parseHeads(values.heads, '--heads');
    if (what.includes('heads_by_pos') && !heads) throw new CliUsageError('--what heads_by_pos needs --heads L.H[,L.H…]');
    const answer = singleToken(values.answer, '--answer');
    const cleanTokens = tokenize(values.clean, { prependBos }).tokens;
    const corruptTokens = tokenize(values.corrupt, { prependBos }).tokens;
    if (cleanTokens.length !== corruptTokens.length) {
      throw new Error(`the clean prompt has ${cleanTokens.length} tokens and the corrupted one ${corruptTokens.length}; position-wise patching needs equal counts:\n${sideBySide(cleanTokens, corruptTokens)}`);
    }
    const cacheDir = cacheDirectory(values.dir);
    const model = await resolveModelArg(values.model, cacheDir);
    const engine = cliEngine(values['execution-provider']);
    try {
      await loadForCli(engine, model.folder, model.name, cacheDir);
      const clean = await engine.traceSummary({ text: values.clean, options: { prependBos } });
      const corrupt = await engine.traceSummary({ text: values.corrupt, options: { prependBos } });
      const T = clean.tokens.length;
      // Default wrong answer: the corrupted run's top-1 at the last position (or its #2 when that is the answer).
      const k = corrupt.logitsTop.k;
      const topCorrupt = corrupt.logitsTop.ids.subarray((T - 1) * k, T * k);
      const wrong = values.wrong !== undefined ? singleToken(values.wrong, '--wrong') : topCorrupt[0] === answer ? topCorrupt[1] : topCorrupt[0];
      if (wrong === answer) throw new CliUsageError(`--answer and --wrong are the same token (${answer} ${JSON.stringify(decodeToken(answer))}); give two different tokens`);
      const metric = { kind: 'logit_diff' as const, correct: answer, wrong };
      const sweeps: PatchJson['sweeps'][number][] = [];
      let first: { clean: number; corrupted: number; ok: boolean; message?: string } | undefined;
      for (const w of what) {
        const r = await engine.patchSweep({
          schema: INTERVENTIONS_SCHEMA_VERSION, cleanTraceId: clean.traceId, corruptedTraceId: corrupt.traceId, metric, what: w,
          ...(w === 'heads_by_pos' ? { heads } : {}),
        });
        first ??= r.normalisation;
        sweeps.push({
          what: w, row_labels: r.rowLabels, col_labels: r.colLabels,
          values: grid(r.values, r.rows, r.cols), scores: r.scores ? grid(r.scores, r.rows, r.cols) : null, ms: Number(r.ms.toFixed(1)),
        });
      }
      if (!first) throw new CliUsageError('--what needs at least one target');
      const n = first;
      const json: PatchJson = {
        schema: PATCH_JSON_SCHEMA, command: 'patch', model: model.name,
        clean: { text: values.clean, tokens: clean.tokens.map((t) => ({ id: t.id, text: t.text })) },
        corrupt: { text: values.corrupt, tokens: corrupt.tokens.map((t) => ({ id: t.id, text: t.text })) },
        metric: { kind: 'logit_diff', pos: T - 1, answer: { id: answer, token: decodeToken(answer) }, wrong: { id: wrong, token: decodeToken(wrong) } },
        clean_metric: n.clean, corrupted_metric: n.corrupted, normalised: n.ok, message: n.message ?? null, sweeps,
      };
      process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${patchTables(json)}\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

/** One token, or a usage error that shows how the text tokenizes. */
export function singleToken(text: string, flag: string): number {
  const tokens = tokenize(text, { prependBos: false }).tokens;
  if (tokens.length !== 1) {
    const shown = tokens.length === 0 ? 'no tokens' : `${tokens.length} tokens: ${tokens.map((t) => JSON.stringify(t.text)).join(' + ')}`;
    throw new CliUsageError(`${flag} ${JSON.stringify(text)} is ${shown}; it must be exactly one token (GPT-2 tokens usually start with a space, e.g. " Mary")`);
  }
  return tokens[0].id;
}

/** "1.0,0.3" → heads (layer.head). */
export function parseHeads(text: string, flag: string): HeadRef[] {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+)\.(\d+)\s*$/.exec(part);
    if (!m) throw new CliUsageError(`${flag}: '${part}' is not a head; write layer.head, e.g. 1.0`);
    return { layer: Number(m[1]), head: Number(m[2]) };
  });
}

function parseTargets(text: string): PatchTarget[] {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const t of list) {
    if (!(PATCH_TARGETS as readonly string[]).includes(t)) throw new CliUsageError(`--what: '${t}' is not one of ${PATCH_TARGETS.join(', ')}`);
  }
  if (list.length === 0) throw new CliUsageError('--what needs at least one of ' + PATCH_TARGETS.join(', '));
  return [...new Set(list)] as PatchTarget[];
}

function grid(values: Float64Array, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from(values.subarray(r * cols, (r + 1) * cols), (v) => Number(v.toPrecision(8))));
}

function sideBySide(a: readonly TokenInfo[], b: readonly TokenInfo[]): string {
  const n = Math.max(a.length, b.length);
  return formatTable(
    ['pos', 'clean', 'corrupted'],
    Array.from({ length: n }, (_, i) => [String(i), a[i] ? showToken(a[i].text, 24) : '', b[i] ? showToken(b[i].text, 24) : '']),
    [true],
  );
}

/** The readable report: baselines, then each sweep's normalised scores (or raw values). */
export function patchTables(j: PatchJson): string {
  const out: string[] = [];
  out.push(`${j.model} · ${j.clean.tokens.length} tokens · metric: logit(${showToken(j.metric.answer.token)}) − logit(${showToken(j.metric.wrong.token)}) at position ${j.metric.pos}`);
  out.push(`clean ${j.clean_metric.toFixed(4)} · corrupted ${j.corrupted_metric.toFixed(4)}`);
  if (j.message) out.push(j.message);
  for (const s of j.sweeps) {
    const cells = s.scores ?? s.values;
    out.push('', `${s.what}: ${s.scores ? 'normalised score (1 = clean restored)' : 'metric'} · ${s.ms} ms`);
    out.push(formatTable(['', ...s.col_labels], cells.map((row, r) => [s.row_labels[r], ...row.map((v) => v.toFixed(2))]), [false, ...s.col_labels.map(() => true)]));
  }
  return out.join('\n');
}
