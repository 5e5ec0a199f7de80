/**
 * Writes small random GPT-2 checkpoints in the Hugging Face layout (config.json +
 * model.safetensors) for tests: F32 or F16, keys with or without 'transformer.', with or
 * without lm_head.weight and the attn.bias / attn.masked_bias mask buffers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayerWeights, ModelConfig, ModelWeights } from '../../src/engine/types';
import { roundToBf16, roundToF16, writeSafetensors, type TensorToWrite } from '../../src/engine/safetensors';
import { Random } from './random';

/** The tiny default shape used by engine tests (dVocab need not be 50257). */
export const TINY_CONFIG: ModelConfig = {
  nLayer: 2, nHead: 2, dModel: 16, dHead: 8, dMlp: 64, nCtx: 32, dVocab: 64, layerNormEps: 1e-5,
};

/** A full ModelConfig from a partial one: TINY_CONFIG defaults, dHead = dModel / nHead, dMlp = 4·dModel. */
export function makeConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  const dModel = partial.dModel ?? TINY_CONFIG.dModel;
  const nHead = partial.nHead ?? TINY_CONFIG.nHead;
  if (dModel % nHead !== 0) throw new Error(`makeConfig: dModel ${dModel} is not a multiple of nHead ${nHead}`);
  return {
    nLayer: partial.nLayer ?? TINY_CONFIG.nLayer,
    nHead,
    dModel,
    dHead: partial.dHead ?? dModel / nHead,
    dMlp: partial.dMlp ?? 4 * dModel,
    nCtx: partial.nCtx ?? TINY_CONFIG.nCtx,
    dVocab: partial.dVocab ?? TINY_CONFIG.dVocab,
    layerNormEps: partial.layerNormEps ?? TINY_CONFIG.layerNormEps,
  };
}

/**
 * Small random weights: matrices N(0, (c/√fan-in)²) with c 0.8–1.5, embeddings N(0, 1) and
 * N(0, 0.5²), biases N(0, 0.1²), LayerNorm gains 1 + N(0, 0.1²). Large enough that attention patterns
 * are far from uniform and GELU's curvature matters.
 */
export function randomWeights(config: Partial<ModelConfig> & { seed: number }): ModelWeights {
  const c = makeConfig(config);
  const random = new Random(config.seed);
  const D = c.dModel;
  const M = c.dMlp;
  const matrix = (rows: number, cols: number): Float32Array => random.gaussianArray(rows * cols, 0.8 / Math.sqrt(rows));
  const bias = (n: number): Float32Array => random.gaussianArray(n, 0.1);
  const gain = (n: number): Float32Array => random.gaussianArray(n, 0.1, 1);
  const wte = random.gaussianArray(c.dVocab * D, 1);
  const wpe = random.gaussianArray(c.nCtx * D, 0.5);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    layers.push({
      ln1Weight: gain(D), ln1Bias: bias(D),
      // Queries and keys a little larger so softmax is peaked, not uniform.
      attnWeight: random.gaussianArray(D * 3 * D, 1.5 / Math.sqrt(D)), attnBias: bias(3 * D),
      attnProjWeight: matrix(D, D), attnProjBias: bias(D),
      ln2Weight: gain(D), ln2Bias: bias(D),
      fcWeight: random.gaussianArray(D * M, 1.5 / Math.sqrt(D)), fcBias: bias(M),
      mlpProjWeight: matrix(M, D), mlpProjBias: bias(D),
    });
  }
  return { config: c, wte, wpe, layers, lnFinalWeight: gain(D), lnFinalBias: bias(D) };
}

export interface WriteCheckpointOptions {
  /** Dtype of every tensor in the file. Default 'F32'. */
  readonly dtype?: 'F32' | 'F16';
  /** Write keys as 'transformer.wte.weight' (GPT2LMHeadModel) instead of 'wte.weight' (GPT2Model). Default false. */
  readonly prefix?: boolean;
  /** Also write lm_head.weight = wte (tied unembedding, as some exports do). Default false. */
  readonly lmHead?: boolean;
  /** Also write h.{l}.attn.bias [1, 1, n_ctx, n_ctx] and h.{l}.attn.masked_bias [] buffers. Default false. */
  readonly maskBuffers?: boolean;
  /** Extra fields merged into config.json (e.g. to make it lie). */
  readonly configOverrides?: Record<string, unknown>;
}

/** Canonical name → weights entry, in the order Hugging Face GPT-2 files list them. */
export function canonicalTensors(weights: ModelWeights): { name: string; shape: number[]; data: Float32Array }[] {
  const c = weights.config;
  const D = c.dModel;
  const M = c.dMlp;
  const out: { name: string; shape: number[]; data: Float32Array }[] = [
    { name: 'wte.weight', shape: [c.dVocab, D], data: weights.wte },
    { name: 'wpe.weight', shape: [c.nCtx, D], data: weights.wpe },
  ];
  weights.layers.forEach((layer, l) => {
    out.push(
      { name: `h.${l}.ln_1.weight`, shape: [D], data: layer.ln1Weight },
      { name: `h.${l}.ln_1.bias`, shape: [D], data: layer.ln1Bias },
      { name: `h.${l}.attn.c_attn.weight`, shape: [D, 3 * D], data: layer.attnWeight },
      { name: `h.${l}.attn.c_attn.bias`, shape: [3 * D], data: layer.attnBias },
      { name: `h.${l}.attn.c_proj.weight`, shape: [D, D], data: layer.attnProjWeight },
      { name: `h.${l}.attn.c_proj.bias`, shape: [D], data: layer.attnProjBias },
      { name: `h.${l}.ln_2.weight`, shape: [D], data: layer.ln2Weight },
      { name: `h.${l}.ln_2.bias`, shape: [D], data: layer.ln2Bias },
      { name: `h.${l}.mlp.c_fc.weight`, shape: [D, M], data: layer.fcWeight },
      { name: `h.${l}.mlp.c_fc.bias`, shape: [M], data: layer.fcBias },
      { name: `h.${l}.mlp.c_proj.weight`, shape: [M, D], data: layer.mlpProjWeight },
      { name: `h.${l}.mlp.c_proj.bias`, shape: [D], data: layer.mlpProjBias },
    );
  });
  out.push({ name: 'ln_f.weight', shape: [D], data: weights.lnFinalWeight }, { name: 'ln_f.bias', shape: [D], data: weights.lnFinalBias });
  return out;
}

export type FloatDtype = 'F32' | 'F16' | 'BF16';

/** Every tensor rounded to what a file of `dtype` holds (F32: unchanged); lmHead included. */
export function roundWeights(weights: ModelWeights, dtype: FloatDtype): ModelWeights {
  if (dtype === 'F32') return weights;
  const r = dtype === 'F16' ? roundToF16 : roundToBf16;
  return {
    config: weights.config,
    wte: r(weights.wte),
    wpe: r(weights.wpe),
    layers: weights.layers.map((x) => ({
      ln1Weight: r(x.ln1Weight), ln1Bias: r(x.ln1Bias), attnWeight: r(x.attnWeight), attnBias: r(x.attnBias),
      attnProjWeight: r(x.attnProjWeight), attnProjBias: r(x.attnProjBias), ln2Weight: r(x.ln2Weight), ln2Bias: r(x.ln2Bias),
      fcWeight: r(x.fcWeight), fcBias: r(x.fcBias), mlpProjWeight: r(x.mlpProjWeight), mlpProjBias: r(x.mlpProjBias),
    })),
    lnFinalWeight: r(weights.lnFinalWeight),
    lnFinalBias: r(weights.lnFinalBias),
    ...(weights.lmHead ? { lmHead: r(weights.lmHead) } : {}),
  };
}

/** Every tensor rounded to F16 precision (what an F16 file holds). */
export function roundWeightsToF16(weights: ModelWeights): ModelWeights {
  return roundWeights(weights, 'F16');
}

/** The config.json Hugging Face writes for GPT-2 (the fields our loader reads, plus the usual extras). */
export function hfConfigJson(config: ModelConfig): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    n_layer: config.nLayer,
    n_head: config.nHead,
    n_embd: config.dModel,
    n_positions: config.nCtx,
    n_ctx: config.nCtx,
    vocab_size: config.dVocab,
    n_inner: config.dMlp === 4 * config.dModel ? null : config.dMlp,
    layer_norm_epsilon: config.layerNormEps,
    bos_token_id: 50256,
    eos_token_id: 50256,
  };
}

/**
 * Writes `folder`/config.json and `folder`/model.safetensors (the folder is created).
 * Returns the weights as stored: for F16, every value rounded to F16, so a reference forward
 * on the result matches what a loader reads exactly.
 */
export function writeCheckpoint(folder: string, weights: ModelWeights, opts: WriteCheckpointOptions = {}): ModelWeights {
  const dtype = opts.dtype ?? 'F32';
  const stored = dtype === 'F16' ? roundWeightsToF16(weights) : weights;
  const c = stored.config;
  const key = (name: string): string => (opts.prefix === true ? `transformer.${name}` : name);
  const tensors: TensorToWrite[] = [];
  for (const t of canonicalTensors(stored)) {
    tensors.push({ name: key(t.name), dtype, shape: t.shape, data: t.data });
    if (opts.maskBuffers === true && t.name.endsWith('.attn.c_proj.bias')) {
      const l = t.name.split('.')[1];
      tensors.push({ name: key(`h.${l}.attn.bias`), dtype: 'F32', shape: [1, 1, c.nCtx, c.nCtx], data: causalMask(c.nCtx) });
      tensors.push({ name: key(`h.${l}.attn.masked_bias`), dtype: 'F32', shape: [], data: new Float32Array([-1e4]) });
    }
  }
  if (opts.lmHead === true) tensors.push({ name: 'lm_head.weight', dtype, shape: [c.dVocab, c.dModel], data: stored.wte });

  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'config.json'), `${JSON.stringify({ ...hfConfigJson(c), ...opts.configOverrides }, null, 2)}\n`);
  writeSafetensors(path.join(folder, 'model.safetensors'), tensors, { format: 'pt' });
  return stored;
}

/** randomWeights + writeCheckpoint in one call; returns the weights as stored. */
export function writeRandomCheckpoint(folder: string, config: Partial<ModelConfig> & { seed: number }, opts: WriteCheckpointOptions = {}): ModelWeights {
  return writeCheckpoint(folder, randomWeights(config), opts);
}

/** A fresh folder under os.tmpdir(); remove it with removeTempFolder. */
export function makeTempFolder(label = 'residual-lens-test'): string {
  return fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), `${label}-`));
}

export function removeTempFolder(folder: string): void {
  fs.rmSync(folder, { recursive: true, force: true });
}

/** [n_ctx, n_ctx] lower-triangular ones, as GPT-2's attn.bias buffer stores it. */
function causalMask(nCtx: number): Float32Array {
  const mask = new Float32Array(nCtx * nCtx);
  for (let i = 0; i < nCtx; i++) for (let j = 0; j <= i; j++) mask[i * nCtx + j] = 1;
  return mask;
}
