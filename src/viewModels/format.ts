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

/** Probability as a short percentage: `42%`, `3.1%`, `<0.1%`. */
export function formatProb(p: number): string {
  const pct = p * 100;
  if (pct >= 10) return `${pct.toFixed(0)}%`;
  if (pct >= 0.1) return `${pct.toFixed(1)}%`;
  return '<0.1%';
}

/** Makes whitespace and control characters visible so a token like " the" or "\n" can be read. */
export function visibleToken(text: string): string {
  let out = '';
  for (const ch of text) {
    if (ch === ' ') out += '\u00b7'; // ·
    else if (ch === '\n') out += '\u21b5'; // ↵
    else if (ch === '\r') out += '\u240d'; // ␍
    else if (ch === '\t') out += '\u2192'; // →
    else {
      const code = ch.codePointAt(0) ?? 0;
      out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
    }
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

/** Label of lens row r of L+1: resid_pre of block r, the last one the final residual. */
export function lensRowLabel(row: number, nLayer: number): string {
  return row >= nLayer ? 'final' : `L${row}`;
}

export type VocabLookup = (id: number) => string;

/** A lookup over the id → text entries a payload carries; unknown ids show as `#id`. */
export function vocabLookup(...entries: readonly VocabEntries[]): VocabLookup {
  const map = new Map<number, string>();
  for (const list of entries) for (const [id, text] of list) map.set(id, text);
  return (id) => map.get(id) ?? `#${id}`;
}
