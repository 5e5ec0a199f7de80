/**
 * The ONNX graphs the engine runs, built from a ModelConfig and the on-disk location of each
 * F32 weight (external data, so nothing is copied into the model bytes).
 *
 * - forward "instrumented": token ids → every hook point in Trace except the final unembedding,
 *   each stacked over layers (FORWARD_OUTPUTS). The final residual goes through the lens graph,
 *   so W_U is packed once, in one session.
 * - forward "plain": token ids → final top-k probabilities; the baseline the bench compares with.
 * - lens: residual rows → ln_final → W_U → top-k with probabilities, rank of a target id, optional
 *   full distributions for chosen rows. [rows, d_vocab] logits never leave ORT.
 * - mlpPost: blocks.{l}.hook_resid_mid → blocks.{l}.mlp.hook_post for every layer (only when asked).
 * - headResult: one layer's hook_z and W_O → attn.hook_result (W_O is an input: no weights).
 */
import type { ModelConfig } from './types';
import { DataType, GraphBuilder, type ExternalTensor } from './onnx/model';

/** Where a canonical tensor's F32 bytes are; the graph states the shape it expects. */
export type WeightLocator = (name: string, dims: readonly number[]) => ExternalTensor;

/** TransformerLens hook names: the instrumented graph's output names. */
export const HOOKS = {
  /** [T, D] */ embed: 'hook_embed',
  /** [T, D] */ posEmbed: 'hook_pos_embed',
  /** [T, D] */ residPre: (l: number): string => `blocks.${l}.hook_resid_pre`,
  /** [T, 1] sqrt(var + eps) */ ln1Scale: (l: number): string => `blocks.${l}.ln1.hook_scale`,
  /** [H, T, T] */ pattern: (l: number): string => `blocks.${l}.attn.hook_pattern`,
  /** [T, H, Dh] */ z: (l: number): string => `blocks.${l}.attn.hook_z`,
  /** [T, D] */ attnOut: (l: number): string => `blocks.${l}.hook_attn_out`,
  /** [T, D] */ residMid: (l: number): string => `blocks.${l}.hook_resid_mid`,
  /** [T, 1] */ ln2Scale: (l: number): string => `blocks.${l}.ln2.hook_scale`,
  /** [T, M] (mlpPost graph) */ mlpPost: (l: number): string => `blocks.${l}.mlp.hook_post`,
  /** [T, D] */ mlpOut: (l: number): string => `blocks.${l}.hook_mlp_out`,
  /** [T, D] (only the last layer's is an output: row L of Trace.resid) */ residPost: (l: number): string => `blocks.${l}.hook_resid_post`,
} as const;

/** The Trace arrays the instrumented graph fills. */
export type ForwardArray = 'embed' | 'posEmbed' | 'resid' | 'residMid' | 'ln1Scale' | 'ln2Scale' | 'pattern' | 'z' | 'attnOut' | 'mlpOut';

/**
 * Output names of the instrumented graph: each hook stacked over layers in the graph (one Concat
 * copy inside ORT). Measured alternatives were slower: per-layer outputs copied into the Trace
 * arrays in JS fault in every page twice, and preallocated outputs (fetches) were 3× slower at
 * T = 1024 because the binding still returns a fresh copy of each output.
 */
export const FORWARD_OUTPUTS: Readonly<Record<ForwardArray, string>> = {
  /** [T, D] */ embed: HOOKS.embed,
  /** [T, D] */ posEmbed: HOOKS.posEmbed,
  /** [L+1, T, D] resid_pre of each layer, then the last resid_post */ resid: 'resid',
  /** [L, T, D] */ residMid: 'resid_mid',
  /** [L, T] */ ln1Scale: 'ln1_scale',
  /** [L, T] */ ln2Scale: 'ln2_scale',
  /** [L, H, T, T] */ pattern: 'pattern',
  /** [L, T, H, Dh] */ z: 'z',
  /** [L, T, D] */ attnOut: 'attn_out',
  /** [L, T, D] */ mlpOut: 'mlp_out',
};

export const MLP_POST_OUTPUT = 'mlp_post'; // [L, T, M] blocks.{l}.mlp.hook_post

/** Input names shared by the graphs. */
export const INPUTS = {
  /** [T] int64 token ids */ ids: 'input_ids',
  /**
   * [L, P, D] blocks.{l}.hook_resid_pre of positions 0..P−1 (instrumented graph; P may be 0): the
   * ids are then positions P..P+T−1, and every output holds those rows only (src/engine/prefixReuse.ts).
   */
  prefix: 'prefix',
  /** [N, D] residual rows (lens) */ rows: 'rows',
  /** [N] int64 target token per row (lens rank) */ target: 'target',
  /** [] bool: compute the ranks (lens); false skips the pass and `rank` is empty (a trace's head) */ wantRank: 'want_rank',
  /** [1] int64 top-k size */ k: 'k',
  /** [M] int64 rows whose full distribution is wanted (lens; usually empty) */ distRows: 'dist_rows',
  /** [T, H, Dh] one layer's hook_z (headResult) */ z: 'z',
  /** [H, Dh, D] one layer's W_O (headResult) */ wO: 'W_O',
} as const;

/** Output names of the lens graph and of the plain forward graph's head. */
export const LENS_OUTPUTS = {
  /** [N, k] top-k logits */ topLogits: 'top_logits',
  /** [N, k] int64 top-k ids */ topIds: 'top_ids',
  /** [N, k] softmax probabilities of the top-k: exp(log_softmax) = exp(logit − logsumexp) */ topProbs: 'top_probs',
  /** [N] int32 count of logits strictly above the target's (0 = top-1); [0] when want_rank is false */ rank: 'rank',
  /** [N] ln_final.hook_scale of each row */ scale: 'ln_final_scale',
  /** [M, V] full softmax of the rows named in dist_rows */ dist: 'dist',
} as const;

export const HEAD_RESULT_OUTPUT = 'head_result'; // [T, H, D] blocks.{l}.attn.hook_result

const OPSET = 17;

/** Shared helpers for one graph under construction. */
export class Builder {
  readonly g: GraphBuilder;
  private readonly ints = new Map<string, string>();
  private readonly weights = new Map<string, string>();

  constructor(
    name: string,
    readonly config: ModelConfig,
    private readonly locate?: WeightLocator,
  ) {
    this.g = new GraphBuilder(name, OPSET);
  }

  /** An external F32 weight by canonical name (declared once, however often it is read). */
  weight(name: string, dims: readonly number[]): string {
    if (!this.locate) throw new Error(`graph ${name}: no weights for this graph`);
    let value = this.weights.get(name);
    if (!value) {
      value = this.g.external(name, dims, this.locate(name, dims));
      this.weights.set(name, value);
    }
    return value;
  }

  /** A reused int64 1-D constant. */
  ints1(values: readonly number[]): string {
    const key = values.join(',');
    let name = this.ints.get(key);
    if (!name) {
      name = this.g.constInts(values);
      this.ints.set(key, name);
    }
    return name;
  }

  /** LayerNormalization over the last axis; with `scaleName`, also hook_scale [rows, 1] under that name. */
  layerNorm(x: string, weight: string, bias: string, scaleName?: string): { y: string; scale?: string } {
    const [y, , invStd] = this.g.node('LayerNormalization', [x, weight, bias], scaleName ? 3 : 1, {
      axis: { i: -1 },
      epsilon: { f: this.config.layerNormEps },
    });
    // hook_scale is sqrt(var + eps); ORT gives its inverse.
    return { y, scale: scaleName ? this.g.op('Reciprocal', [invStd], {}, scaleName) : undefined };
  }

  /** x @ W + b for a Conv1D weight stored [in, out]. */
  linear(x: string, prefix: string, dIn: number, dOut: number, name?: string): string {
    const w = this.weight(`${prefix}.weight`, [dIn, dOut]);
    const b = this.weight(`${prefix}.bias`, [dOut]);
    return this.g.op('Add', [this.g.op('MatMul', [x, w]), b], {}, name);
  }

  /** Stacks same-shaped tensors along a new axis 0, named `name`. */
  stack(values: readonly string[], name: string): string {
    const axis = this.ints1([0]);
    const unsq = values.map((v) => this.g.op('Unsqueeze', [v, axis]));
    return this.g.op('Concat', unsq, { axis: { i: 0 } }, name);
  }

  /** [rows, 1] scales of every layer → [L, rows], named `name`. */
  stackScales(values: readonly string[], name: string): string {
    const cat = this.g.op('Concat', [...values], { axis: { i: 1 } });
    return this.g.op('Transpose', [cat], { perm: { ints: [1, 0] } }, name);
  }

  /**
   * GELU, tanh form, of x @ W + b (the MLP's first layer): 0.5·h·(1 + tanh(√(2/π)·(h + 0.044715·h³))),
   * h = x @ W + b. One com.microsoft FastGelu (the same formula, bias add fused, one vectorised
   * pass): the element-wise chain it replaces took 4–5 ms of a 32-token GPT-2-small trace on 2
   * threads (ORT profile), FastGelu under 1 ms. Checked against the pure-TS reference in tests.
   */
  geluLinear(x: string, prefix: string, dIn: number, dOut: number, name?: string): string {
    const w = this.weight(`${prefix}.weight`, [dIn, dOut]);
    const bias = this.weight(`${prefix}.bias`, [dOut]);
    return this.g.node('FastGelu', [this.g.op('MatMul', [x, w]), bias], 1, {}, name === undefined ? undefined : [name], 'com.microsoft')[0];
  }
}

/**
 * ids → blocks → final residual. With `hooks`, every hook value gets its TransformerLens name
 * (HOOKS) and is declared a graph output; the computation is the same either way.
 *
 * With `prefix` ([L, P, D] resid_pre rows of the positions before the ids), the ids are positions
 * P..P+S−1 (S = their count) and every value is computed for those S rows only; keys and values of
 * the P earlier positions come from layer l's prefix rows, put in front of the suffix rows before
 * ln_1 so that one c_attn MatMul serves both (at these sizes it is bound by reading the weight, so
 * the P prefix rows' unused Q columns cost little; a K/V-only product would need a second copy of
 * two thirds of c_attn). With P = 0 the values are exactly those of the graph without a prefix.
 */
export function buildBlocks(b: Builder, ids: string, hooks: boolean, prefix?: string): string {
  const { g, config: c } = b;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh, dMlp: M, nCtx } = c;
  const name = (hook: string): string | undefined => (hooks ? hook : undefined);
  const wte = b.weight('wte.weight', [c.dVocab, D]);
  const wpe = b.weight('wpe.weight', [nCtx, D]);
  const S = g.op('Shape', [ids]); // [1] rows computed
  const P = prefix ? g.op('Shape', [prefix], { start: { i: 1 }, end: { i: 2 } }) : b.ints1([0]); // [1] rows given
  const T = prefix ? g.op('Add', [P, S]) : S; // [1] all positions (keys)
  const embed = g.op('Gather', [wte, ids], { axis: { i: 0 } }, name(HOOKS.embed));
  const posEmbed = g.op('Slice', [wpe, P, T, b.ints1([0])], {}, name(HOOKS.posEmbed));

  // Causal mask: [S, T] slice of a precomputed [n_ctx, n_ctx] table, 0 on and below the diagonal,
  // -inf above (exact zeros after softmax). The caller checks T ≤ n_ctx: Slice would clamp silently.
  const table = new Float32Array(nCtx * nCtx);
  for (let q = 0; q < nCtx; q++) table.fill(-Infinity, q * nCtx + q + 1, (q + 1) * nCtx);
  const maskTable = g.floats('causal_mask_table', [nCtx, nCtx], table);
  // Rows P..T−1 (the queries computed) against all T keys.
  const maskStarts = prefix ? g.op('Concat', [P, b.ints1([0])], { axis: { i: 0 } }) : b.ints1([0, 0]);
  const mask = g.op('Slice', [maskTable, maskStarts, g.op('Concat', [T, T], { axis: { i: 0 } }), b.ints1([0, 1])]);
  const attnScale = g.constFloat(1 / Math.sqrt(Dh));
  const splitSizes = b.ints1([D, D, D]);
  const headShape = b.ints1([0, H, Dh]);
  const flatShape = b.ints1([0, D]);

  let resid = g.op('Add', [embed, posEmbed], {}, name(HOOKS.residPre(0)));
  for (let l = 0; l < L; l++) {
    const p = `h.${l}`;
    // With a prefix: its rows, then the suffix's ([T, D]); ln_1 and c_attn run over all T rows,
    // and the hook scale and the queries keep the suffix rows.
    const layerPrefix = prefix ? g.op('Gather', [prefix, g.int64s(`prefix_layer_${l}`, [], [l])], { axis: { i: 0 } }) : undefined; // [P, D]
    const rows = layerPrefix ? g.op('Concat', [layerPrefix, resid], { axis: { i: 0 } }) : resid; // [T, D]
    const ln1ScaleName = hooks ? (prefix ? `${p}.ln1_scale_all_rows` : HOOKS.ln1Scale(l)) : undefined;
    const ln1 = b.layerNorm(rows, b.weight(`${p}.ln_1.weight`, [D]), b.weight(`${p}.ln_1.bias`, [D]), ln1ScaleName);
    if (prefix && hooks) g.op('Slice', [ln1.scale as string, P, T, b.ints1([0])], {}, HOOKS.ln1Scale(l));
    const qkv = b.linear(ln1.y, `${p}.attn.c_attn`, D, 3 * D); // [T, 3D]
    const [qAll, k, v] = g.node('Split', [qkv, splitSizes], 3, { axis: { i: 1 } });
    const q = prefix ? g.op('Slice', [qAll, P, T, b.ints1([0])]) : qAll; // [S, D]
    const qh = g.op('Transpose', [g.op('Reshape', [q, headShape])], { perm: { ints: [1, 0, 2] } }); // [H, S, Dh]
    const kh = g.op('Transpose', [g.op('Reshape', [k, headShape])], { perm: { ints: [1, 2, 0] } }); // [H, Dh, T]
    const vh = g.op('Transpose', [g.op('Reshape', [v, headShape])], { perm: { ints: [1, 0, 2] } }); // [H, T, Dh]
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [qh, kh]), attnScale]), mask]); // [H, S, T]
    const pattern = g.op('Softmax', [scores], { axis: { i: -1 } }, name(HOOKS.pattern(l)));
    const z = g.op('Transpose', [g.op('MatMul', [pattern, vh])], { perm: { ints: [1, 0, 2] } }, name(HOOKS.z(l))); // [T, H, Dh]
    const attnOut = b.linear(g.op('Reshape', [z, flatShape]), `${p}.attn.c_proj`, D, D, name(HOOKS.attnOut(l)));
    const residMid = g.op('Add', [resid, attnOut], {}, name(HOOKS.residMid(l)));
    const ln2 = b.layerNorm(residMid, b.weight(`${p}.ln_2.weight`, [D]), b.weight(`${p}.ln_2.bias`, [D]), name(HOOKS.ln2Scale(l)));
    const post = b.geluLinear(ln2.y, `${p}.mlp.c_fc`, D, M); // [T, M]
    const mlpOut = b.linear(post, `${p}.mlp.c_proj`, M, D, name(HOOKS.mlpOut(l)));
    resid = g.op('Add', [residMid, mlpOut], {}, name(l === L - 1 ? HOOKS.residPost(l) : HOOKS.residPre(l + 1)));
  }
  return resid;
}
/**
 * Appends ln_final → logits (Gemm against W_E, transB) → top-k / probabilities / rank / distributions.
 * `target` with `wantRank`, and `distRows`, are optional: the plain forward graph only needs the top-k.
 *
 * Probabilities come from LogSoftmax (one vectorised pass; ReduceLogSumExp measured 2× slower at
 * 128 rows): top-k is taken on log-probabilities (same order as the logits) and the logits are
 * gathered back by id. Measured in bench/engine.ts.
 */
export function buildUnembedHead(b: Builder, rows: string, k: string, target: string | undefined, wantRank: string | undefined, distRows: string | undefined): void {
  const { g, config: c } = b;
  const { dModel: D, dVocab: V } = c;
  const ln = b.layerNorm(rows, b.weight('ln_f.weight', [D]), b.weight('ln_f.bias', [D]), 'ln_final_scale_column');
  // W_U: 'lm_head.weight', which the checkpoint aliases to wte.weight unless a fine-tune stores an untied head.
  const logits = g.op('Gemm', [ln.y, b.weight('lm_head.weight', [V, D])], { transB: { i: 1 } }); // [N, V]
  const logProbs = g.op('LogSoftmax', [logits], { axis: { i: -1 } }); // [N, V]
  const [topLogProbs] = g.node('TopK', [logProbs, k], 2, { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, ['top_log_probs', LENS_OUTPUTS.topIds]);
  g.op('GatherElements', [logits, LENS_OUTPUTS.topIds], { axis: { i: 1 } }, LENS_OUTPUTS.topLogits);
  g.op('Exp', [topLogProbs], {}, LENS_OUTPUTS.topProbs);
  g.op('Reshape', [ln.scale as string, b.ints1([-1])], {}, LENS_OUTPUTS.scale);
  g.output(LENS_OUTPUTS.topLogits, DataType.FLOAT, ['rows', 'k']);
  g.output(LENS_OUTPUTS.topIds, DataType.INT64, ['rows', 'k']);
  g.output(LENS_OUTPUTS.topProbs, DataType.FLOAT, ['rows', 'k']);
  g.output(LENS_OUTPUTS.scale, DataType.FLOAT, ['rows']);
  if (target && wantRank) {
    // Rank = how many logits are strictly above the target's: compare and count, in the graph.
    // Behind If: a trace's head wants no ranks (128 rows: 60.3 ms without the pass, 63.3 with it,
    // bench/rankCount.ts).
    const ranks = g.subgraph('rank_pass');
    const targetLogit = ranks.op('GatherElements', [logits, ranks.op('Unsqueeze', [target, b.ints1([1])])], { axis: { i: 1 } }); // [N, 1]
    const rank = countAbove(ranks, logits, targetLogit, onesColumn(g, c.dVocab));
    ranks.output(rank, DataType.INT32, ['rows']);
    const noRanks = g.subgraph('no_rank_pass');
    const none = noRanks.op('Identity', [g.raw('no_ranks', [0], DataType.INT32, new Uint8Array(0))]);
    noRanks.output(none, DataType.INT32, [0]);
    g.op('If', [wantRank], { then_branch: { graph: ranks }, else_branch: { graph: noRanks } }, LENS_OUTPUTS.rank);
    g.output(LENS_OUTPUTS.rank, DataType.INT32, ['rank_rows']);
  }
  if (distRows) {
    g.op('Exp', [g.op('Gather', [logProbs, distRows], { axis: { i: 0 } })], {}, LENS_OUTPUTS.dist); // [M, V]
    g.output(LENS_OUTPUTS.dist, DataType.FLOAT, ['dist_rows', V]);
  }
}

/** [V, 1] int8 ones: the column countAbove multiplies by. */
export function onesColumn(g: GraphBuilder, V: number): string {
  return g.raw('ones_column', [V, 1], DataType.INT8, new Uint8Array(V).fill(1));
}

/**
 * [N] int32: how many of each row's values [N, V] are strictly above the row's limit [N, 1].
 * Counted by a uint8 × int8 MatMulInteger of the comparison against a column of ones (int32 sums:
 * exact), which reads the [N, V] comparison once as bytes; Cast to float + ReduceSum wrote and read
 * it as floats and took about twice as long (9.1 vs 4.2 ms over [166, 50257], bench/rankCount.ts).
 * `g` may be a subgraph.
 */
export function countAbove(g: GraphBuilder, values: string, limit: string, ones: string): string {
  const above = g.op('Cast', [g.op('Greater', [values, limit])], { to: { i: DataType.UINT8 } }); // [N, V] 0/1
  const count = g.op('MatMulInteger', [above, ones]); // [N, 1] int32
  return g.op('Reshape', [count, g.constInts([-1])]);
}

/**
 * The instrumented forward graph (inputs ids [T] and prefix [L, P, D]; outputs: FORWARD_OUTPUTS, the
 * rows of the T positions P..P+T−1; pattern [L, H, T, P+T]). A full forward passes P = 0.
 */
export function buildInstrumentedGraph(config: ModelConfig, locate: WeightLocator): Uint8Array {
  const b = new Builder('residual_lens_instrumented', config, locate);
  const { g } = b;
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = config;
  const ids = g.input(INPUTS.ids, DataType.INT64, ['T']);
  const prefix = g.input(INPUTS.prefix, DataType.FLOAT, [L, 'P', D]);
  buildBlocks(b, ids, true, prefix);
  const layers = (hook: (l: number) => string): string[] => Array.from({ length: L }, (_, l) => hook(l));
  const o = FORWARD_OUTPUTS;
  b.stack([...layers(HOOKS.residPre), HOOKS.residPost(L - 1)], o.resid);
  b.stack(layers(HOOKS.residMid), o.residMid);
  b.stackScales(layers(HOOKS.ln1Scale), o.ln1Scale);
  b.stackScales(layers(HOOKS.ln2Scale), o.ln2Scale);
  b.stack(layers(HOOKS.pattern), o.pattern);
  b.stack(layers(HOOKS.z), o.z);
  b.stack(layers(HOOKS.attnOut), o.attnOut);
  b.stack(layers(HOOKS.mlpOut), o.mlpOut);
  g.output(o.embed, DataType.FLOAT, ['T', D]);
  g.output(o.posEmbed, DataType.FLOAT, ['T', D]);
  g.output(o.resid, DataType.FLOAT, [L + 1, 'T', D]);
  g.output(o.residMid, DataType.FLOAT, [L, 'T', D]);
  g.output(o.ln1Scale, DataType.FLOAT, [L, 'T']);
  g.output(o.ln2Scale, DataType.FLOAT, [L, 'T']);
  g.output(o.pattern, DataType.FLOAT, [L, H, 'T', 'keys']); // keys = P + T
  g.output(o.z, DataType.FLOAT, [L, 'T', H, Dh]);
  g.output(o.attnOut, DataType.FLOAT, [L, 'T', D]);
  g.output(o.mlpOut, DataType.FLOAT, [L, 'T', D]);
  return g.build();
}

/** The plain forward graph: ids, k → top-k logits / ids / probs and ln_final scale, no hooks. */
export function buildPlainGraph(config: ModelConfig, locate: WeightLocator): Uint8Array {
  const b = new Builder('residual_lens_plain', config, locate);
  const ids = b.g.input(INPUTS.ids, DataType.INT64, ['T']);
  const k = b.g.input(INPUTS.k, DataType.INT64, [1]);
  const final = buildBlocks(b, ids, false);
  buildUnembedHead(b, final, k, undefined, undefined, undefined);
  return b.g.build();
}

/** The lens graph (inputs rows, target, k, dist_rows; outputs LENS_OUTPUTS). */
export function buildLensGraph(config: ModelConfig, locate: WeightLocator): Uint8Array {
  const b = new Builder('residual_lens_lens', config, locate);
  const { g } = b;
  const rows = g.input(INPUTS.rows, DataType.FLOAT, ['rows', config.dModel]);
  const target = g.input(INPUTS.target, DataType.INT64, ['rows']);
  const k = g.input(INPUTS.k, DataType.INT64, [1]);
  const wantRank = g.input(INPUTS.wantRank, DataType.BOOL, []);
  const distRows = g.input(INPUTS.distRows, DataType.INT64, ['dist_rows']);
  buildUnembedHead(b, rows, k, target, wantRank, distRows);
  return g.build();
}

/** blocks.{l}.hook_resid_mid [T, D] of every layer (inputs) → mlp.hook_post stacked [L, T, M]. */
export function buildMlpPostGraph(config: ModelConfig, locate: WeightLocator): Uint8Array {
  const b = new Builder('residual_lens_mlp_post', config, locate);
  const { g } = b;
  const { nLayer: L, dModel: D, dMlp: M } = config;
  for (let l = 0; l < L; l++) {
    const x = g.input(HOOKS.residMid(l), DataType.FLOAT, ['T', D]);
    const ln2 = b.layerNorm(x, b.weight(`h.${l}.ln_2.weight`, [D]), b.weight(`h.${l}.ln_2.bias`, [D]));
    b.geluLinear(ln2.y, `h.${l}.mlp.c_fc`, D, M, HOOKS.mlpPost(l));
  }
  b.stack(Array.from({ length: L }, (_, l) => HOOKS.mlpPost(l)), MLP_POST_OUTPUT);
  g.output(MLP_POST_OUTPUT, DataType.FLOAT, [L, 'T', M]);
  return g.build();
}

/** hook_z [T, H, Dh] and W_O [H, Dh, D] → attn.hook_result [T, H, D] (each head's write, bias excluded). */
export function buildHeadResultGraph(config: ModelConfig): Uint8Array {
  const b = new Builder('residual_lens_head_result', config);
  const { g } = b;
  const { nHead: H, dModel: D, dHead: Dh } = config;
  const z = g.input(INPUTS.z, DataType.FLOAT, ['T', H, Dh]);
  const wO = g.input(INPUTS.wO, DataType.FLOAT, [H, Dh, D]);
  const zh = g.op('Transpose', [z], { perm: { ints: [1, 0, 2] } }); // [H, T, Dh]
  const result = g.op('MatMul', [zh, wO]); // [H, T, D]
  g.op('Transpose', [result], { perm: { ints: [1, 0, 2] } }, HEAD_RESULT_OUTPUT);
  g.output(HEAD_RESULT_OUTPUT, DataType.FLOAT, ['T', H, D]);
  return g.build();
}

export const MATMUL_OUTPUT = 'C'; // [m, n]

/** C = A · B for any [m, k] · [k, n] (the circuits analyses' large products; the bench's peak GFLOP/s). */
export function buildMatMulGraph(): Uint8Array {
  const g = new GraphBuilder('residual_lens_matmul', OPSET);
  const a = g.input('A', DataType.FLOAT, ['m', 'k']);
  const b = g.input('B', DataType.FLOAT, ['k', 'n']);
  g.op('MatMul', [a, b], {}, MATMUL_OUTPUT);
  g.output(MATMUL_OUTPUT, DataType.FLOAT, ['m', 'n']);
  return g.build();
}
