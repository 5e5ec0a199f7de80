/**
 * Tokenizer figures: counting a 1 MB selection with maxTokens = n_ctx + 1 (what the extension does
 * before a trace, in the worker) for prose, one 1 MB word and a 1 MB run of spaces.
 * Runs alone: `node --import tsx bench/tokenizer.ts` (JSON on stdout).
 */
import { performance } from 'node:perf_hooks';
import { tokenize } from '../src/engine/tokenizer';

const MAX_TOKENS = 1025;
const MB = 1 << 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

function timeCount(text: string, reps = 5): number {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = tokenize(text, { maxTokens: MAX_TOKENS });
    ms.push(performance.now() - t0);
    if (!r.exceeded) throw new Error('a 1 MB text should exceed 1025 tokens');
  }
  return Math.round(median(ms) * 10) / 10;
}

export function benchTokenizer(): Record<string, unknown> {
  const t0 = performance.now();
  tokenize('warm up: builds the BPE tables once');
  const firstCallMs = Math.round((performance.now() - t0) * 10) / 10;
  const sentence = 'The residual stream is a shared workspace that every layer reads from and writes to. ';
  const prose = sentence.repeat(Math.ceil(MB / sentence.length)).slice(0, MB);
  return {
    what: `count tokens of a 1 MB text with maxTokens ${MAX_TOKENS} (median of 5)`,
    firstCallMs,
    proseMs: timeCount(prose),
    oneWordMs: timeCount('a'.repeat(MB)),
    spacesMs: timeCount(' '.repeat(MB)),
  };
}

if (require.main === module) process.stdout.write(`${JSON.stringify(benchTokenizer(), null, 2)}\n`);
