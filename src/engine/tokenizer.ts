/**
 * GPT-2's byte-level BPE, id-for-id identical to OpenAI's original `encoder.py`, with the place of
 * every token in the JavaScript string.
 *
 * The BPE ranks are js-tiktoken's shipped gpt2 ranks; the merge rule is js-tiktoken's (and
 * encoder.py's), tested id for id against js-tiktoken's own encoder. What we add:
 *
 * - **Pre-tokenization with Python's `\s`.** The original splits text with the Python `regex`
 *   pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`. Python's
 *   `\s` (`str.isspace`) includes U+001C–U+001F and U+0085 but not U+FEFF; JavaScript's `\s` is the
 *   other way round. PY_SPACE below spells Python's class out, so both engines split alike.
 * - **Piece by piece.** Pieces are matched one at a time (sticky regex) and stop as soon as
 *   `maxTokens` is passed, so a 1 MB text costs about as much as its first maxTokens tokens.
 * - **Our own merge loop** (`mergePiece`): the same rule (lowest rank first, leftmost on ties)
 *   with a heap, O(n log n); js-tiktoken's is quadratic in the piece length (a 2 KB word takes
 *   ~0.25 s). It serves every piece that is not one token whole, so js-tiktoken's encoder is not
 *   kept: its two 50k-entry maps (one of 50k small Uint8Arrays) stayed alive in the engine worker,
 *   whose garbage collector walks them on every cycle a trace starts (README, Hook-output
 *   overhead). Tests check ours against js-tiktoken.
 *   When `maxTokens` is set and a piece is long, only a prefix window of it is merged, at least
 *   LONG_PIECE_MARGIN bytes beyond the last token kept (`encodeWindowed`). `exceeded` is exact;
 *   the kept tokens are exact unless a merge chain reaches back further than the margin (never
 *   seen; the tests compare windowed with full merges of 1 MB pieces).
 *
 * Conventions:
 * - Ranges are UTF-16 [start, end) offsets into the text. A token that splits a character's
 *   UTF-8 bytes is `partial`; its range is every character it touches, so two partial tokens
 *   sharing a character both cover that character. Otherwise ranges abut: no gaps, no overlaps.
 * - A lone surrogate is encoded as U+FFFD (EF BF BD), as TextEncoder does and as Python sees the
 *   editor's text after UTF-8 decoding with replacement. Its token text shows U+FFFD.
 * - `<|endoftext|>` in the text is plain text (7 tokens) unless `allowSpecial`, then id 50256.
 */
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import type { TokenInfo, TokenizeOptions, Tokenized } from './types';

export const EOT_ID = 50256;
export const EOT_TEXT = '<|endoftext|>';
/** Number of ids: 50256 byte-level tokens plus <|endoftext|>. */
export const GPT2_VOCAB_SIZE = 50257;
/** The longest GPT-2 token, in bytes (checked by a test against the ranks). */
export const MAX_TOKEN_BYTES = 128;

/** Python's `\s` for str patterns (CPython `_PyUnicode_IsWhitespace`), as a character-class body. */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** The original pattern with `\s`/`\S` replaced by Python's class; sticky, so pieces come one at a time. */
export const GPT2_PRETOKEN_PATTERN =
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${PY_SPACE}\\p{L}\\p{N}]+|[${PY_SPACE}]+(?![^${PY_SPACE}])|[${PY_SPACE}]+`;

/** Bytes merged beyond the last needed token when a giant piece is windowed. */
const LONG_PIECE_MARGIN = 4096;

interface Vocabulary {
  /**
   * Every token's bytes back to back: id's are bytes[start[id]..start[id + 1]) (EOT_ID's: the UTF-8
   * of "<|endoftext|>"). One buffer, not 50257 small arrays: the engine worker's garbage collector
   * walks every live object each cycle, and a trace allocates enough to start one; 50k more
   * ArrayBuffers made 128-token traces 7–17 ms slower (a scratch script, README).
   */
  readonly bytes: Uint8Array;
  /** [V + 1] offsets into `bytes`. */
  readonly start: Int32Array;
  /** latin1 string of a token's bytes → id (= rank in GPT-2). */
  readonly idOf: ReadonlyMap<string, number>;
  readonly textOf: (string | undefined)[];
}

let vocabulary: Vocabulary | undefined;

/** Loads the ranks once (~0.3 s), on first use. */
function vocab(): Vocabulary {
  if (vocabulary) return vocabulary;
  const pieces: (Buffer | undefined)[] = new Array<Buffer | undefined>(GPT2_VOCAB_SIZE);
  const idOf = new Map<string, number>();
  // Same format js-tiktoken parses: "<prefix> <first rank> <base64 token> <base64 token> …" per line.
  for (const line of gpt2Ranks.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, offsetText, ...tokens] = line.split(' ');
    const offset = Number.parseInt(offsetText ?? '', 10);
    tokens.forEach((token, i) => {
      const bytes = Buffer.from(token, 'base64');
      pieces[offset + i] = bytes;
      idOf.set(bytes.toString('latin1'), offset + i);
    });
  }
  pieces[EOT_ID] = Buffer.from(EOT_TEXT, 'utf8');
  const start = new Int32Array(GPT2_VOCAB_SIZE + 1);
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
    const piece = pieces[id];
    if (!piece) throw new Error(`GPT-2 ranks are incomplete: no token with id ${id}`);
    start[id + 1] = start[id] + piece.length;
  }
  const bytes = new Uint8Array(start[GPT2_VOCAB_SIZE]);
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) bytes.set(pieces[id] as Buffer, start[id]);
  vocabulary = { bytes, start, idOf, textOf: new Array<string | undefined>(GPT2_VOCAB_SIZE) };
  return vocabulary;
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE) {
    throw new RangeError(`Token id ${id} is outside the GPT-2 vocabulary (0–${GPT2_VOCAB_SIZE - 1}).`);
  }
}

/** The bytes of one token (<|endoftext|> as its 13 ASCII bytes): a read-only view, do not write to it. */
export function tokenBytes(id: number): Uint8Array {
  checkId(id);
  const v = vocab();
  return v.bytes.subarray(v.start[id], v.start[id + 1]);
}

/** The byte length of one token (id checked by the caller). */
function tokenLength(v: Vocabulary, id: number): number {
  return (v.start[id + 1] as number) - (v.start[id] as number);
}

const displayDecoder = new TextDecoder('utf-8', { fatal: false });

/** Display text of one token; bytes that split a character show as U+FFFD. */
export function decodeToken(id: number): string {
  checkId(id);
  const v = vocab();
  let text = v.textOf[id];
  if (text === undefined) {
    text = displayDecoder.decode(tokenBytes(id));
    v.textOf[id] = text;
  }
  return text;
}

/** Text of a token sequence: bytes joined first, so characters split across tokens come out whole. */
export function decodeTokens(ids: readonly number[]): string {
  const parts: Uint8Array[] = ids.map((id) => tokenBytes(id));
  return displayDecoder.decode(Buffer.concat(parts));
}

/**
 * BPE of one piece: repeatedly merge the adjacent pair whose concatenation has the lowest rank,
 * leftmost first on ties (js-tiktoken's `bytePairMerge` rule), with a heap instead of rescans.
 * Returns the token ids in order.
 */
export function mergePiece(bytes: Uint8Array): number[] {
  const { idOf } = vocab();
  const n = bytes.length;
  if (n === 0) return [];
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, n).toString('latin1');
  // Parts are a linked list over byte offsets: part a spans [a, next[a]).
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  const heap = new PairHeap(n);
  const pushPair = (a: number): void => {
    const b = next[a] as number;
    if (a < 0 || b >= n) return;
    const rank = idOf.get(text.slice(a, next[b] as number));
    if (rank !== undefined) heap.push(rank, a, b, next[b] as number);
  };
  for (let a = 0; a + 1 < n; a++) pushPair(a);
  while (heap.size > 0) {
    const [a, b, c] = heap.pop();
    // Stale entries (a neighbour merged since the push) are skipped.
    if (!alive[a] || !alive[b] || next[a] !== b || next[b] !== c) continue;
    alive[b] = 0;
    next[a] = c;
    if (c < n) prev[c] = a;
    pushPair(prev[a] as number);
    pushPair(a);
  }
  const ids: number[] = [];
  for (let a = 0; a < n; a = next[a] as number) {
    const id = idOf.get(text.slice(a, next[a] as number));
    if (id === undefined) throw new Error('BPE produced a part outside the vocabulary (corrupt ranks?)');
    ids.push(id);
  }
  return ids;
}

/** Min-heap of candidate merges ordered by (rank, left offset). */
class PairHeap {
  private keys: Float64Array;
  private data: Int32Array; // 3 per entry: a, b, c
  size = 0;
  private readonly stride: number;

  constructor(n: number) {
    this.stride = n + 1;
    this.keys = new Float64Array(Math.max(16, n));
    this.data = new Int32Array(3 * Math.max(16, n));
  }

  push(rank: number, a: number, b: number, c: number): void {
    if (this.size === this.keys.length) {
      const keys = new Float64Array(this.keys.length * 2);
      keys.set(this.keys);
      this.keys = keys;
      const data = new Int32Array(this.data.length * 2);
      data.set(this.data);
      this.data = data;
    }
    let i = this.size++;
    const key = rank * this.stride + a;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.keys[parent] as number) <= key) break;
      this.move(parent, i);
      i = parent;
    }
    this.keys[i] = key;
    this.data[3 * i] = a;
    this.data[3 * i + 1] = b;
    this.data[3 * i + 2] = c;
  }

  pop(): [number, number, number] {
    const top: [number, number, number] = [this.data[0] as number, this.data[1] as number, this.data[2] as number];
    const last = --this.size;
    if (last > 0) {
      const key = this.keys[last] as number;
      const a = this.data[3 * last] as number, b = this.data[3 * last + 1] as number, c = this.data[3 * last + 2] as number;
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= last) break;
        if (child + 1 < last && (this.keys[child + 1] as number) < (this.keys[child] as number)) child++;
        if ((this.keys[child] as number) >= key) break;
        this.move(child, i);
        i = child;
      }
      this.keys[i] = key;
      this.data[3 * i] = a;
      this.data[3 * i + 1] = b;
      this.data[3 * i + 2] = c;
    }
    return top;
  }

  private move(from: number, to: number): void {
    this.keys[to] = this.keys[from] as number;
    this.data.copyWithin(3 * to, 3 * from, 3 * from + 3);
  }
}

/**
 * A piece's UTF-8 bytes with, per byte, the UTF-16 span of its character (relative to the piece)
 * and whether it is the character's first byte.
 */
interface PieceBytes {
  readonly bytes: Uint8Array;
  readonly charStart: Uint32Array;
  readonly charEnd: Uint32Array;
  readonly lead: Uint8Array;
}

function utf8Piece(piece: string): PieceBytes {
  // At most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
  const cap = piece.length * 3;
  const bytes = new Uint8Array(cap);
  const charStart = new Uint32Array(cap);
  const charEnd = new Uint32Array(cap);
  const lead = new Uint8Array(cap);
  let n = 0;
  for (let i = 0; i < piece.length; ) {
    let cp = piece.codePointAt(i) as number;
    const units = cp > 0xffff ? 2 : 1;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate → U+FFFD
    const first = n;
    if (cp < 0x80) {
      bytes[n++] = cp;
    } else if (cp < 0x800) {
      bytes[n++] = 0xc0 | (cp >> 6);
      bytes[n++] = 0x80 | (cp & 63);
    } else if (cp < 0x10000) {
      bytes[n++] = 0xe0 | (cp >> 12);
      bytes[n++] = 0x80 | ((cp >> 6) & 63);
      bytes[n++] = 0x80 | (cp & 63);
    } else {
      bytes[n++] = 0xf0 | (cp >> 18);
      bytes[n++] = 0x80 | ((cp >> 12) & 63);
      bytes[n++] = 0x80 | ((cp >> 6) & 63);
      bytes[n++] = 0x80 | (cp & 63);
    }
    charStart.fill(i, first, n);
    charEnd.fill(i + units, first, n);
    lead[first] = 1;
    i += units;
  }
  return { bytes: bytes.subarray(0, n), charStart, charEnd, lead };
}

/** BPE ids of one piece's bytes: most pieces are one token, found whole; others are merged. */
function encodePiece(bytes: Uint8Array): number[] {
  if (bytes.length <= MAX_TOKEN_BYTES) {
    const whole = vocab().idOf.get(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1'));
    if (whole !== undefined) return [whole];
  }
  return mergePiece(bytes);
}

interface EncodedPiece {
  readonly utf8: PieceBytes;
  readonly ids: readonly number[];
}

function encodeWhole(piece: string): EncodedPiece {
  const utf8 = utf8Piece(piece);
  return { utf8, ids: encodePiece(utf8.bytes) };
}

/**
 * The first `need` tokens of a long piece (or all of them, if it has fewer), merging only a
 * prefix window: a window is accepted when `need` tokens end LONG_PIECE_MARGIN bytes before its
 * cut; otherwise it grows ×4, up to the whole piece (then exact by construction).
 */
function encodeWindowed(piece: string, need: number): EncodedPiece {
  const v = vocab();
  for (let units = need * 4 + 2 * LONG_PIECE_MARGIN; ; units *= 4) {
    if (units >= piece.length) return encodeWhole(piece);
    let cut = units;
    const unit = piece.charCodeAt(cut - 1);
    if (unit >= 0xd800 && unit <= 0xdbff) cut--; // keep surrogate pairs whole
    const prefix = piece.slice(0, cut);
    const utf8 = utf8Piece(prefix);
    const ids = mergePiece(utf8.bytes);
    const safeEnd = utf8.bytes.length - LONG_PIECE_MARGIN;
    let end = 0;
    let kept = 0;
    while (kept < ids.length && kept < need) {
      end += tokenLength(v, ids[kept] as number);
      if (end > safeEnd) break;
      kept++;
    }
    if (kept === need) return { utf8, ids: ids.slice(0, kept) };
  }
}

/** Tokenizes `text` as GPT-2 does; see the module comment for ranges, partial tokens and limits. */
export function tokenize(text: string, options: TokenizeOptions = {}): Tokenized {
  const prependBos = options.prependBos ?? true;
  const allowSpecial = options.allowSpecial ?? false;
  const maxTokens = options.maxTokens ?? Number.POSITIVE_INFINITY;
  const v = vocab();
  const tokens: TokenInfo[] = [];
  let exceeded = false;
  /** Adds a token; false (and `exceeded`) once the limit is passed. */
  const add = (token: TokenInfo): boolean => {
    if (tokens.length >= maxTokens) {
      exceeded = true;
      return false;
    }
    tokens.push(token);
    return true;
  };
  const special = (start: number, end: number): TokenInfo => ({ id: EOT_ID, text: EOT_TEXT, start, end, partial: false, special: true });

  if (prependBos && !add(special(0, 0))) return { tokens, exceeded };

  const pattern = new RegExp(GPT2_PRETOKEN_PATTERN, 'uy');
  let segmentStart = 0;
  while (segmentStart <= text.length) {
    const eot = allowSpecial ? text.indexOf(EOT_TEXT, segmentStart) : -1;
    const segmentEnd = eot < 0 ? text.length : eot;
    const segment = eot < 0 && segmentStart === 0 ? text : text.slice(segmentStart, segmentEnd);
    pattern.lastIndex = 0;
    while (pattern.lastIndex < segment.length) {
      const offset = segmentStart + pattern.lastIndex;
      const match = pattern.exec(segment);
      if (!match) throw new Error(`Pre-tokenizer matched nothing at offset ${offset}`); // unreachable: the classes cover every code point
      const piece = match[0];
      const { utf8, ids } = Number.isFinite(maxTokens) && piece.length > 2 * LONG_PIECE_MARGIN
        ? encodeWindowed(piece, maxTokens - tokens.length + 1)
        : encodeWhole(piece);
      let b0 = 0;
      for (const id of ids) {
        const b1 = b0 + tokenLength(v, id);
        const partial = !utf8.lead[b0] || (b1 < utf8.bytes.length && !utf8.lead[b1]);
        const token: TokenInfo = {
          id,
          text: decodeToken(id),
          start: offset + (utf8.charStart[b0] as number),
          end: offset + (utf8.charEnd[b1 - 1] as number),
          partial,
          special: false,
        };
        if (!add(token)) return { tokens, exceeded };
        b0 = b1;
      }
    }
    if (eot < 0) break;
    if (!add(special(eot, eot + EOT_TEXT.length))) return { tokens, exceeded };
    segmentStart = eot + EOT_TEXT.length;
  }
  return { tokens, exceeded };
}
