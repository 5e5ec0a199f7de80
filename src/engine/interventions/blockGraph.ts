/**
 * One transformer block as its own ONNX graph, batched over runs and restricted to a suffix of
 * positions, with an affine edit at every hook point. The intervention runner chains these per
 * layer, starting at the first intervened layer.
 *
 * Positions: the block computes queries for positions p0..T−1 only (S = T − p0 of them); the keys
 * and values of the earlier positions come from `prefix`, the stored hook_resid_pre rows 0..p0−1
 * of the base trace, which no intervention at a position ≥ p0 can change (the model is causal).
 *
 * Query rows: attention, the MLP and every hook after hook_resid_pre are computed only for the
 * suffix rows listed in `query_rows` (Q of them; keys and values still come from all S). The
 * last layer needs only the metric position's row; other layers list every row.
 *
 * Edits: at each hook, act' = keep ⊙ act + add + mean ⊙ mean_pos(act), each of the three
 * broadcast against the activation (a [1, 1, 1] input is a no-op edit, so unedited hooks cost a
 * few element-wise passes). Every intervention action is one such edit (see ./edits.ts).
 */
import { DataType } from '../onnx/model';
import { Builder, type WeightLocator } from '../graph';
import type { ModelConfig } from '../types';

/** Hooks of a block in forward order, with the activation's shape in the batched graph. */
export const BLOCK_HOOKS = ['resid_pre', 'pattern', 'z', 'attn_out', 'resid_mid', 'mlp_post', 'mlp_out', 'resid_post'] as const;
export type BlockHook = (typeof BLOCK_HOOKS)[number];

/**
 * Shapes ([B, S, D] etc.) and the axis `mean` averages over (positions):
 *   resid_pre [B, S, D]; after it, over the Q query rows: resid_mid, resid_post, attn_out, mlp_out
 *   [B, Q, D]   z [B, Q, H, Dh]   pattern [B, H, Q(query), T(key)]   mlp_post [B, Q, M]
 */
export const HOOK_RANK: Readonly<Record<BlockHook, number>> = {
  resid_pre: 3, pattern: 4, z: 4, attn_out: 3, resid_mid: 3, mlp_post: 3, mlp_out: 3, resid_post: 3,
};
export const HOOK_POS_AXIS: Readonly<Record<BlockHook, number>> = {
  resid_pre: 1, pattern: 2, z: 1, attn_out: 1, resid_mid: 1, mlp_post: 1, mlp_out: 1, resid_post: 1,
};

export const BLOCK_INPUTS = {
  /** [B, S, D] hook_resid_pre of positions p0..T−1, per run */ x: 'x',
  /** [P, D] hook_resid_pre of positions 0..p0−1 (shared by the runs) */ prefix: 'prefix',
  /** [Q, T] causal mask rows of the query rows: 0 at or below the diagonal, −inf above */ mask: 'mask',
  /** [Q] int64 suffix rows (0..S−1) whose queries, attention output and MLP are computed */ queryRows: 'query_rows',
  keep: (h: BlockHook): string => `${h}.keep`,
  add: (h: BlockHook): string => `${h}.add`,
  mean: (h: BlockHook): string => `${h}.mean`,
} as const;

/** Output names: the edited value of every hook (fetch only what is needed). */
export const blockOutput = (h: BlockHook): string => `out.${h}`;

/** Builds block `layer` (weights h.{layer}.*, external data). */
export function buildBlockGraph(config: ModelConfig, locate: WeightLocator, layer: number): Uint8Array {
  const b = new Builder(`residual_lens_block_${layer}`, config, locate);
  const { g } = b;
  const { nHead: H, dModel: D, dHead: Dh, dMlp: M } = config;
  const p = `h.${layer}`;
  const x0 = g.input(BLOCK_INPUTS.x, DataType.FLOAT, ['B', 'S', D]);
  const prefix = g.input(BLOCK_INPUTS.prefix, DataType.FLOAT, ['P', D]);
  const mask = g.input(BLOCK_INPUTS.mask, DataType.FLOAT, ['Q', 'T']);
  const queryRows = g.input(BLOCK_INPUTS.queryRows, DataType.INT64, ['Q']);
  const edit = (h: BlockHook, act: string): string => {
    const rank = HOOK_RANK[h];
    const dims = Array.from({ length: rank }, (_, i) => `${h}_${i}`);
    const keep = g.input(BLOCK_INPUTS.keep(h), DataType.FLOAT, dims);
    const add = g.input(BLOCK_INPUTS.add(h), DataType.FLOAT, dims);
    const meanCoef = g.input(BLOCK_INPUTS.mean(h), DataType.FLOAT, dims);
    const mean = g.op('ReduceMean', [act], { axes: { ints: [HOOK_POS_AXIS[h]] }, keepdims: { i: 1 } });
    const out = g.op('Add', [g.op('Add', [g.op('Mul', [act, keep]), add]), g.op('Mul', [mean, meanCoef])], {}, blockOutput(h));
    const rows = h === 'resid_pre' ? 'S' : 'Q';
    const outDims = h === 'pattern' ? ['B', H, rows, 'T'] : h === 'z' ? ['B', rows, H, Dh] : h === 'mlp_post' ? ['B', rows, M] : ['B', rows, D];
    g.output(out, DataType.FLOAT, outDims);
    return out;
  };

  const x = edit('resid_pre', x0);
  const ln1w = b.weight(`${p}.ln_1.weight`, [D]);
  const ln1b = b.weight(`${p}.ln_1.bias`, [D]);
  const splitSizes = b.ints1([D, D, D]);
  const heads = b.ints1([0, 0, H, Dh]);
  // Suffix q, k, v: [B, S, H, Dh].
  const [q, k, v] = g.node('Split', [b.linear(b.layerNorm(x, ln1w, ln1b).y, `${p}.attn.c_attn`, D, 3 * D), splitSizes], 3, { axis: { i: 2 } });
  // Prefix k, v: [P, H, Dh] → [B, P, H, Dh] (the same rows for every run).
  const [, kp, vp] = g.node('Split', [b.linear(b.layerNorm(prefix, ln1w, ln1b).y, `${p}.attn.c_attn`, D, 3 * D), splitSizes], 3, { axis: { i: 1 } });
  const prefixHeads = b.ints1([1, -1, H, Dh]);
  const batch = g.op('Slice', [g.op('Shape', [x0]), b.ints1([0]), b.ints1([1]), b.ints1([0])]); // [1] = B
  const expandTo = g.op('Concat', [batch, b.ints1([1, 1, 1])], { axis: { i: 0 } });
  const kAll = g.op('Concat', [g.op('Expand', [g.op('Reshape', [kp, prefixHeads]), expandTo]), g.op('Reshape', [k, heads])], { axis: { i: 1 } }); // [B, T, H, Dh]
  const vAll = g.op('Concat', [g.op('Expand', [g.op('Reshape', [vp, prefixHeads]), expandTo]), g.op('Reshape', [v, heads])], { axis: { i: 1 } });
  const qSel = g.op('Gather', [q, queryRows], { axis: { i: 1 } }); // [B, Q, D]
  const xSel = g.op('Gather', [x, queryRows], { axis: { i: 1 } }); // [B, Q, D]
  const qh = g.op('Transpose', [g.op('Reshape', [qSel, heads])], { perm: { ints: [0, 2, 1, 3] } }); // [B, H, Q, Dh]
  const kh = g.op('Transpose', [kAll], { perm: { ints: [0, 2, 3, 1] } }); // [B, H, Dh, T]
  const vh = g.op('Transpose', [vAll], { perm: { ints: [0, 2, 1, 3] } }); // [B, H, T, Dh]
  const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [qh, kh]), g.constFloat(1 / Math.sqrt(Dh))]), mask]); // [B, H, Q, T]
  const pattern = edit('pattern', g.op('Softmax', [scores], { axis: { i: -1 } }));
  const z = edit('z', g.op('Transpose', [g.op('MatMul', [pattern, vh])], { perm: { ints: [0, 2, 1, 3] } })); // [B, Q, H, Dh]
  const attnOut = edit('attn_out', b.linear(g.op('Reshape', [z, b.ints1([0, 0, D])]), `${p}.attn.c_proj`, D, D));
  const residMid = edit('resid_mid', g.op('Add', [xSel, attnOut]));
  const ln2 = b.layerNorm(residMid, b.weight(`${p}.ln_2.weight`, [D]), b.weight(`${p}.ln_2.bias`, [D]));
  const post = edit('mlp_post', b.geluLinear(ln2.y, `${p}.mlp.c_fc`, D, M));
  const mlpOut = edit('mlp_out', b.linear(post, `${p}.mlp.c_proj`, M, D));
  edit('resid_post', g.op('Add', [residMid, mlpOut]));
  return g.build();
}

/** [Q, T] causal mask rows of the given query positions (default: p0..T−1). */
export function suffixMask(p0: number, T: number, positions: readonly number[] = Array.from({ length: T - p0 }, (_, s) => p0 + s)): Float32Array {
  const mask = new Float32Array(positions.length * T);
  positions.forEach((pos, r) => mask.fill(-Infinity, r * T + pos + 1, (r + 1) * T));
  return mask;
}
