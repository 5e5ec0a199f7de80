/**
 * Text formatting shared by every view: token labels with visible whitespace, signed numbers
 * with a real minus sign, component names as researchers write them ("L9 H6", "MLP 10").
 */
import type { ComponentLabel } from '../engine/types';
import type { VocabEntries } from '../protocol/webview';

/** U+2212, the typographic minus used in numbers shown to the user. */
export const MINUS = '\u2212';

/** `+3.1` / `−1.2`; zero shows as `+0.0`. */
export function formatSigned(value: number, digits = 1): string {
  const text = Math.abs(value).toFixed(digits);
  return value < 0 && Number(text) !== 0 ? `${MINUS}${text}` : `+${text}`;
}

/** A sign and two significant digits, so small values stay readable: "+0.0031", "−1.3". */
export function signedPrecision(value: number, digits = 2): string {
  const text = Math.abs(value).toPrecision(digits);
  return value < 0 && Number(text) !== 0 ? `${MINUS}${text}` : `+${text}`;
}

/** Probability as a short percentage: `42%`, `3.1%`, `<0.1%` (never `0.0%` for a non-zero one), `0%` for exactly 0. */
export function formatProb(p: number): string {
  const pct = p * 100;
  if (p === 0) return '0%';
  if (pct >= 10) return `${pct.toFixed(0)}%`;
  if (pct >= 0.1) return `${pct.toFixed(1)}%`;
  return '<0.1%';
}

/** Characters that show as nothing or as a plain space: other controls, format characters (soft hyphen, zero-width and bidi marks), spaces other than U+0020, line and paragraph separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}]/u;

/**
 * Makes whitespace and invisible characters visible so a token like " the" or "\n" can be read:
 * space ·, newline ↵, CR ␍, tab →; other controls as \x01; the rest (no-break space, zero-width
 * space, soft hyphen, bidi marks: some 60 GPT-2 tokens hold one) as \u00a0, so none is mistaken
 * for a plain space or reorders the text around it.
 */
export function visibleToken(text: string): string {
  let out = '';
  for (const ch of text) {
    if (ch === ' ') out += '\u00b7'; // ·
    else if (ch === '\n') out += '\u21b5'; // ↵
    else if (ch === '\r') out += '\u240d'; // ␍
    else if (ch === '\t') out += '\u2192'; // →
    else if (INVISIBLE.test(ch)) {
      const code = ch.codePointAt(0) ?? 0;
      out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return out;
}

/** Name of a component as the DLA list and the hover show it: "L9 H6", "MLP 10", "L3 attn bias". */
export function componentShortName(c: Pick<ComponentLabel, 'kind' | 'layer' | 'head' | 'name'>): string {
  switch (c.kind) {
    case 'head':
      return `L${c.layer} H${c.head}`;
    case 'mlp':
      return `MLP ${c.layer}`;
    case 'attn_bias':
      return `L${c.layer} attn bias`;
    default:
      return c.name;
  }
}

/** Compact head name used in tables and pair labels: "L0H1". */
export function headName(layer: number, head: number): string {
  return `L${layer}H${head}`;
}

/**
 * Label of lens row r of L+1, TransformerLens's `accumulated_resid` labels: "0_pre" … "{L-1}_pre"
 * (blocks.r.hook_resid_pre), then "final_post" (blocks.{L-1}.hook_resid_post). Panel, side view,
 * hover, exports and the CLI all use these.
 */
export function lensRowLabel(row: number, nLayer: number): string {
  return row >= nLayer ? 'final_post' : `${row}_pre`;
}

/** The hook a lens row reads, for tooltips: "blocks.0.hook_resid_pre". */
export function lensRowHook(row: number, nLayer: number): string {
  return row >= nLayer ? `blocks.${nLayer - 1}.hook_resid_post` : `blocks.${row}.hook_resid_pre`;
}

/**
 * A rank as users read it, counting from 1: "#1" is the top prediction (panel, hover, CLI tables).
 * Machine formats (CLI JSON `next_token_rank`, the lens CSV's `next_rank`) keep 0 = top-1.
 * `rank0` is the 0-based rank; negative or null (no next token) shows as "–".
 */
export function formatRank(rank0: number | null): string {
  return rank0 === null || rank0 < 0 ? '\u2013' : `#${rank0 + 1}`;
}

/**
 * A number with fixed decimals that never reads "-0.0000": values that round to zero lose their
 * sign. ASCII minus (for the CLI's plain text; the panel uses formatSigned).
 */
export function formatFixed(value: number, digits: number): string {
  const text = value.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
}

/**
 * A file size in MiB (2^20 bytes), one decimal: "64.7 MiB". The packaging script uses it, and
 * relabels vsce's own "MB", which is the same 2^20-byte unit (vsce's util.bytesToString).
 */
export function formatMiB(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** vsce's "Packaged: … (N files, 64.66 MB)" with its 2^20-byte "MB" named MiB, as our own lines say it. */
export function vsceSizeInMiB(line: string): string {
  return line.replace(/(\d+(?:\.\d+)?) MB\b/g, '$1 MiB').replace(/(\d+(?:\.\d+)?) KB\b/g, '$1 KiB');
}

export type VocabLookup = (id: number) => string;

/** A lookup over the id → text entries a payload carries; unknown ids show as `#id`. */
export function vocabLookup(...entries: readonly VocabEntries[]): VocabLookup {
  const map = new Map<number, string>();
  for (const list of entries) for (const [id, text] of list) map.set(id, text);
  return (id) => map.get(id) ?? `#${id}`;
}
