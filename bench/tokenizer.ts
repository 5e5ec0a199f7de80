/**
 * Tokenizer figures: the first call (it builds the vocabulary's tables) and the JS heap it leaves,
 * tokenizing a mixed 128k-character text whole (prose, code, several scripts, emoji), and counting a
 * 1 MB selection with maxTokens = n_ctx + 1 (what the extension does before a trace, in the worker)
 * for prose, one 1 MB word and a 1 MB run of spaces.
 * Runs alone: `node --expose-gc --import tsx bench/tokenizer.ts` (JSON on stdout; without
 * --expose-gc the heap figure includes garbage not yet collected).
 */
import * as v8 from 'node:v8';
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

/** ~128k characters: English prose, TypeScript, German, Japanese, Russian, emoji. */
function mixedText(): string {
  const parts = [
    'The residual stream is a shared workspace that every layer reads from and writes to. ',
    'const logits = heads.map((h) => h.output.reduce((a, b) => a + b, 0)); // sum each head\n',
    'Über die Brücke gingen zwölf Männer, während es regnete. ',
    '日本語のテキストをトークンに分割します。',
    'Остаточный поток — это общее рабочее пространство. ',
    '😀🚀✨ ',
  ];
  let text = '';
  for (let i = 0; text.length < 128_000; i++) text += parts[(i * 7 + (i >> 2)) % parts.length];
  return text;
}

export function benchTokenizer(): Record<string, unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = v8.getHeapStatistics().used_heap_size;
  const t0 = performance.now();
  tokenize('warm up: builds the BPE tables once');
  const firstCallMs = Math.round((performance.now() - t0) * 10) / 10;
  gc?.();
  const heapAddedMiB = Math.round(((v8.getHeapStatistics().used_heap_size - heapBefore) / 2 ** 20) * 10) / 10;
  const mixed = mixedText();
  const wholeMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t1 = performance.now();
    tokenize(mixed);
    wholeMs.push(performance.now() - t1);
  }
  const sentence = 'The residual stream is a shared workspace that every layer reads from and writes to. ';
  const prose = sentence.repeat(Math.ceil(MB / sentence.length)).slice(0, MB);
  return {
    what: `count tokens of a 1 MB text with maxTokens ${MAX_TOKENS} (median of 5)`,
    firstCallMs,
    heapAddedByFirstCallMiB: heapAddedMiB,
    heapMeasuredAfterGc: gc !== undefined,
    mixed128kCharsWholeMs: Math.round(median(wholeMs) * 10) / 10,
    proseMs: timeCount(prose),
    oneWordMs: timeCount('a'.repeat(MB)),
    spacesMs: timeCount(' '.repeat(MB)),
  };
}

if (require.main === module) process.stdout.write(`${JSON.stringify(benchTokenizer(), null, 2)}\n`);
