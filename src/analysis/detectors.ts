/**
 * Head detectors as TransformerLens's `detect_head` with error_measure "mul" (exclude_bos and
 * exclude_current_token off, its defaults): score = Σ (pattern ⊙ detection) / Σ pattern per head,
 * averaged over sequences. Sequences are BOS + n distinct random tokens, repeated twice (seeded).
 */
import { SeededRandom } from './random';

export type DetectorKind = 'previousToken' | 'duplicateToken' | 'induction';

/** [T, T] 1 at (i, i-1): get_previous_token_head_detection_pattern. */
export function previousTokenPattern(tokens: ArrayLike<number>): Float32Array {
  const T = tokens.length;
  const p = new Float32Array(T * T);
  for (let i = 1; i < T; i++) p[i * T + i - 1] = 1;
  return p;
}

/** [T, T] 1 at (i, j), j < i, where tokens[i] = tokens[j]: get_duplicate_token_head_detection_pattern. */
export function duplicateTokenPattern(tokens: ArrayLike<number>): Float32Array {
  const T = tokens.length;
  const p = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < i; j++) if (tokens[i] === tokens[j]) p[i * T + j] = 1;
  return p;
}

/** [T, T] the duplicate pattern shifted one key to the right (attend to the token after an earlier copy): get_induction_head_detection_pattern. */
export function inductionPattern(tokens: ArrayLike<number>): Float32Array {
  const T = tokens.length;
  const dup = duplicateTokenPattern(tokens);
  const p = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 1; j <= i; j++) p[i * T + j] = dup[i * T + j - 1] as number;
  return p;
}

/** "mul" score of one head's [T, T] pattern: Σ pattern ⊙ detection / Σ pattern (0 for an all-zero pattern). */
export function mulScore(pattern: ArrayLike<number>, offset: number, detection: Float32Array): number {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < detection.length; i++) {
    const a = pattern[offset + i] as number;
    total += a;
    hit += a * (detection[i] as number);
  }
  return total !== 0 ? hit / total : 0;
}

/**
 * Seeded detector inputs: `count` sequences [bos, r₁…r_n, r₁…r_n] with n distinct tokens from
 * [0, tokenLimit) (the BOS id excluded).
 */
export function repeatedRandomSequences(seed: number, count: number, n: number, tokenLimit: number, bos: number): Int32Array[] {
  const rng = new SeededRandom(seed ^ 0xde7ec7);
  const out: Int32Array[] = [];
  for (let s = 0; s < count; s++) {
    const half = rng.distinct(n, 0, tokenLimit - 1).map((t) => (t >= bos ? t + 1 : t));
    out.push(Int32Array.from([bos, ...half, ...half]));
  }
  return out;
}

/**
 * The highest mean "mul" score any head can reach on these sequences, per detector: a pattern row
 * sums to 1, so a row scores at most 1 where its detection row has a 1 and 0 where it is empty, and
 * the best head scores (rows with a target) / T per sequence. On [BOS, r₁…r_n, r₁…r_n] that is
 * 2n / (2n + 1) for previous-token and n / (2n + 1) for duplicate-token and induction: a perfect
 * induction head tops out just under 0.5 (as in TransformerLens, whose score this is).
 */
export function detectorCeilings(sequences: readonly Int32Array[]): Record<DetectorKind, number> {
  const result: Record<DetectorKind, number> = { previousToken: 0, duplicateToken: 0, induction: 0 };
  for (const tokens of sequences) {
    const T = tokens.length;
    const detections: [DetectorKind, Float32Array][] = [
      ['previousToken', previousTokenPattern(tokens)],
      ['duplicateToken', duplicateTokenPattern(tokens)],
      ['induction', inductionPattern(tokens)],
    ];
    for (const [kind, detection] of detections) {
      let rows = 0;
      for (let i = 0; i < T; i++) if (detection.subarray(i * T, (i + 1) * T).some((v) => v !== 0)) rows++;
      result[kind] += rows / T / sequences.length;
    }
  }
  return result;
}

/** Mean detector scores over sequences: each [L, H]. `patterns[s]` is [L, H, T, T] for `sequences[s]`. */
export function detectHeads(
  sequences: readonly Int32Array[],
  patterns: readonly Float32Array[],
  nLayer: number,
  nHead: number,
): Record<DetectorKind, Float32Array> {
  const result = {
    previousToken: new Float32Array(nLayer * nHead),
    duplicateToken: new Float32Array(nLayer * nHead),
    induction: new Float32Array(nLayer * nHead),
  };
  if (sequences.length !== patterns.length) throw new RangeError(`detectHeads: ${sequences.length} sequences but ${patterns.length} pattern sets`);
  sequences.forEach((tokens, s) => {
    const T = tokens.length;
    const pattern = patterns[s]!;
    if (pattern.length !== nLayer * nHead * T * T) {
      throw new RangeError(`detectHeads: sequence ${s} has ${T} tokens, so its patterns need ${nLayer}×${nHead}×${T}×${T} values, got ${pattern.length}`);
    }
    const detections: [DetectorKind, Float32Array][] = [
      ['previousToken', previousTokenPattern(tokens)],
      ['duplicateToken', duplicateTokenPattern(tokens)],
      ['induction', inductionPattern(tokens)],
    ];
    for (let lh = 0; lh < nLayer * nHead; lh++) {
      for (const [kind, detection] of detections) result[kind][lh] = (result[kind][lh] as number) + mulScore(pattern, lh * T * T, detection) / sequences.length;
    }
  });
  return result;
}
