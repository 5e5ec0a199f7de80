/** Norms of the residual stream and of each layer's writes, for the residual panel. */

/** [rows, T] L2 norm of every [D] vector of a [rows, T, D] tensor (e.g. resid [L+1, T, D]). */
export function residualNorms(resid: Float32Array, rows: number, positions: number, d: number): Float32Array {
  if (resid.length !== rows * positions * d) {
    throw new RangeError(`residualNorms: expected ${rows}×${positions}×${d} = ${rows * positions * d} values, got ${resid.length}`);
  }
  const out = new Float32Array(rows * positions);
  for (let r = 0; r < rows * positions; r++) {
    let s = 0;
    const base = r * d;
    for (let i = 0; i < d; i++) {
      const x = resid[base + i] as number;
      s += x * x;
    }
    out[r] = Math.sqrt(s);
  }
  return out;
}

/** Per-layer contribution norms: ‖hook_attn_out‖ and ‖hook_mlp_out‖, each [L, T]. */
export function contributionNorms(
  attnOut: Float32Array,
  mlpOut: Float32Array,
  layers: number,
  positions: number,
  d: number,
): { attention: Float32Array; mlp: Float32Array } {
  return { attention: residualNorms(attnOut, layers, positions, d), mlp: residualNorms(mlpOut, layers, positions, d) };
}
