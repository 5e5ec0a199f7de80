/** Token chips of the trace panel: one per position, BOS and partial tokens told apart. */
import type { TokenPayload } from '../protocol/webview';
import { visibleToken } from './format';

export interface TokenChip {
  readonly pos: number;
  readonly id: number;
  /** What the chip shows (whitespace made visible; BOS as "BOS"). */
  readonly label: string;
  /** Tooltip: position, id, raw text, notes. */
  readonly title: string;
  readonly bos: boolean;
  readonly special: boolean;
  readonly partial: boolean;
}

export function tokenChips(tokens: readonly TokenPayload[]): TokenChip[] {
  return tokens.map((t, pos) => {
    const bos = pos === 0 && t.special;
    const notes: string[] = [];
    if (bos) notes.push('beginning of sequence');
    else if (t.special) notes.push('special token');
    if (t.partial) notes.push('part of a multi-byte character');
    const label = bos ? 'BOS' : visibleToken(t.text) || '\u2205';
    const title = `pos ${pos} · id ${t.id} · ${JSON.stringify(t.text)}${notes.length ? ` · ${notes.join(', ')}` : ''}`;
    return { pos, id: t.id, label, title, bos, special: t.special, partial: t.partial };
  });
}
