/** The residual-stream views: one position's norms across layers, and the layers × positions grid. */

import { lensRowLabel } from './format';

export interface ResidualChartView {
  /** L+1 labels (lensRowLabel): "0_pre" … "{L-1}_pre", then "final_post". */
  readonly labels: readonly string[];
  /** [L+1] ‖resid‖ at the position. */
  readonly resid: readonly number[];
  /** [L+1] ‖attn_out‖ of block l at index l; null at "final_post". */
  readonly attn: readonly (number | null)[];
  /** [L+1] ‖mlp_out‖ of block l at index l; null at "final_post". */
  readonly mlp: readonly (number | null)[];
}

/**
 * @param residNorms [L+1, T]  @param attnNorms [L, T]  @param mlpNorms [L, T]
 */
export function residualChartView(residNorms: Float32Array, attnNorms: Float32Array, mlpNorms: Float32Array, nLayer: number, positions: number, pos: number): ResidualChartView {
  if (pos < 0 || pos >= positions) throw new RangeError(`position ${pos} is outside 0..${positions - 1}`);
  const labels: string[] = [];
  const resid: number[] = [];
  const attn: (number | null)[] = [];
  const mlp: (number | null)[] = [];
  for (let r = 0; r <= nLayer; r++) {
    labels.push(lensRowLabel(r, nLayer));
    resid.push(residNorms[r * positions + pos]);
    attn.push(r < nLayer ? attnNorms[r * positions + pos] : null);
    mlp.push(r < nLayer ? mlpNorms[r * positions + pos] : null);
  }
  return { labels, resid, attn, mlp };
}

/** Column `pos` of a row-major [rows, cols] grid. */
export function column(grid: Float32Array, rows: number, cols: number, col: number): Float32Array {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = grid[r * cols + col];
  return out;
}

/** Pattern of one head: [T, T] slice of [L, H, T, T]. */
export function headPattern(pattern: Float32Array, nHead: number, positions: number, layer: number, head: number): Float32Array {
  const size = positions * positions;
  const start = (layer * nHead + head) * size;
  return pattern.subarray(start, start + size);
}
