/** The logit lens table (rows = layers, columns = positions) and its CSV / Markdown exports. */
import type { LensPayload, TokenPayload } from '../protocol/webview';
import { formatProb, formatRank, lensRowLabel, visibleToken, type VocabLookup } from './format';

export interface LensCell {
  readonly pos: number;
  readonly top1Id: number;
  readonly top1Text: string;
  readonly prob: number;
  /** The top-1 is the token that actually comes next. */
  readonly isNext: boolean;
  /** Rank of the actual next token in this cell (0 = top-1); -1 at the last position. */
  readonly nextRank: number;
  /** Tooltip: the top-k with probabilities. */
  readonly title: string;
}

export interface LensRow {
  readonly layer: number;
  readonly label: string;
  readonly cells: readonly LensCell[];
}

export interface LensRankCell {
  readonly pos: number;
  /** Rank of the next token at the final row, -1 when there is no next token. */
  readonly finalRank: number;
  /** "#1" style text; "–" at the last position. */
  readonly text: string;
  /** The rank at every row, counting from 1, e.g. "0_pre #812 · 1_pre #3 · final_post #1". */
  readonly title: string;
}

export interface LensTableView {
  readonly columns: readonly { readonly pos: number; readonly label: string }[];
  readonly rows: readonly LensRow[];
  readonly rank: readonly LensRankCell[];
}

function rankText(rank: number): string {
  return formatRank(rank);
}

export function lensTableView(lens: LensPayload, tokens: readonly TokenPayload[], decode: VocabLookup, nLayer: number): LensTableView {
  const { rows, positions: T, k } = lens;
  if (tokens.length !== T) throw new RangeError(`the lens has ${T} positions but the trace has ${tokens.length} tokens`);
  const columns = tokens.map((t, pos) => ({ pos, label: pos === 0 && t.special ? 'BOS' : visibleToken(t.text) }));
  const out: LensRow[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: LensCell[] = [];
    for (let pos = 0; pos < T; pos++) {
      const base = (r * T + pos) * k;
      const top1Id = lens.ids[base];
      const next = pos + 1 < T ? tokens[pos + 1].id : -1;
      const lines: string[] = [];
      for (let j = 0; j < k; j++) lines.push(`${visibleToken(decode(lens.ids[base + j]))}  ${formatProb(lens.probs[base + j])}`);
      cells.push({
        pos,
        top1Id,
        top1Text: visibleToken(decode(top1Id)),
        prob: lens.probs[base],
        isNext: top1Id === next,
        nextRank: lens.nextTokenRank[r * T + pos],
        title: `${lensRowLabel(r, nLayer)} · pos ${pos}\n${lines.join('\n')}`,
      });
    }
    out.push({ layer: r, label: lensRowLabel(r, nLayer), cells });
  }
  const rank: LensRankCell[] = [];
  for (let pos = 0; pos < T; pos++) {
    const finalRank = lens.nextTokenRank[(rows - 1) * T + pos];
    const parts: string[] = [];
    for (let r = 0; r < rows; r++) parts.push(`${lensRowLabel(r, nLayer)} ${rankText(lens.nextTokenRank[r * T + pos])}`);
    rank.push({ pos, finalRank, text: rankText(finalRank), title: finalRank < 0 ? 'no next token' : `rank of the next token: ${parts.join(' · ')}` });
  }
  return { columns, rows: out, rank };
}

/** RFC 4180 field quoting. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Long-format CSV, one line per cell, ready for pandas / a spreadsheet:
 * layer,pos,token,next_token,top1,prob,top1_is_next,next_rank
 * (token texts raw, not made visible; next_rank 0 = top-1, empty at the last position).
 */
export function lensCsv(view: LensTableView, tokens: readonly TokenPayload[]): string {
  const lines = ['layer,pos,token,next_token,top1,prob,top1_is_next,next_rank'];
  for (const row of view.rows) {
    for (const c of row.cells) {
      const next = c.pos + 1 < tokens.length ? tokens[c.pos + 1].text : '';
      lines.push([row.label, String(c.pos), csvField(tokens[c.pos].text), csvField(next), csvField(c.top1Text), c.prob.toFixed(6), c.isNext ? '1' : '0', c.nextRank < 0 ? '' : String(c.nextRank)].join(','));
    }
  }
  return lines.join('\n') + '\n';
}

/** Markdown cell text: pipes and backslashes escaped, backticks kept out of code spans. */
function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}

/** The table as the panel shows it: header = tokens, one row per layer, cells "top1 (p)", ✓ when it is the next token, then the rank row. */
export function lensMarkdown(view: LensTableView): string {
  const header = ['layer', ...view.columns.map((c) => mdCell(c.label))];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const row of view.rows) {
    const cells = row.cells.map((c) => `${mdCell(c.top1Text)} (${formatProb(c.prob)})${c.isNext ? ' \u2713' : ''}`);
    lines.push(`| ${row.label} | ${cells.join(' | ')} |`);
  }
  lines.push(`| next-token rank | ${view.rank.map((r) => r.text).join(' | ')} |`);
  return lines.join('\n') + '\n';
}
