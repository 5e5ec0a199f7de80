/**
 * The patching view's pure parts: patching maps (metric of every patched run) → heatmap cells as
 * normalised scores, the cells that matter most, CSV export, the side-by-side tokenizations shown
 * when the two prompts differ in length, and the check that a typed answer is exactly one token.
 *
 * Normalised score, as in TransformerLens's IOI demo: (patched − corrupted) / (clean − corrupted):
 * 0 = patching this activation from the clean run changed nothing, 1 = it restored the clean
 * metric. Patching runs the corrupted prompt with one clean activation written in.
 */
import type { HeadRef } from '../protocol/patching';
import { PATCH_MAP_KINDS, type PatchMapKind } from '../protocol/patchingView';
import type { TokenPayload } from '../protocol/webview';
import { csvField } from './lens';
import { formatSigned, headName, MINUS, visibleToken } from './format';

export { PATCH_MAP_KINDS, type PatchMapKind };

export const PATCH_MAP_TITLES: Readonly<Record<PatchMapKind, string>> = {
  resid_pre: 'Residual stream (resid_pre)',
  attn_out: 'Attention output (attn_out)',
  mlp_out: 'MLP output (mlp_out)',
  heads: 'Head outputs, all positions (hook_z)',
  heads_by_pos: 'Head outputs by position (hook_z)',
  patterns: 'Attention patterns (hook_pattern)',
};

/** [rows, cols] of a map; heads_by_pos has one row per chosen head. */
export function patchMapShape(kind: PatchMapKind, nLayer: number, nHead: number, positions: number, heads: readonly HeadRef[] = []): { rows: number; cols: number } {
  switch (kind) {
    case 'heads':
    case 'patterns':
      return { rows: nLayer, cols: nHead };
    case 'heads_by_pos':
      return { rows: heads.length, cols: positions };
    default:
      return { rows: nLayer, cols: positions };
  }
}

/** Relative size under which clean and corrupted count as the same metric (a normalised score would divide by ~0). */
const SAME_METRIC_RELATIVE = 1e-6;

/** How a map's cells are scored: normalised when clean and corrupted differ, else the raw change from corrupted. */
export interface PatchScale {
  readonly kind: 'normalised' | 'difference';
  /** Shown above the maps when the scale is 'difference' or a metric is not a number. */
  readonly note?: string;
}

export function patchScale(clean: number, corrupted: number): PatchScale {
  if (!Number.isFinite(clean) || !Number.isFinite(corrupted)) {
    return { kind: 'difference', note: `The clean or corrupted metric is not a finite number (clean ${clean}, corrupted ${corrupted}); cells show nothing.` };
  }
  const gap = clean - corrupted;
  if (Math.abs(gap) <= SAME_METRIC_RELATIVE * Math.max(1, Math.abs(clean), Math.abs(corrupted))) {
    return {
      kind: 'difference',
      note: `Clean and corrupted give the same metric (${formatSigned(clean, 3)}): there is no gap to restore, so cells show patched − corrupted instead of a normalised score.`,
    };
  }
  return { kind: 'normalised' };
}

/** (patched − corrupted) / (clean − corrupted), or patched − corrupted on the 'difference' scale; NaN stays NaN (not computed yet). */
export function patchScore(patched: number, clean: number, corrupted: number, scale: PatchScale = patchScale(clean, corrupted)): number {
  if (!Number.isFinite(patched) || !Number.isFinite(corrupted)) return NaN;
  return scale.kind === 'normalised' ? (patched - corrupted) / (clean - corrupted) : patched - corrupted;
}

/**
 * One patching map as the host holds it and streams it: the metric of each patched run, row by
 * row as the sweep completes them.
 */
export interface PatchLayout {
  readonly kind: PatchMapKind;
  readonly rows: number;
  readonly cols: number;
  /** heads_by_pos: the head of each row. */
  readonly heads?: readonly HeadRef[];
}

export interface PatchMap extends PatchLayout {
  /** [rows, cols] patched metric; NaN where the run has not completed. */
  readonly metric: Float32Array;
}

/** Heatmap cells of a map: scores on the map's scale, NaN for cells still to come (drawn as the background). */
export function patchCells(map: PatchMap, clean: number, corrupted: number): Float32Array {
  const scale = patchScale(clean, corrupted);
  const out = new Float32Array(map.metric.length);
  for (let i = 0; i < out.length; i++) out[i] = patchScore(map.metric[i], clean, corrupted, scale);
  return out;
}

/** Rows with every cell computed (the progress of a streamed map). */
export function completedRows(map: PatchMap): number {
  let n = 0;
  for (let r = 0; r < map.rows; r++) {
    let done = true;
    for (let c = 0; c < map.cols && done; c++) done = !Number.isNaN(map.metric[r * map.cols + c]);
    if (done) n++;
  }
  return n;
}

/** Row and column labels: layers ("L3"), heads ("L3H1" rows / "H1" columns), positions ("3 ·the"). */
export function patchLabels(map: PatchLayout, nLayer: number, nHead: number, tokens: readonly TokenPayload[]): { rows: string[]; cols: string[] } {
  const layers = Array.from({ length: nLayer }, (_, l) => `L${l}`);
  const positions = tokens.map((t, pos) => `${pos} ${pos === 0 && t.special ? 'BOS' : visibleToken(t.text)}`);
  switch (map.kind) {
    case 'heads':
    case 'patterns':
      return { rows: layers, cols: Array.from({ length: nHead }, (_, h) => `H${h}`) };
    case 'heads_by_pos':
      return { rows: (map.heads ?? []).map((h) => headName(h.layer, h.head)), cols: positions };
    default:
      return { rows: layers, cols: positions };
  }
}

/** Where a cell sits: layer always, head for head maps, pos for position maps. */
export interface PatchCellRef {
  readonly layer: number;
  readonly head?: number;
  readonly pos?: number;
}

export function patchCellRef(map: PatchLayout, row: number, col: number): PatchCellRef {
  switch (map.kind) {
    case 'heads':
    case 'patterns':
      return { layer: row, head: col };
    case 'heads_by_pos': {
      const h = map.heads?.[row] ?? { layer: 0, head: 0 };
      return { layer: h.layer, head: h.head, pos: col };
    }
    default:
      return { layer: row, pos: col };
  }
}

/** A cell's short name: "L1 pos 7", "L1H0", "L1H0 pos 7". */
export function patchCellName(ref: PatchCellRef): string {
  const head = ref.head === undefined ? `L${ref.layer}` : headName(ref.layer, ref.head);
  return ref.pos === undefined ? head : `${head} pos ${ref.pos}`;
}

export interface RankedCell {
  readonly row: number;
  readonly col: number;
  readonly ref: PatchCellRef;
  readonly name: string;
  readonly score: number;
}

/** The `n` computed cells with the largest scores, best first (ties: earlier cell first). */
export function topPatchCells(map: PatchLayout, cells: Float32Array, n: number): RankedCell[] {
  const cols = map.cols;
  const idx: number[] = [];
  for (let i = 0; i < cells.length; i++) if (Number.isFinite(cells[i])) idx.push(i);
  idx.sort((a, b) => cells[b] - cells[a] || a - b);
  return idx.slice(0, n).map((i) => {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const ref = patchCellRef(map, row, col);
    return { row, col, ref, name: patchCellName(ref), score: cells[i] };
  });
}

/** A cell's score as shown: three decimals, a real minus, no "−0.000". */
export function formatScore(score: number, scale: PatchScale): string {
  if (scale.kind === 'difference') return formatSigned(score, 3);
  const text = Math.abs(score).toFixed(3);
  return score < 0 && Number(text) !== 0 ? `${MINUS}${text}` : text;
}

/** Tooltip / aria text of one cell. */
export function describePatchCell(ref: PatchCellRef, tokens: readonly TokenPayload[], score: number, scale: PatchScale): string {
  const at = ref.pos === undefined ? '' : ` · ${JSON.stringify(tokens[ref.pos]?.text ?? '')}`;
  if (!Number.isFinite(score)) return `${patchCellName(ref)}${at}: not computed yet`;
  const value = scale.kind === 'normalised' ? `score ${formatScore(score, scale)}` : `patched − corrupted ${formatScore(score, scale)}`;
  return `${patchCellName(ref)}${at}: ${value}`;
}

/**
 * Long-format CSV of every map, one line per cell, for pandas / a spreadsheet:
 * map,layer,head,pos,token,patched_metric,normalised_score
 * (head / pos / token empty where the map has none; normalised_score empty when clean and
 * corrupted give the same metric; cells not computed are left out).
 */
export function patchingCsv(maps: readonly PatchMap[], tokens: readonly TokenPayload[], clean: number, corrupted: number): string {
  const scale = patchScale(clean, corrupted);
  const lines = ['map,layer,head,pos,token,patched_metric,normalised_score'];
  for (const map of maps) {
    for (let r = 0; r < map.rows; r++) {
      for (let c = 0; c < map.cols; c++) {
        const m = map.metric[r * map.cols + c];
        if (!Number.isFinite(m)) continue;
        const ref = patchCellRef(map, r, c);
        const token = ref.pos === undefined ? '' : csvField(tokens[ref.pos]?.text ?? '');
        const score = scale.kind === 'normalised' ? patchScore(m, clean, corrupted, scale).toFixed(6) : '';
        lines.push([map.kind, String(ref.layer), ref.head === undefined ? '' : String(ref.head), ref.pos === undefined ? '' : String(ref.pos), token, m.toFixed(6), score].join(','));
      }
    }
  }
  return lines.join('\n') + '\n';
}

/** One row of the side-by-side tokenizations: a position, the token of each prompt there (if any). */
export interface TokenPairRow {
  readonly pos: number;
  readonly clean?: string;
  readonly corrupted?: string;
  readonly differs: boolean;
}

export interface TokenComparison {
  readonly sameLength: boolean;
  /** One line for the user: what differs and what follows from it. */
  readonly message: string;
  readonly rows: readonly TokenPairRow[];
  /** Positions whose tokens differ (both prompts have a token there). */
  readonly differing: readonly number[];
}

const tokenLabel = (t: TokenPayload, pos: number): string => (pos === 0 && t.special ? 'BOS' : visibleToken(t.text) || '\u2205');

/**
 * The two tokenizations side by side. Position-wise patching copies an activation from the same
 * position of the other run, so it needs equal token counts; the alignment-free analyses (each
 * run's metric, top-k and attribution) do not.
 */
export function compareTokenizations(clean: readonly TokenPayload[], corrupted: readonly TokenPayload[]): TokenComparison {
  const n = Math.max(clean.length, corrupted.length);
  const rows: TokenPairRow[] = [];
  const differing: number[] = [];
  for (let pos = 0; pos < n; pos++) {
    const a = clean[pos];
    const b = corrupted[pos];
    const differs = !a || !b || a.id !== b.id;
    if (a && b && a.id !== b.id) differing.push(pos);
    rows.push({ pos, clean: a && tokenLabel(a, pos), corrupted: b && tokenLabel(b, pos), differs });
  }
  const sameLength = clean.length === corrupted.length;
  let message: string;
  if (!sameLength) {
    message = `The clean prompt is ${clean.length} tokens and the corrupted one ${corrupted.length}: position-wise patching needs the same number of tokens. Change a prompt so they line up, or compare the two runs without patching.`;
  } else if (differing.length === 0) {
    message = `The two prompts are the same ${clean.length} tokens: patching one into the other changes nothing.`;
  } else {
    message = `${clean.length} tokens each; they differ at position${differing.length > 1 ? 's' : ''} ${differing.join(', ')}.`;
  }
  return { sameLength, message, rows, differing };
}

/** An answer token typed by the user, after tokenizing it (without BOS). */
export type AnswerCheck = { readonly ok: true; readonly id: number; readonly text: string } | { readonly ok: false; readonly message: string };

/**
 * A typed answer must be exactly one token: a metric reads one logit. Several tokens get a message
 * showing them ("" Mary Ann" is 2 tokens: ·Mary | ·Ann"), so the user sees what to type instead.
 */
export function checkAnswerToken(typed: string, tokens: readonly Pick<TokenPayload, 'id' | 'text'>[]): AnswerCheck {
  if (tokens.length === 1) return { ok: true, id: tokens[0].id, text: tokens[0].text };
  if (tokens.length === 0) return { ok: false, message: 'The answer is empty: type one token, e.g. " Mary" (GPT-2 tokens usually start with a space).' };
  const parts = tokens.map((t) => visibleToken(t.text)).join(' | ');
  const hint = typed.startsWith(' ') ? '' : ' GPT-2 words mid-sentence start with a space.';
  return { ok: false, message: `${JSON.stringify(typed)} is ${tokens.length} tokens (${parts}); an answer must be one token: pick one of them.${hint}` };
}

/** The correct and wrong answers must differ, or the logit difference is 0 for every run. */
export function answerPairProblem(correct: number, wrong: number): string | undefined {
  return correct === wrong ? 'The correct and wrong answers are the same token: the logit difference would be 0 for every run. Pick two different tokens.' : undefined;
}
