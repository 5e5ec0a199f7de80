/**
 * Weights as TransformerLens processes them by default (`fold_ln=True`, `center_writing_weights=True`),
 * split per head. Row-vector convention: a head reads x·W_Q, writes z·W_O; W_OV = W_V W_O, W_QK = W_Q W_Kᵀ.
 *
 * fold_ln: every matrix that reads the stream after a LayerNorm gets the LN gain folded in
 * (W ← diag(w_ln) W) and is then centred along d_model (LN's centring makes the mean direction invisible).
 * center_writing_weights: every matrix that writes the stream (W_E, W_pos, W_O, W_out) is centred along
 * d_model. W_U = diag(w_lnf) W_Eᵀ, centred per column (fold_ln), then each row's mean over the vocabulary
 * is removed (center_unembed, also a TransformerLens default: it shifts all logits of an input by the same
 * amount). W_U is never materialised ([D, V] is 150 MB for GPT-2).
 */
import type { ModelConfig, ModelWeights } from '../engine/types';

export interface ProcessedLayer {
  /** [H, D, Dh] folded + centred query weights. */ readonly wQ: Float32Array;
  /** [H, D, Dh] */ readonly wK: Float32Array;
  /** [H, D, Dh] */ readonly wV: Float32Array;
  /** [H, Dh, D] centred output weights. */ readonly wO: Float32Array;
  /** [D, M] folded + centred MLP input weights. */ readonly wIn: Float32Array;
  /** [M, D] centred MLP output weights. */ readonly wOut: Float32Array;
}

export interface ProcessedWeights {
  readonly config: ModelConfig;
  readonly layers: readonly ProcessedLayer[];
  /** [n_ctx, D] centred positional embedding. */ readonly wPos: Float32Array;
  /** [V, D] the raw token embedding (centred rows are made on the fly by embedRow). */ readonly wte: Float32Array;
  /** [V, D] row t is the raw W_U[:, t]: wte when tied, else the untied lm_head.weight. */ readonly unembed: Float32Array;
  /** [D] final LayerNorm gain, folded into W_U. */ readonly lnFinalWeight: Float32Array;
  /** [V] mean over d_model of w_lnf ⊙ wte[t]: subtracting it centres W_U's column t. */ readonly unembedMean: Float32Array;
  /** [D] mean over the vocabulary of the d_model-centred W_U's rows (center_unembed subtracts it from every column). */
  readonly unembedVocabMean: Float64Array;
}

const cache = new WeakMap<ModelWeights, ProcessedWeights>();

/** Processed weights, computed once per ModelWeights object. */
export function processWeights(weights: ModelWeights): ProcessedWeights {
  const hit = cache.get(weights);
  if (hit) return hit;
  const processed = computeProcessed(weights);
  cache.set(weights, processed);
  return processed;
}

function computeProcessed(weights: ModelWeights): ProcessedWeights {
  const c = weights.config;
  const { dModel: D, nHead: H, dHead: Dh, dMlp: M, dVocab: V } = c;
  const layers = weights.layers.map((lw): ProcessedLayer => {
    const wQ = new Float32Array(H * D * Dh);
    const wK = new Float32Array(H * D * Dh);
    const wV = new Float32Array(H * D * Dh);
    const parts = [wQ, wK, wV];
    for (let part = 0; part < 3; part++) {
      const out = parts[part]!;
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < D; i++) {
          const g = lw.ln1Weight[i] as number;
          const src = i * 3 * D + part * D + h * Dh;
          const dst = (h * D + i) * Dh;
          for (let j = 0; j < Dh; j++) out[dst + j] = g * (lw.attnWeight[src + j] as number);
        }
        centreColumns(out, h * D * Dh, D, Dh);
      }
    }
    const wO = Float32Array.from(lw.attnProjWeight); // [D(= H·Dh), D]: head h owns rows h·Dh…
    centreRows(wO, D, D);
    const wIn = new Float32Array(D * M);
    for (let i = 0; i < D; i++) {
      const g = lw.ln2Weight[i] as number;
      for (let m = 0; m < M; m++) wIn[i * M + m] = g * (lw.fcWeight[i * M + m] as number);
    }
    centreColumns(wIn, 0, D, M);
    const wOut = Float32Array.from(lw.mlpProjWeight);
    centreRows(wOut, M, D);
    return { wQ, wK, wV, wO, wIn, wOut };
  });
  const wPos = Float32Array.from(weights.wpe);
  centreRows(wPos, c.nCtx, D);
  const unembed = weights.lmHead ?? weights.wte;
  const unembedMean = new Float32Array(V);
  for (let t = 0; t < V; t++) {
    let s = 0;
    for (let i = 0; i < D; i++) s += (weights.lnFinalWeight[i] as number) * (unembed[t * D + i] as number);
    unembedMean[t] = s / D;
  }
  const unembedVocabMean = new Float64Array(D);
  for (let t = 0; t < V; t++) {
    const mean = unembedMean[t] as number;
    for (let i = 0; i < D; i++) unembedVocabMean[i] = (unembedVocabMean[i] as number) + (weights.lnFinalWeight[i] as number) * (unembed[t * D + i] as number) - mean;
  }
  for (let i = 0; i < D; i++) unembedVocabMean[i] = (unembedVocabMean[i] as number) / V;
  return { config: c, layers, wPos, wte: weights.wte, unembed, lnFinalWeight: weights.lnFinalWeight, unembedMean, unembedVocabMean };
}

/** Subtract each column's mean over the rows (the d_model axis of a reading matrix), in place. */
function centreColumns(a: Float32Array, offset: number, rows: number, cols: number): void {
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] = (mean[j] as number) + (a[offset + i * cols + j] as number);
  for (let j = 0; j < cols; j++) mean[j] = (mean[j] as number) / rows;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) a[offset + i * cols + j] = (a[offset + i * cols + j] as number) - (mean[j] as number);
}

/** Subtract each row's mean over its columns (the d_model axis of a writing matrix), in place. */
function centreRows(a: Float32Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += a[i * cols + j] as number;
    const mean = s / cols;
    for (let j = 0; j < cols; j++) a[i * cols + j] = (a[i * cols + j] as number) - mean;
  }
}

/** [Dh, D] view of head h's W_O. */
export function headWO(layer: ProcessedLayer, h: number, cfg: ModelConfig): Float32Array {
  return layer.wO.subarray(h * cfg.dHead * cfg.dModel, (h + 1) * cfg.dHead * cfg.dModel);
}

/** [D, Dh] view of head h's W_Q / W_K / W_V. */
export function headW(matrix: Float32Array, h: number, cfg: ModelConfig): Float32Array {
  return matrix.subarray(h * cfg.dModel * cfg.dHead, (h + 1) * cfg.dModel * cfg.dHead);
}

/** [D] centred W_E row of token t (center_writing_weights). */
export function embedRow(pw: ProcessedWeights, t: number): Float64Array {
  const D = pw.config.dModel;
  const row = new Float64Array(D);
  let s = 0;
  for (let i = 0; i < D; i++) s += pw.wte[t * D + i] as number;
  const mean = s / D;
  for (let i = 0; i < D; i++) row[i] = (pw.wte[t * D + i] as number) - mean;
  return row;
}

/** [D] processed W_U[:, t] = centred (w_lnf ⊙ wte[t]) minus the vocabulary-mean column. */
export function unembedColumn(pw: ProcessedWeights, t: number): Float64Array {
  const D = pw.config.dModel;
  const col = new Float64Array(D);
  const mean = pw.unembedMean[t] as number;
  for (let i = 0; i < D; i++) col[i] = (pw.lnFinalWeight[i] as number) * (pw.unembed[t * D + i] as number) - mean - (pw.unembedVocabMean[i] as number);
  return col;
}

/** [V] v · W_U[:, t] for every token, without materialising W_U. */
export function projectOnUnembed(pw: ProcessedWeights, v: ArrayLike<number>): Float32Array {
  const { dModel: D, dVocab: V } = pw.config;
  const scaled = new Float64Array(D);
  let total = 0;
  let shift = 0; // v · (vocabulary-mean column), the same for every token
  for (let i = 0; i < D; i++) {
    scaled[i] = (v[i] as number) * (pw.lnFinalWeight[i] as number);
    total += v[i] as number;
    shift += (v[i] as number) * (pw.unembedVocabMean[i] as number);
  }
  const out = new Float32Array(V);
  for (let t = 0; t < V; t++) {
    let s = 0;
    const base = t * D;
    for (let i = 0; i < D; i++) s += (scaled[i] as number) * (pw.unembed[base + i] as number);
    out[t] = s - total * (pw.unembedMean[t] as number) - shift;
  }
  return out;
}
