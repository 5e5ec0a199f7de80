/**
 * The documented, versioned JSON of `residual-lens trace --json` (schema 1; see docs/cli-json.md).
 * Only additive changes keep schema 1; anything else bumps it.
 */
import { decodeToken } from '../engine/tokenizer';
import type { Attribution, LensTable, ModelInfo, TokenInfo, Trace } from '../engine/types';

export const TRACE_JSON_SCHEMA = 1;

export interface TraceJsonToken {
  readonly id: number;
  readonly text: string;
  /** [start, end) UTF-16 offsets into `text`; BOS has start = end = 0. */
  readonly start: number;
  readonly end: number;
  readonly partial: boolean;
  readonly special: boolean;
}

export interface TraceJsonPrediction {
  readonly id: number;
  readonly token: string;
  readonly logit: number;
  readonly prob: number;
}

export interface TraceJsonLensEntry {
  readonly id: number;
  readonly token: string;
  readonly prob: number;
}

export interface TraceJsonComponent {
  readonly name: string;
  readonly kind: string;
  readonly layer: number | null;
  readonly head: number | null;
  readonly value: number;
}

export interface TraceJson {
  readonly schema: typeof TRACE_JSON_SCHEMA;
  readonly model: {
    readonly name: string;
    readonly folder: string;
    readonly dtype: 'F32' | 'F16' | 'BF16';
    readonly fingerprint: string;
    readonly n_layer: number;
    readonly n_head: number;
    readonly d_model: number;
    readonly d_head: number;
    readonly d_mlp: number;
    readonly n_ctx: number;
    readonly d_vocab: number;
    readonly layer_norm_eps: number;
    /** How the weights are stored: "safetensors", "sharded-safetensors", "pytorch-bin" or "sharded-pytorch-bin". */
    readonly format: 'safetensors' | 'sharded-safetensors' | 'pytorch-bin' | 'sharded-pytorch-bin';
    /** "tied" (W_U = W_Eᵀ) or "lm_head" (a fine-tune's untied lm_head.weight). */
    readonly unembedding: 'tied' | 'lm_head';
    /** One-line remarks from loading (the untied head, ignored extra tensors). */
    readonly notes: readonly string[];
  };
  readonly text: string;
  readonly prepend_bos: boolean;
  readonly k: number;
  readonly tokens: TraceJsonToken[];
  /** [T][k] the model's next-token predictions, best first. */
  readonly logits_top: TraceJsonPrediction[][];
  /** [L+1][T] L2 norm of the residual before each layer, then after the last. */
  readonly resid_norms: number[][];
  /** [L+1][T][k] logit lens (final LayerNorm applied), best first. */
  readonly logit_lens: TraceJsonLensEntry[][][];
  /** [L+1][T] rank of the actual next token (0 = top-1); null at the last position. */
  readonly next_token_rank: (number | null)[][];
  /** [L][H][T][T] attention patterns [layer][head][query_pos][key_pos]. */
  readonly attention: number[][][][];
  /** Direct logit attribution at the last position to the top predicted token. */
  readonly dla: {
    readonly pos: number;
    readonly token: { readonly id: number; readonly token: string };
    readonly logit: number;
    readonly ln_bias_term: number;
    readonly components: TraceJsonComponent[];
  };
  readonly forward_ms: number;
}

/** float32 values printed with 8 significant digits (all a float32 holds), not 17. */
export function num(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(8)) : v;
}

/** Splits a row-major array into nested arrays of the given shape. */
function nest(data: ArrayLike<number>, shape: readonly number[], offset = 0): unknown[] {
  const [n, ...rest] = shape;
  const stride = rest.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(rest.length === 0 ? num(data[offset + i]) : nest(data, rest, offset + i * stride));
  return out;
}

function tokenJson(t: TokenInfo): TraceJsonToken {
  return { id: t.id, text: t.text, start: t.start, end: t.end, partial: t.partial, special: t.special };
}

function modelJson(m: ModelInfo): TraceJson['model'] {
  const c = m.config;
  return {
    name: m.name, folder: m.folder, dtype: m.dtype, fingerprint: m.fingerprint,
    n_layer: c.nLayer, n_head: c.nHead, d_model: c.dModel, d_head: c.dHead, d_mlp: c.dMlp,
    n_ctx: c.nCtx, d_vocab: c.dVocab, layer_norm_eps: c.layerNormEps,
    format: m.format ?? 'safetensors', unembedding: m.unembedding ?? 'tied', notes: m.notes ?? [],
  };
}

export interface TraceJsonInput {
  readonly trace: Trace;
  readonly lens: LensTable;
  readonly attribution: Attribution;
  /** [L+1, T] */
  readonly residNorms: Float32Array;
  readonly prependBos: boolean;
}

export function traceToJson({ trace, lens, attribution, residNorms, prependBos }: TraceJsonInput): TraceJson {
  const c = trace.model.config;
  const T = trace.tokens.length;
  const L = c.nLayer;
  const top = trace.logitsTop;
  const logitsTop: TraceJsonPrediction[][] = [];
  for (let t = 0; t < T; t++) {
    const row: TraceJsonPrediction[] = [];
    for (let j = 0; j < top.k; j++) {
      const i = t * top.k + j;
      row.push({ id: top.ids[i], token: decodeToken(top.ids[i]), logit: num(top.logits[i]), prob: num(top.probs[i]) });
    }
    logitsTop.push(row);
  }
  const logitLens: TraceJsonLensEntry[][][] = [];
  const ranks: (number | null)[][] = [];
  const k = lens.top.k;
  for (let r = 0; r <= L; r++) {
    const layer: TraceJsonLensEntry[][] = [];
    const rankRow: (number | null)[] = [];
    for (let t = 0; t < T; t++) {
      const cell: TraceJsonLensEntry[] = [];
      for (let j = 0; j < k; j++) {
        const i = (r * T + t) * k + j;
        cell.push({ id: lens.top.ids[i], token: decodeToken(lens.top.ids[i]), prob: num(lens.top.probs[i]) });
      }
      layer.push(cell);
      const rank = lens.nextTokenRank[r * T + t];
      rankRow.push(rank < 0 ? null : rank);
    }
    logitLens.push(layer);
    ranks.push(rankRow);
  }
  return {
    schema: TRACE_JSON_SCHEMA,
    model: modelJson(trace.model),
    text: trace.text,
    prepend_bos: prependBos,
    k: top.k,
    tokens: trace.tokens.map(tokenJson),
    logits_top: logitsTop,
    resid_norms: nest(residNorms, [L + 1, T]) as number[][],
    logit_lens: logitLens,
    next_token_rank: ranks,
    attention: nest(trace.pattern, [L, c.nHead, T, T]) as number[][][][],
    dla: {
      pos: attribution.pos,
      token: { id: attribution.tokenId, token: decodeToken(attribution.tokenId) },
      logit: num(attribution.logit),
      ln_bias_term: num(attribution.lnBiasTerm),
      components: attribution.components.map((label, i) => ({
        name: label.name,
        kind: label.kind,
        layer: label.layer < 0 ? null : label.layer,
        head: label.head < 0 ? null : label.head,
        value: num(attribution.values[i]),
      })),
    },
    forward_ms: Math.round(trace.forwardMs * 100) / 100,
  };
}
