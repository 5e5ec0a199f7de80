/**
 * `residual-lens tokenize --text <text> [--json] [--special] [--no-bos]`: GPT-2 tokens with their
 * ranges in the text. `--text -` reads the text from stdin.
 */
import * as fs from 'node:fs';
import { CliUsageError, parseCliArgs, type CliCommand } from './args';
import { tokenize } from '../engine/tokenizer';
import type { TokenInfo } from '../engine/types';

/** JSON of `tokenize --json` (schema 1, docs/cli-json.md). */
export interface TokenizeJson {
  readonly schema: 1;
  readonly text: string;
  readonly prepend_bos: boolean;
  readonly allow_special: boolean;
  readonly tokens: { id: number; text: string; start: number; end: number; partial: boolean; special: boolean }[];
}

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, {
      text: { type: 'string' },
      json: { type: 'boolean', default: false },
      special: { type: 'boolean', default: false },
      'no-bos': { type: 'boolean', default: false },
    });
    const text = readTextOption(values.text);
    const prependBos = !values['no-bos'];
    const { tokens } = tokenize(text, { prependBos, allowSpecial: values.special });
    if (values.json) {
      const out: TokenizeJson = { schema: 1, text, prepend_bos: prependBos, allow_special: values.special, tokens: tokens.map(tokenRecord) };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      process.stdout.write(`${tokens.length} tokens\n\n${tokenTable(tokens)}\n`);
    }
    return 0;
  },
};

/** The --text value; "-" reads stdin. */
export function readTextOption(text: string | undefined): string {
  if (text === undefined) throw new CliUsageError('--text is required (use --text - to read stdin)');
  return text === '-' ? fs.readFileSync(0, 'utf8') : text;
}

function tokenRecord(t: TokenInfo): TokenizeJson['tokens'][number] {
  return { id: t.id, text: t.text, start: t.start, end: t.end, partial: t.partial, special: t.special };
}

/** pos | id | range | text | flags */
export function tokenTable(tokens: readonly TokenInfo[]): string {
  return formatTable(
    ['pos', 'id', 'range', 'text', ''],
    tokens.map((t, i) => [String(i), String(t.id), `${t.start}-${t.end}`, showToken(t.text, 40), [t.special ? 'special' : '', t.partial ? 'partial' : ''].filter(Boolean).join(' ')]),
    [true, true, true, false, false],
  );
}

/** A token's text quoted with escapes, so spaces and newlines are visible; long ones are cut. */
export function showToken(text: string, max = 14): string {
  const quoted = JSON.stringify(text);
  return quoted.length <= max ? quoted : `${quoted.slice(0, max - 2)}…"`;
}

/** Aligned columns separated by two spaces; `right[i]` right-aligns column i. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => {
        const pad = ' '.repeat(Math.max(0, widths[i] - [...c].length));
        return right[i] ? pad + c : c + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
