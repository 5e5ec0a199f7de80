/**
 * `residual-lens trace --model <folder|name> --text <text> [--json] [--no-bos] [--k N] [--dir DIR] [--execution-provider cpu|webgpu|auto]`:
 * one forward pass with the engine in-process, printed as readable tables or as the JSON of
 * docs/cli-json.md (schema 1).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliUsageError, parseCliArgs, quoteArg, type CliCommand } from './args';
import { cliEngine, EXECUTION_PROVIDER_OPTION, loadForCli } from './engineOption';
import { formatTable, readTextOption, showToken, tokenTable } from './tokenize';
import type { TraceJson } from './traceJson';
import { buildTraceJson } from '../engine/traceExport';
import { MAX_CONFIG_BYTES, parseConfig } from '../engine/checkpoint';
import { BLANK_TEXT_MESSAGE, hasVisibleText } from '../engine/textRules';
import { decodeToken, tokenize } from '../engine/tokenizer';
import { formatFixed, formatProb, formatRank, lensRowLabel } from '../viewModels/format';

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, {
      model: { type: 'string', default: 'demo' },
      text: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-bos': { type: 'boolean', default: false },
      k: { type: 'string', default: '10' },
      dir: { type: 'string' },
      ...EXECUTION_PROVIDER_OPTION,
    });
    const text = readTextOption(values.text);
    const k = Number(values.k);
    if (!Number.isInteger(k) || k < 1 || k > 1000) throw new CliUsageError(`--k must be a whole number from 1 to 1000, got ${quoteArg(values.k)}`);
    const cacheDir = cacheDirectory(values.dir);
    const model = await resolveModelArg(values.model, cacheDir);
    const prependBos = !values['no-bos'];
    refuseUntraceableText(text, model, prependBos);

    const engine = cliEngine(values['execution-provider']);
    try {
      await loadForCli(engine, model.folder, model.name, cacheDir);
      const json = await buildTraceJson(engine, { text, options: { prependBos, topK: k } });
      process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${traceTables(json)}\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

/**
 * The engine's own checks on the text (nothing visible; more than n_ctx tokens), made before the
 * engine or onnxruntime is loaded, so an over-long --text costs a tokenizer pass that stops at
 * n_ctx + 1 tokens and nothing else. Same messages as the engine's, less the editor's advice.
 * A folder whose config.json cannot be read is left to the engine, which names the problem.
 */
export function refuseUntraceableText(text: string, model: { folder: string; name: string }, prependBos: boolean): void {
  if (!hasVisibleText(text)) throw new Error(BLANK_TEXT_MESSAGE);
  let nCtx: number;
  try {
    const configPath = path.join(model.folder, 'config.json');
    if (fs.statSync(configPath).size > MAX_CONFIG_BYTES) return;
    nCtx = parseConfig(configPath, fs.readFileSync(configPath)).nCtx;
  } catch {
    return;
  }
  const counted = tokenize(text, { prependBos, maxTokens: nCtx + 1 });
  if (counted.exceeded || counted.tokens.length > nCtx) {
    throw new Error(`The text has more than ${nCtx} tokens; ${model.name} accepts at most ${nCtx} (BOS included).`);
  }
}

/** --dir, else $RESIDUAL_LENS_CACHE, else ~/.cache/residual-lens. */
export function cacheDirectory(dir: string | undefined): string {
  return path.resolve(dir || process.env.RESIDUAL_LENS_CACHE || path.join(os.homedir(), '.cache', 'residual-lens'));
}

/** The repository / extension root: the nearest folder above this file with a package.json (dist/ or src/cli/). */
export function extensionRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(__dirname, '..');
    dir = parent;
  }
  return dir;
}

/** A folder (absolute or relative to the working directory), a model name ("demo", "gpt2", …) or a hub id in the Hugging Face cache. */
export async function resolveModelArg(arg: string, cacheDir: string): Promise<{ folder: string; name: string }> {
  const { isHubId } = await import('../models/hfCache');
  // "org/name" is a hub id (looked up in the Hugging Face cache) unless such a folder exists here.
  const looksLikePath = fs.existsSync(arg) || (!isHubId(arg) && (arg.includes('/') || arg.includes('\\') || arg.startsWith('.')));
  // A folder is loaded as given (the engine names the file and the problem if it is not a checkpoint).
  if (looksLikePath) return { folder: path.resolve(arg), name: path.basename(path.resolve(arg)) };
  const { resolveModel } = await import('../models/registry');
  const r = resolveModel(arg, { extensionRoot: extensionRoot(), cacheDir });
  if (r.kind === 'ready') return { folder: r.folder, name: r.name };
  if (r.kind === 'not-downloaded') throw new Error(`model '${r.entry.name}' is not downloaded yet; run: residual-lens download ${r.entry.name}`);
  throw new Error(r.message);
}

/** The readable (non-JSON) report. */
export function traceTables(j: TraceJson): string {
  const T = j.tokens.length;
  const L = j.model.n_layer;
  const out: string[] = [];
  out.push(`${j.model.name} (${j.model.dtype}, ${L} layers × ${j.model.n_head} heads, d_model ${j.model.d_model}) · ${T} tokens · forward ${j.forward_ms.toFixed(1)} ms`);
  for (const note of j.model.notes) out.push(`Note: ${note}`);
  out.push('', 'Tokens', tokenTable(j.tokens.map((t) => ({ ...t }))));

  const shown = Math.min(3, j.k);
  out.push('', `Top ${shown} next-token predictions`);
  out.push(
    formatTable(
      ['pos', 'token', ...Array.from({ length: shown }, (_, i) => `#${i + 1}`)],
      j.logits_top.map((row, t) => [String(t), showToken(j.tokens[t].text), ...row.slice(0, shown).map((p) => `${showToken(p.token)} ${pct(p.prob)}`)]),
      [true],
    ),
  );

  const rowName = (r: number): string => lensRowLabel(r, L);
  out.push('', 'Logit lens: top-1 token and probability (rows: TransformerLens accumulated_resid labels, n_pre = blocks.n.hook_resid_pre; columns: positions)');
  out.push(
    formatTable(
      ['', ...j.tokens.map((_, t) => String(t))],
      j.logit_lens.map((layer, r) => [rowName(r), ...layer.map((cell) => `${showToken(cell[0].token, 10)} ${pct(cell[0].prob)}`)]),
    ),
  );
  out.push('', 'Rank of the actual next token (#1 = top-1; the JSON\'s next_token_rank counts from 0)');
  out.push(
    formatTable(
      ['', ...j.tokens.map((_, t) => String(t))],
      j.next_token_rank.map((row, r) => [rowName(r), ...row.map((v) => formatRank(v))]),
      [false, ...j.tokens.map(() => true)],
    ),
  );
  out.push('', 'Residual norm');
  out.push(
    formatTable(
      ['', ...j.tokens.map((_, t) => String(t))],
      j.resid_norms.map((row, r) => [rowName(r), ...row.map((v) => v.toFixed(2))]),
      [false, ...j.tokens.map(() => true)],
    ),
  );
  const comps = [...j.dla.components].sort((a, b) => Math.abs(b.value) - Math.abs(a.value)).slice(0, 12);
  out.push('', `Direct logit attribution at position ${j.dla.pos} to ${showToken(decodeToken(j.dla.token.id), 30)} (logit ${formatFixed(j.dla.logit, 3)}, ln_final bias ${formatFixed(j.dla.ln_bias_term, 3)}); top ${comps.length} by |value|`);
  out.push(formatTable(['component', 'value'], comps.map((c) => [c.name, formatFixed(c.value, 4)]), [false, true]));
  out.push('', 'Attention patterns: use --json (attention[layer][head][query][key]).');
  return out.join('\n');
}

function pct(p: number): string {
  return formatProb(p);
}
