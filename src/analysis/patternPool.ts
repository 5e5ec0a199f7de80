/** Attention patterns shrunk for display: max-pooled blocks, so a sharp diagonal stays visible. */

/**
 * Max-pools one [T, T] pattern (at `offset` in `src`) into an [S, S] block of `dst` at `dstOffset`:
 * cell (i, j) is the maximum over query rows ⌊iT/S⌋ … ⌊(i+1)T/S⌋ − 1 and the same key columns,
 * so a sharp diagonal stays visible in a thumbnail. S must be ≤ T.
 */
export function maxPoolPattern(src: Float32Array, offset: number, positions: number, dst: Float32Array, dstOffset: number, size: number): void {
  if (size > positions) throw new RangeError(`cannot pool ${positions} positions into ${size}`);
  for (let i = 0; i < size; i++) {
    const r0 = Math.floor((i * positions) / size);
    const r1 = Math.floor(((i + 1) * positions) / size);
    for (let j = 0; j < size; j++) {
      const c0 = Math.floor((j * positions) / size);
      const c1 = Math.floor(((j + 1) * positions) / size);
      let m = -Infinity;
      for (let r = r0; r < r1; r++) {
        const row = offset + r * positions;
        for (let c = c0; c < c1; c++) if (src[row + c] > m) m = src[row + c];
      }
      dst[dstOffset + i * size + j] = m;
    }
  }
}

/**
 * Heads firstHead … firstHead+heads−1 of a [heads_total, T, T] pattern stack (e.g. [L, H, T, T]
 * flattened), each max-pooled to [S, S]; a plain copy when S = T.
 * @returns [heads, S, S]
 */
export function poolHeadPatterns(pattern: Float32Array, positions: number, firstHead: number, heads: number, size: number): Float32Array {
  const T = positions;
  if (firstHead < 0 || heads < 0 || (firstHead + heads) * T * T > pattern.length) {
    throw new RangeError(`heads ${firstHead}..${firstHead + heads - 1} are outside a pattern stack of ${Math.floor(pattern.length / (T * T))} heads`);
  }
  if (size === T) return pattern.slice(firstHead * T * T, (firstHead + heads) * T * T);
  const out = new Float32Array(heads * size * size);
  for (let i = 0; i < heads; i++) maxPoolPattern(pattern, (firstHead + i) * T * T, T, out, i * size * size, size);
  return out;
}
