/**
 * Token ids of src/engine/tokenizer.ts against gpt-tokenizer, an independent BPE implementation
 * with its own copy of the r50k_base (= GPT-2) ranks.
 *
 * gpt-tokenizer splits text with JavaScript's `\s`, which differs from the original Python `\s`
 * on exactly U+001C–U+001F and U+0085 (Python: space; JS: not) and U+FEFF (JS: space; Python: not)
 * — the first test proves that list. So:
 * - texts without those characters: our ids must equal gpt-tokenizer's `encode` outright;
 * - every text: our ids must equal gpt-tokenizer's BPE applied to the pieces of `pythonSplit`,
 *   a hand-written, regex-free transcription of the original pattern with CPython's whitespace;
 * - a few texts with those characters: the pieces are derived by hand below (comments say why)
 *   and we check gpt-tokenizer's own `encode` really differs there.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encode as gptEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { BytePairEncodingCore } from 'gpt-tokenizer/BytePairEncodingCore';
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { EOT_ID, decodeToken, decodeTokens, tokenBytes, tokenize, MAX_TOKEN_BYTES, GPT2_VOCAB_SIZE } from '../../src/engine/tokenizer';
import { Random } from '../helpers/random';

interface CorpusEntry { readonly note: string; readonly text: string }
const corpus: CorpusEntry[] = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/tokenizer/corpus.json'), 'utf8')) as CorpusEntry[];

/** CPython's str.isspace() set (Objects/unicodetype_db.h, _PyUnicode_IsWhitespace), listed independently of PY_SPACE. */
const PYTHON_WHITESPACE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);
/** Characters on which JavaScript's `\s` and Python's disagree. */
const JS_PY_SPACE_DIFF = [0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xfeff];

const isPySpace = (cp: number): boolean => PYTHON_WHITESPACE.has(cp);
const isLetter = (cp: number): boolean => /\p{L}/u.test(String.fromCodePoint(cp));
const isNumber = (cp: number): boolean => /\p{N}/u.test(String.fromCodePoint(cp));
const isOther = (cp: number): boolean => !isPySpace(cp) && !isLetter(cp) && !isNumber(cp);

/**
 * The original pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
 * as a loop over code points, trying the alternatives in order as the regex engine does.
 */
function pythonSplit(text: string): string[] {
  const cps = Array.from(text, (ch) => ch.codePointAt(0) as number);
  const pieces: string[] = [];
  const run = (from: number, pred: (cp: number) => boolean): number => {
    let j = from;
    while (j < cps.length && pred(cps[j] as number)) j++;
    return j;
  };
  let i = 0;
  while (i < cps.length) {
    let end = -1;
    const rest = String.fromCodePoint(...cps.slice(i, i + 3));
    for (const c of ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]) {
      if (rest.startsWith(c)) {
        end = i + c.length;
        break;
      }
    }
    if (end < 0) {
      for (const pred of [isLetter, isNumber, isOther]) {
        const j = cps[i] === 0x20 ? i + 1 : i; // the optional leading space
        if (j < cps.length && pred(cps[j] as number)) {
          end = run(j, pred);
          break;
        }
      }
    }
    if (end < 0) {
      // Here cps[i] is whitespace. \s+(?!\S): the whole run if it ends the text, else the run
      // minus its last character (backtracking one step makes the lookahead see a space);
      // a run of one before \S fails that and falls to \s+, which takes it.
      const k = run(i, isPySpace);
      end = k === cps.length || k - 1 === i ? k : k - 1;
    }
    pieces.push(String.fromCodePoint(...cps.slice(i, end)));
    i = end;
  }
  return pieces;
}

/** gpt-tokenizer's BPE on one piece (its split regex replaced by one that keeps the piece whole). */
const wholePieceBpe = new BytePairEncodingCore({ bytePairRankDecoder: r50kRanks, tokenSplitRegex: /[^]+/gu });
const bpePieces = (pieces: readonly string[]): number[] => pieces.flatMap((p) => wholePieceBpe.encodeNative(p));
const referenceIds = (text: string): number[] => bpePieces(pythonSplit(text));

const ours = (text: string, allowSpecial = false): number[] =>
  tokenize(text, { prependBos: false, allowSpecial }).tokens.map((t) => t.id);
const hasSpaceDifference = (text: string): boolean => Array.from(text).some((ch) => JS_PY_SPACE_DIFF.includes(ch.codePointAt(0) as number));

test('JavaScript and Python whitespace differ exactly on U+001C–U+001F, U+0085 and U+FEFF', () => {
  const diff: number[] = [];
  for (let cp = 0; cp <= 0xffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    if (/\s/u.test(String.fromCodePoint(cp)) !== isPySpace(cp)) diff.push(cp);
  }
  assert.deepEqual(diff, JS_PY_SPACE_DIFF);
});

test('corpus texts without those characters: ids equal gpt-tokenizer encode', () => {
  let compared = 0;
  for (const { note, text } of corpus) {
    if (hasSpaceDifference(text)) continue;
    // Plain text mode: "<|endoftext|>" is 7 ordinary tokens in both.
    assert.deepEqual(ours(text), gptEncode(text, { disallowedSpecial: new Set() }), note);
    // gpt-tokenizer 4.0's r50k `allowedSpecial` did not take effect here, so split at the marker ourselves.
    const withSpecial = text.split('<|endoftext|>').flatMap((part, i) => [...(i > 0 ? [EOT_ID] : []), ...gptEncode(part)]);
    assert.deepEqual(ours(text, true), withSpecial, `${note} (allowSpecial)`);
    compared++;
  }
  assert.ok(compared >= 60, `compared ${compared} corpus entries`);
});

test('every corpus text: ids equal gpt-tokenizer BPE over the Python split', () => {
  for (const { note, text } of corpus) assert.deepEqual(ours(text), referenceIds(text), note);
});

test('hand-derived Python splits where JavaScript\'s \\s differs', () => {
  // pieces: the original's split, reasoned by hand; ids: gpt-tokenizer's BPE of those pieces,
  // written out; jsIds: what gpt-tokenizer's JS-regex encode gives instead.
  const cases: { text: string; pieces: string[]; ids: number[]; jsIds: number[]; why: string }[] = [
    {
      text: 'a \u0085b',
      pieces: ['a', ' ', '\u0085', 'b'],
      ids: [64, 220, 126, 227, 65],
      jsIds: [64, 1587, 227, 65],
      why: 'U+0085 is space in Python: " \\u0085" is a space run before "b", so \\s+(?!\\S) keeps " " and \\s+ takes U+0085 (bytes C2 85, no merge). JS reads U+0085 as punctuation, so " \\u0085" is one piece and " \\xC2" merges (1587).',
    },
    {
      text: '\n\n\u0085',
      pieces: ['\n\n\u0085'],
      ids: [628, 126, 227],
      jsIds: [198, 198, 126, 227],
      why: 'a space run that ends the text is one piece in Python, and "\\n\\n" merges (628). In JS U+0085 is \\S, so the run "\\n\\n" backtracks to "\\n", "\\n".',
    },
    {
      text: 'a\n\n\u001cb',
      pieces: ['a', '\n\n', '\u001c', 'b'],
      ids: [64, 628, 216, 65],
      jsIds: [64, 198, 198, 216, 65],
      why: 'U+001C is space in Python: the run "\\n\\n\\u001c" before "b" gives "\\n\\n" then "\\u001c". In JS U+001C is punctuation and the newlines split as above.',
    },
    {
      text: ' \ufeffa',
      pieces: [' \ufeff', 'a'],
      ids: [27332, 119, 123, 64],
      jsIds: [220, 171, 119, 123, 64],
      why: 'U+FEFF is not space in Python (category Cf): " ?[^\\s\\p{L}\\p{N}]+" takes " \\ufeff" and " \\xEF" merges (27332). JS reads " \\ufeff" as a space run: " ", then "\\ufeff".',
    },
    {
      text: '!\ufeff?',
      pieces: ['!\ufeff?'],
      ids: [0, 171, 119, 123, 30],
      jsIds: [0, 171, 119, 123, 30],
      why: 'one punctuation piece in Python, three pieces in JS ("!", "\\ufeff", "?"); no merge crosses them, so the ids agree.',
    },
    {
      text: 'a \u001c\u001d b',
      pieces: ['a', ' \u001c\u001d', ' b'],
      ids: [64, 220, 216, 217, 275],
      jsIds: [64, 220, 216, 217, 275],
      why: 'Python: a space run " \\u001c\\u001d " before "b" loses its last space; JS: " \\u001c\\u001d" as punctuation. Same pieces by a different road.',
    },
  ];
  for (const { text, pieces, ids, jsIds, why } of cases) {
    assert.equal(pieces.join(''), text, why);
    assert.deepEqual(pythonSplit(text), pieces, `pythonSplit: ${why}`);
    assert.deepEqual(bpePieces(pieces), ids, `BPE of the pieces: ${why}`);
    assert.deepEqual(ours(text), ids, why);
    assert.deepEqual(gptEncode(text), jsIds, `JS-regex encode: ${why}`);
  }
});

/** A seeded random string drawn from the character families that stress the pre-tokenizer. */
function randomText(rng: Random): string {
  const families: (() => string)[] = [
    () => rng.pick(['a', 'b', 'Z', 'é', 'ß', 'Ω', 'я', 'ж']),
    () => rng.pick(['0', '7', '42', '٣', '½']),
    () => rng.pick([' ', ' ', '  ', '\n', '\t', '\r\n', '\u00a0', '\u3000', '\u2028']),
    () => rng.pick(['\u0085', '\ufeff', '\u001c', '\u001d', '\u001e', '\u001f']),
    () => rng.pick(['.', ',', '!', '?', '-', '(', ')', '{', '}', '=', '"', '#', '_']),
    () => rng.pick(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'", '’']),
    () => rng.pick(['日', '本', '語', '中', '한', 'の']),
    () => rng.pick(['😀', '👍🏽', '👨\u200d👩\u200d👧', '🏳️\u200d🌈', '\u200d', '\ufe0f']),
    () => rng.pick(['\u0301', '\u0308', '\u0337']),
    () => rng.pick(['\ud800', '\udfff', '\ud83d']),
    () => String.fromCodePoint(rng.int(0x20, 0x2fff)),
    () => String.fromCodePoint(rng.int(0x10000, 0x1fadf)),
    () => '<|endoftext|>',
  ];
  let s = '';
  const n = rng.int(1, 40);
  for (let i = 0; i < n; i++) s += rng.pick(families)();
  return s;
}

test('seeded random-Unicode corpus: ids equal the references', () => {
  const rng = new Random(20261122);
  let direct = 0;
  for (let k = 0; k < 400; k++) {
    const text = randomText(rng);
    const label = `random text #${k}: ${JSON.stringify(text)}`;
    assert.deepEqual(ours(text), referenceIds(text), label);
    if (!hasSpaceDifference(text)) {
      assert.deepEqual(ours(text), gptEncode(text, { disallowedSpecial: new Set() }), label);
      direct++;
    }
  }
  assert.ok(direct > 100, `compared ${direct} random texts directly`);
});

test('allowSpecial reads <|endoftext|> as 50256, otherwise it is plain text', () => {
  assert.deepEqual(ours('a<|endoftext|>b', true), [64, EOT_ID, 65]);
  assert.deepEqual(ours('<|endoftext|>'), [27, 91, 437, 1659, 5239, 91, 29]);
  const special = tokenize('x<|endoftext|>', { prependBos: false, allowSpecial: true }).tokens[1];
  assert.deepEqual(special, { id: EOT_ID, text: '<|endoftext|>', start: 1, end: 14, partial: false, special: true });
});

test('BOS is prepended by default at start = end = 0, and can be left out', () => {
  const { tokens } = tokenize('Hello world');
  assert.deepEqual(tokens[0], { id: EOT_ID, text: '<|endoftext|>', start: 0, end: 0, partial: false, special: true });
  assert.deepEqual(tokens.slice(1).map((t) => t.id), [15496, 995]);
  assert.deepEqual(tokenize('', {}).tokens.map((t) => t.id), [EOT_ID]);
  assert.deepEqual(tokenize('', { prependBos: false }).tokens, []);
});

test('vocabulary: 50257 ids, longest token 128 bytes, decode round trip', () => {
  let longest = 0;
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) longest = Math.max(longest, tokenBytes(id).length);
  assert.equal(longest, MAX_TOKEN_BYTES);
  assert.equal(decodeToken(15496), 'Hello');
  assert.equal(decodeToken(EOT_ID), '<|endoftext|>');
  assert.equal(decodeToken(126), '\ufffd'); // byte C2 alone
  const text = 'Hi 👨‍👩‍👧 日本 <|endoftext|>';
  assert.equal(decodeTokens(ours(text)), text);
  assert.throws(() => decodeToken(50257), { message: 'Token id 50257 is outside the GPT-2 vocabulary (0–50256).' });
  assert.throws(() => decodeToken(-1), /outside the GPT-2 vocabulary/);
});
