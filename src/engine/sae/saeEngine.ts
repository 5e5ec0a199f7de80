/**
 * The SAE side of the engine: one loaded SAE and its ORT session; encodes a stored trace's hook
 * activations (saeFeatures), explains one feature (saeFeature), and encodes scan windows
 * (saeScan). The Engine owns one of these and hands it views of its model and stored traces,
 * so nothing here reaches into engine.ts's private state.
 */
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { EngineError } from '../../protocol/engine';
import type { ModelInfo, TokenInfo } from '../types';
import { createSession, floatOutput, floatTensor, int64Tensor, intOutput, type SessionSettings } from '../session';
import { buildSaeGraph, SAE_INPUTS, SAE_LAYER_NORM_EPS, SAE_OUTPUTS, type SaeWeightLocator } from './graph';
import type { LoadSaeParams, SaeFeatureDetail, SaeFeatureParams, SaeFeatures, SaeFeaturesParams, SaeInfo, SaeReconstruction, SaeScanWindow } from './types';
import { SaeError, type SaeConfig } from '../../models/sae/config';
import { checkSaeForModel, openSae, type LoadedSae } from '../../models/sae/load';
import { denormFactor, embeddingPreActivations, encoderInput, lnScaledDirection, logitsOfDirection, reconstructionQuality, sparseTopFeatures, topN, type SaeInputTransform } from '../../analysis/saeFeatures';

/** What the SAE needs of the loaded model. */
export interface SaeModelView {
  readonly info: ModelInfo;
  readonly lnFinalWeight: Float32Array;
  /** W_U[:, id] (= wte row, tied). */
  unembedColumn(id: number): Float32Array;
  /** [V, D] the token embeddings W_E (read once, on first use). */
  tokenEmbeddings(): Float32Array;
  /** [V, D] the unembedding W_Uᵀ: a fine-tune's untied lm_head.weight, else undefined (tied: W_E). */
  untiedUnembedding(): Float32Array | undefined;
}

/** What the SAE needs of a stored trace. */
export interface SaeTraceView {
  readonly traceId: number;
  readonly tokens: readonly TokenInfo[];
  /** [T, D] the activation at the SAE's hook. */
  hookRows(cfg: SaeConfig): Float32Array;
  /** [T] ln_final.hook_scale */
  readonly lnFinalScale: Float32Array;
  /** The top-1 prediction at pos. */
  topId(pos: number): number;
}

const DEFAULT_K = 10;
const MAX_K = 1000;

interface Loaded {
  readonly sae: LoadedSae;
  readonly info: SaeInfo;
  /** The features graph (top-k, L0, reconstruction). */
  readonly session: ort.InferenceSession;
  /** The scan graph (per-feature maxima), created on first use. */
  scanSession?: Promise<ort.InferenceSession>;
  /** Weights that are graph inputs (not F32 in the file), by input name. */
  readonly weightFeeds: Record<string, ort.Tensor>;
  modelFingerprint: string;
}

export class SaeEngine {
  private loaded: Loaded | undefined;

  constructor(private readonly settings: SessionSettings = {}) {}

  get info(): SaeInfo | undefined {
    return this.loaded?.info;
  }

  get config(): SaeConfig | undefined {
    return this.loaded?.sae.config;
  }

  /** The model's token embeddings [V, D] and its unembedding rows (the same array when tied), read once per model. */
  private wte: { readonly fingerprint: string; readonly values: Float32Array; readonly unembed: Float32Array } | undefined;
  private embeddings(model: SaeModelView): Float32Array {
    return this.weightsOf(model).values;
  }
  private unembedding(model: SaeModelView): Float32Array {
    return this.weightsOf(model).unembed;
  }
  private weightsOf(model: SaeModelView): { readonly values: Float32Array; readonly unembed: Float32Array } {
    if (this.wte?.fingerprint !== model.info.fingerprint) {
      const values = model.tokenEmbeddings();
      this.wte = { fingerprint: model.info.fingerprint, values, unembed: model.untiedUnembedding() ?? values };
    }
    return this.wte;
  }

  /** Loads and validates an SAE for the loaded model; the previous one stays loaded on failure. */
  async load(p: LoadSaeParams, model: SaeModelView): Promise<SaeInfo> {
    if (typeof p.folder !== 'string' || p.folder === '') throw new EngineError('bad-input', 'No SAE folder given.');
    const sae = saeCall(() => openSae(p.folder, { name: model.info.name, config: model.info.config }));
    const current = this.loaded;
    if (current && current.sae.fingerprint === sae.fingerprint && current.sae.folder === sae.folder) {
      current.modelFingerprint = model.info.fingerprint;
      return current.info;
    }
    let session: ort.InferenceSession;
    try {
      session = await createSession(buildSaeGraph(sae.config, 'features', locator(sae)), sae.folder, this.settings);
    } catch (err) {
      throw new EngineError('bad-sae', `${sae.weightsPath}: onnxruntime could not build the SAE: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    }
    const { dIn: D, dSae: S } = sae.config;
    const w = sae.weights;
    const weightFeeds: Record<string, ort.Tensor> = {};
    const feed = (name: string, data: Float32Array | undefined, dims: number[]): void => {
      if (data && !sae.f32Offsets.has(name)) weightFeeds[name] = floatTensor(data, dims);
    };
    feed(SAE_INPUTS.wEnc, w.wEnc, [D, S]);
    feed(SAE_INPUTS.bEnc, w.bEnc, [S]);
    feed(SAE_INPUTS.wDec, w.wDec, [S, D]);
    feed(SAE_INPUTS.bDec, w.bDec, [D]);
    feed(SAE_INPUTS.threshold, w.threshold, [S]);
    this.loaded = { sae, info: saeInfo(sae), session, weightFeeds, modelFingerprint: model.info.fingerprint };
    if (current) await releaseLoaded(current);
    return this.loaded.info;
  }

  /** Top features of every position of a stored trace, with L0 and reconstruction quality. */
  async features(p: SaeFeaturesParams, model: SaeModelView, trace: SaeTraceView): Promise<SaeFeatures> {
    const l = this.require(model);
    const k = checkK(p.k ?? DEFAULT_K, l.sae.config.dSae);
    const T = trace.tokens.length;
    const x = trace.hookRows(l.sae.config);
    const out = await this.run(l, x, T, k, [SAE_OUTPUTS.topValues, SAE_OUTPUTS.topIds, SAE_OUTPUTS.l0, SAE_OUTPUTS.saeIn, SAE_OUTPUTS.recon]);
    const sparse = sparseTopFeatures(intOutput(out, SAE_OUTPUTS.topIds), floatOutput(out, SAE_OUTPUTS.topValues));
    const l0f = floatOutput(out, SAE_OUTPUTS.l0);
    const quality = reconstructionQuality(floatOutput(out, SAE_OUTPUTS.saeIn), floatOutput(out, SAE_OUTPUTS.recon), T, l.sae.config.dIn);
    return {
      schema: 1, traceId: trace.traceId, sae: l.info, positions: T, k,
      ids: sparse.ids, values: sparse.values, l0: Int32Array.from(l0f, (v) => Math.round(v)),
      ...quality,
    };
  }

  /** The reconstruction in the hook's space (for splicing the SAE in). */
  async reconstruction(model: SaeModelView, trace: SaeTraceView): Promise<SaeReconstruction> {
    const l = this.require(model);
    const { dIn: D } = l.sae.config;
    const T = trace.tokens.length;
    const x = trace.hookRows(l.sae.config);
    const out = await this.run(l, x, T, 1, [SAE_OUTPUTS.recon]);
    const values = floatOutput(out, SAE_OUTPUTS.recon);
    if (l.sae.config.centreInput) {
      for (let t = 0; t < T; t++) {
        let mean = 0;
        for (let d = 0; d < D; d++) mean += x[t * D + d];
        mean /= D;
        for (let d = 0; d < D; d++) values[t * D + d] += mean;
      }
    }
    return { traceId: trace.traceId, hook: l.sae.config.hookName, positions: T, values };
  }

  /** One feature's logit effects, embedding tokens and (with a trace and position) its DLA. */
  async feature(p: SaeFeatureParams, model: SaeModelView, trace: SaeTraceView | undefined): Promise<SaeFeatureDetail> {
    const l = this.require(model);
    const cfg = l.sae.config;
    const { dIn: D, dSae: S } = cfg;
    checkIndex('feature', p.feature, S);
    const n = checkK(p.n ?? DEFAULT_K, model.info.config.dVocab);
    const V = model.info.config.dVocab;
    const wte = this.embeddings(model);
    const direction = lnScaledDirection(l.sae.weights.wDec, p.feature, D, model.lnFinalWeight);
    const logits = logitsOfDirection(direction, this.unembedding(model), V, D);
    const pre = embeddingPreActivations(p.feature, l.sae.weights.wEnc, l.sae.weights.bEnc, S, wte, V, D, inputTransform(l.sae));
    let dla: SaeFeatureDetail['dla'];
    if (trace && p.pos !== undefined) {
      const T = trace.tokens.length;
      checkIndex('pos', p.pos, T);
      const tokenId = p.tokenId ?? trace.topId(p.pos);
      checkIndex('tokenId', tokenId, V);
      const x = trace.hookRows(cfg).subarray(p.pos * D, (p.pos + 1) * D);
      const out = await this.run(l, x, 1, 1, [SAE_OUTPUTS.saeIn]);
      const activation = await this.activationAt(l, x, p.feature);
      const column = model.unembedColumn(tokenId);
      let s = 0;
      for (let d = 0; d < D; d++) s += direction[d] * column[d];
      const value = (activation * denormFactor(floatOutput(out, SAE_OUTPUTS.saeIn), D, cfg.normalization) * s) / trace.lnFinalScale[p.pos];
      dla = { traceId: trace.traceId, pos: p.pos, tokenId, activation, value };
    }
    return {
      feature: p.feature,
      promoted: topN(logits, n, true),
      suppressed: topN(logits, n, false),
      topEmbeddingTokens: topN(pre, n, true),
      ...(dla ? { dla } : {}),
    };
  }

  /** Each feature's maximum over one window's positions: the scan's input to its top-N heaps. */
  async scanWindow(x: Float32Array, T: number, model: SaeModelView): Promise<SaeScanWindow> {
    const l = this.require(model);
    l.scanSession ??= createSession(buildSaeGraph(l.sae.config, 'scan', locator(l.sae)), l.sae.folder, this.settings);
    const session = await l.scanSession;
    const feeds: Record<string, ort.Tensor> = { [SAE_INPUTS.x]: floatTensor(x, [T, l.sae.config.dIn]) };
    for (const name of [SAE_INPUTS.wEnc, SAE_INPUTS.bEnc, SAE_INPUTS.bDec, SAE_INPUTS.threshold]) if (l.weightFeeds[name]) feeds[name] = l.weightFeeds[name];
    const out = await session.run(feeds);
    const max = floatOutput(out, SAE_OUTPUTS.featureMax);
    const argmax = intOutput(out, SAE_OUTPUTS.featureArgmax);
    let n = 0;
    for (let i = 0; i < max.length; i++) if (max[i] > 0) n++;
    const features = new Int32Array(n);
    const values = new Float32Array(n);
    const at = new Int32Array(n);
    for (let i = 0, j = 0; i < max.length; i++) {
      if (max[i] > 0) {
        features[j] = i;
        values[j] = max[i];
        at[j++] = argmax[i];
      }
    }
    return { features, max: values, argmax: at, positions: T };
  }

  async dispose(): Promise<void> {
    const l = this.loaded;
    this.loaded = undefined;
    this.wte = undefined;
    if (l) await releaseLoaded(l);
  }

  /** The activation of one feature on one row: float64 in TS for ReLU / JumpReLU, the ORT top-k list for TopK. */
  private async activationAt(l: Loaded, x: Float32Array, feature: number): Promise<number> {
    const cfg = l.sae.config;
    if (cfg.activation.kind === 'topk') {
      const out = await this.run(l, x, 1, cfg.activation.k, [SAE_OUTPUTS.topValues, SAE_OUTPUTS.topIds]);
      const at = intOutput(out, SAE_OUTPUTS.topIds).indexOf(feature);
      const value = at >= 0 ? floatOutput(out, SAE_OUTPUTS.topValues)[at] : 0;
      return value > 0 ? value : 0;
    }
    const { dIn: D, dSae: S } = cfg;
    const v = encoderInput(x, D, inputTransform(l.sae));
    let pre = l.sae.weights.bEnc[feature];
    for (let d = 0; d < D; d++) pre += v[d] * l.sae.weights.wEnc[d * S + feature];
    if (cfg.activation.kind === 'jumprelu' && !(pre > (l.sae.weights.threshold as Float32Array)[feature])) return 0;
    return pre > 0 ? pre : 0;
  }

  private async run(l: Loaded, x: Float32Array, T: number, k: number, fetches: string[]): Promise<ort.InferenceSession.OnnxValueMapType> {
    // onnxruntime 1.30's TopK over zero rows raises SIGFPE, which would end the whole process.
    if (T < 1) throw new Error('sae: no positions to encode');
    return l.session.run({ ...l.weightFeeds, [SAE_INPUTS.x]: floatTensor(x, [T, l.sae.config.dIn]), [SAE_INPUTS.k]: int64Tensor([k], [1]) }, fetches);
  }

  private require(model: SaeModelView): Loaded {
    const l = this.loaded;
    if (!l) throw new EngineError('no-sae', 'No SAE is loaded: choose an SAE folder first.');
    if (l.modelFingerprint !== model.info.fingerprint) {
      // A new model was loaded since: the SAE must still fit it.
      saeCall(() => checkSaeForModel(l.sae.config, l.sae.configPath, model.info.name, model.info.config));
      l.modelFingerprint = model.info.fingerprint;
    }
    return l;
  }
}

/** External-data locations of the F32 tensors in sae_weights.safetensors (others become graph inputs). */
function locator(sae: LoadedSae): SaeWeightLocator {
  const location = path.basename(sae.weightsPath);
  return (name, dims) => {
    const offset = sae.f32Offsets.get(name);
    return offset === undefined ? undefined : { location, offset, byteLength: dims.reduce((a, b) => a * b, 1) * 4 };
  };
}

async function releaseLoaded(l: Loaded): Promise<void> {
  const sessions: Promise<ort.InferenceSession>[] = [Promise.resolve(l.session), ...(l.scanSession ? [l.scanSession] : [])];
  await Promise.all(sessions.map((p) => p.then((s) => s.release()).catch(() => undefined)));
}

/** The SAE's input for a row: which stream, centred or not, and why. */
export function describeSaeInput(cfg: SaeConfig): string {
  const stream = cfg.hookName;
  if (!cfg.centreInput) return `${stream} as it is (${cfg.centreInputSource === 'model_from_pretrained_kwargs' ? 'center_writing_weights false in cfg.json' : 'not centred'})`;
  const why = cfg.centreInputSource === 'model_from_pretrained_kwargs' ? 'center_writing_weights true in cfg.json' : 'trained on TransformerLens’s centred GPT-2, its default';
  return `${stream} minus its mean over d_model per token (${why})`;
}

function saeInfo(sae: LoadedSae): SaeInfo {
  const c = sae.config;
  return {
    name: path.basename(sae.folder),
    folder: sae.folder,
    hookName: c.hookName,
    dIn: c.dIn,
    dSae: c.dSae,
    architecture: c.architecture,
    activation: c.activation.kind === 'topk' ? `topk (k = ${c.activation.k})` : c.activation.kind,
    normalizeActivations: c.normalizeActivationsField,
    applyBDecToInput: c.applyBDecToInput,
    modelName: c.modelName,
    tensorDtype: sae.tensorDtype,
    fingerprint: sae.fingerprint,
    centredInput: c.centreInput,
    input: describeSaeInput(c),
    neuronpediaId: c.neuronpediaId,
  };
}

function inputTransform(sae: LoadedSae): SaeInputTransform {
  return { centre: sae.config.centreInput, normalization: sae.config.normalization, bDec: sae.config.applyBDecToInput ? sae.weights.bDec : undefined, layerNormEps: SAE_LAYER_NORM_EPS };
}

/** The rows a stored residual holds for the SAE's hook: resid [L+1, T, D], mlpOut [L, T, D]. */
export function hookRowsOf(cfg: SaeConfig, resid: Float32Array, mlpOut: Float32Array, T: number, D: number): Float32Array {
  const l = cfg.hookLayer;
  if (cfg.hookKind === 'resid_pre') return resid.subarray(l * T * D, (l + 1) * T * D);
  if (cfg.hookKind === 'resid_post') return resid.subarray((l + 1) * T * D, (l + 2) * T * D);
  return mlpOut.subarray(l * T * D, (l + 1) * T * D);
}

function checkK(k: number, max: number): number {
  const limit = Math.min(MAX_K, max);
  if (!Number.isInteger(k) || k < 1 || k > limit) throw new EngineError('bad-input', `k must be a whole number from 1 to ${limit}, got ${k}.`);
  return k;
}

function checkIndex(what: string, value: number, size: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= size) throw new EngineError('bad-input', `${what} ${value} is out of range: 0..${size - 1}.`);
}

function saeCall<R>(fn: () => R): R {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SaeError) throw new EngineError('bad-sae', err.message);
    throw err;
  }
}

