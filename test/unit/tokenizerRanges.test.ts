/**
 * Token ranges, partial marks, the maxTokens early stop and the long-piece merge of
 * src/engine/tokenizer.ts.
 *
 * Range convention under test: [start, end) UTF-16 offsets; a partial token covers every character
 * it touches, so consecutive tokens either abut (next.start === prev.end) or are both partial and
 * share exactly the split character. The union is [0, text.length) with no gaps.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ranks from 'js-tiktoken/ranks/gpt2';
import { Tiktoken } from 'js-tiktoken/lite';
import { mergePiece, tokenBytes, tokenize } from '../../src/engine/tokenizer';
import type { TokenInfo } from '../../src/engine/types';
import { Random } from '../helpers/random';

interface CorpusEntry { readonly note: string; readonly text: string }
const corpus: CorpusEntry[] = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/tokenizer/corpus.json'), 'utf8')) as CorpusEntry[];

/** UTF-16 [start, end) of the character containing unit offset i. */
function charAt(text: string, i: number): [number, number] {
  const unit = text.charCodeAt(i);
  if (unit >= 0xdc00 && unit <= 0xdfff && i > 0) {
    const before = text.charCodeAt(i - 1);
    if (before >= 0xd800 && before <= 0xdbff) return [i - 1, i + 1];
  }
  if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
    const after = text.charCodeAt(i + 1);
    if (after >= 0xdc00 && after <= 0xdfff) return [i, i + 2];
  }
  return [i, i + 1];
}

/** Checks every range invariant; returns the number of partial tokens seen. */
function checkRanges(text: string, tokens: readonly TokenInfo[], label: string): number {
  const body = tokens.filter((t) => !(t.special && t.start === 0 && t.end === 0 && t === tokens[0]));
  // Bytes: the tokens' bytes concatenated are the text's UTF-8 (lone surrogates as EF BF BD).
  const joined = Buffer.concat(body.map((t) => tokenBytes(t.id)));
  assert.deepEqual(joined, Buffer.from(new TextEncoder().encode(text)), `${label}: bytes`);
  let cursor = 0;
  let partials = 0;
  for (const [k, t] of body.entries()) {
    assert.ok(t.start < t.end, `${label}: token ${k} has an empty range`);
    if (t.start === cursor) {
      // abutting
    } else {
      const prev = body[k - 1] as TokenInfo;
      assert.ok(t.partial && prev.partial, `${label}: gap or overlap before token ${k} (${prev.end} → ${t.start})`);
      assert.deepEqual(charAt(text, t.start), [t.start, cursor], `${label}: token ${k} overlaps more than the split character`);
    }
    if (t.partial) {
      partials++;
      assert.ok(t.text.includes('\ufffd'), `${label}: partial token ${k} text ${JSON.stringify(t.text)} shows no U+FFFD`);
    } else if (!t.special) {
      // A whole token's text is exactly its slice (lone surrogates read as U+FFFD).
      assert.equal(t.text, text.slice(t.start, t.end).replace(/[\ud800-\udfff]/gu, '\ufffd'), `${label}: token ${k} text`);
    }
    cursor = t.end;
  }
  assert.equal(cursor, text.length, `${label}: ranges end at ${cursor}, text has ${text.length}`);
  return partials;
}

test('corpus: ranges cover the text, bytes join to its UTF-8', () => {
  let partials = 0;
  for (const { note, text } of corpus) {
    partials += checkRanges(text, tokenize(text).tokens, note);
    partials += checkRanges(text, tokenize(text, { allowSpecial: true, prependBos: false }).tokens, `${note} (special)`);
  }
  assert.ok(partials > 20, `saw ${partials} partial tokens`);
});

test('seeded random strings of any code point: ranges cover the text', () => {
  const rng = new Random(7);
  for (let k = 0; k < 300; k++) {
    let text = '';
    const n = rng.int(1, 30);
    for (let i = 0; i < n; i++) {
      const r = rng.uniform();
      if (r < 0.3) text += String.fromCharCode(rng.int(0x20, 0x7f));
      else if (r < 0.4) text += rng.pick([' ', '  ', '\n', '\u0085', '\ufeff', '\u001c']);
      else if (r < 0.8) text += String.fromCodePoint(rng.int(0x80, 0x10ffff)); // includes lone surrogates
      else text += String.fromCodePoint(rng.int(0x1f300, 0x1faff));
    }
    checkRanges(text, tokenize(text).tokens, `random #${k} ${JSON.stringify(text)}`);
  }
});

test('partial tokens: an emoji split in two tokens, both covering it', () => {
  const { tokens } = tokenize('a😀', { prependBos: false });
  assert.deepEqual(
    tokens.map((t) => [t.id, t.start, t.end, t.partial, t.text]),
    [[64, 0, 1, false, 'a'], [47249, 1, 3, true, '\ufffd'], [222, 1, 3, true, '\ufffd']],
  );
  // " 日": the space and the first byte of 日 are one token (it touches both characters), then two more bytes.
  const cjk = tokenize(' 日', { prependBos: false }).tokens;
  assert.deepEqual(cjk.map((t) => [t.start, t.end, t.partial]), [[0, 2, true], [1, 2, true], [1, 2, true]]);
});

test('lone surrogates are read as U+FFFD (EF BF BD)', () => {
  const lone = tokenize('\ud800x', { prependBos: false }).tokens;
  const replaced = tokenize('\ufffdx', { prependBos: false }).tokens;
  assert.deepEqual(lone.map((t) => t.id), replaced.map((t) => t.id));
  assert.deepEqual(lone.map((t) => [t.start, t.end, t.partial]), [[0, 1, false], [1, 2, false]]);
});

test('maxTokens: keeps the first maxTokens (BOS included) and says exceeded', () => {
  const text = 'one two three four five';
  const full = tokenize(text).tokens;
  assert.equal(full.length, 6);
  for (const max of [1, 3, 5, 6, 7]) {
    const r = tokenize(text, { maxTokens: max });
    assert.deepEqual(r.tokens, full.slice(0, max), `maxTokens ${max}`);
    assert.equal(r.exceeded, full.length > max, `maxTokens ${max}`);
  }
  const special = tokenize('a<|endoftext|>', { allowSpecial: true, maxTokens: 2 });
  assert.deepEqual([special.tokens.map((t) => t.id), special.exceeded], [[50256, 64], true]);
});

test('maxTokens on a 1 MB text: same first tokens as a full tokenization of a prefix', () => {
  const prose = 'The quick brown fox jumps over the lazy dog. '.repeat(24000); // ~1 MB
  const r = tokenize(prose, { maxTokens: 1025 });
  assert.equal(r.exceeded, true);
  assert.equal(r.tokens.length, 1025);
  assert.deepEqual(r.tokens, tokenize(prose.slice(0, 20000)).tokens.slice(0, 1025));
});

test('one giant piece under maxTokens: windowed merge equals the full merge', () => {
  // 1 MB of one word: a single pre-token piece. Only a window is merged; compare with a full
  // tokenization of 300 k characters (exact: no window without maxTokens).
  for (const unit of ['a', 'abcdefghij', '-', 'é']) {
    const giant = unit.repeat(Math.ceil(1_000_000 / unit.length));
    const windowed = tokenize(giant, { maxTokens: 1025 });
    const reference = tokenize(giant.slice(0, 300_000)).tokens.slice(0, 1025);
    assert.equal(windowed.exceeded, true, unit);
    assert.deepEqual(windowed.tokens, reference, unit);
  }
});

test('mergePiece equals js-tiktoken on short pieces (every piece that is not one token whole)', () => {
  const tiktoken = new Tiktoken({ ...ranks, pat_str: '[^]+' });
  const rng = new Random(7);
  const words = ['the', 'tion', 'ing', 'pre', 'ab', 'x', 'qu', 'zz', 'é', '日本', '😀', '-', '=', ' ', 'Q', '7', '\n'];
  for (let k = 0; k < 2000; k++) {
    let piece = '';
    const n = rng.int(1, 12);
    for (let i = 0; i < n; i++) piece += rng.pick(words);
    assert.deepEqual(mergePiece(new TextEncoder().encode(piece)), tiktoken.encode(piece, [], []), JSON.stringify(piece));
  }
});

test('mergePiece equals js-tiktoken on long pieces', () => {
  const tiktoken = new Tiktoken({ ...ranks, pat_str: '[^]+' });
  const rng = new Random(99);
  const words = ['the', 'tion', 'ing', 'pre', 'ab', 'x', 'qu', 'zz', 'é', '日本', '😀', '-', '=', ' '];
  for (let k = 0; k < 12; k++) {
    let piece = '';
    const n = rng.int(20, 400);
    for (let i = 0; i < n; i++) piece += rng.pick(words);
    const bytes = new TextEncoder().encode(piece);
    assert.deepEqual(mergePiece(bytes), tiktoken.encode(piece, [], []), `piece #${k} (${bytes.length} bytes)`);
  }
  for (const piece of ['a'.repeat(700), '-'.repeat(513), ' '.repeat(300), 'ab'.repeat(333)]) {
    assert.deepEqual(mergePiece(new TextEncoder().encode(piece)), tiktoken.encode(piece, [], []), piece.slice(0, 4));
  }
});
