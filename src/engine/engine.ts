/**
 * The engine in-process: loads a checkpoint into ORT sessions and answers the requests of
 * EngineMethods (src/protocol/engine.ts). The worker, the CLI and the tests all use this class.
 *
 * Sessions per model: the instrumented forward and the lens graph at load; the mlp.hook_post
 * graph and the per-head result graph lazily, on first use. The last few traces are kept (LRU,
 * bounded by count and bytes: traceStore.ts) for lens / attribution / head-result requests that name them.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ensureF32Weights, openCheckpoint, readTensor, readUnembedColumn, readWeights, UNEMBED_NAME, type Checkpoint } from './checkpoint';
import {
  buildHeadResultGraph,
  buildInstrumentedGraph,
  buildLensGraph,
  buildMlpPostGraph,
  FORWARD_OUTPUTS,
  HEAD_RESULT_OUTPUT,
  HOOKS,
  INPUTS,
  MLP_POST_OUTPUT,
  type ForwardArray,
  type WeightLocator,
} from './graph';
import { circuitsCachePath, readCircuitsCache, writeCircuitsCache } from './circuitsCache';
import { LensRunner, nextTokenTargets, type LensRows } from './lens';
import { createOrtMatmulBackend, type OrtMatmulBackend } from './matmulBackend';
import { createSession, floatOutput, floatTensor, type SessionSettings } from './session';
import { chooseExecutionProvider, type ExecutionProvider, type ExecutionProviderSetting } from './executionProvider';
import { tokenize } from './tokenizer';
import { BLANK_TEXT_MESSAGE, hasVisibleText } from './textRules';
import { InterventionRunner } from './interventions/runner';
import { forwardFeeds, headReusable, planReuse, spliceForward, spliceHead, type HeadRows, type ReusePlan } from './prefixReuse';
import { TraceStore } from './traceStore';
import { FallbackNotes } from './fallbackNotes';
import { checkIndex, checkMaxSize, checkpointCall, checkTopK, errorDetail } from './requestChecks';
import type { Attribution, AttributionTable, LensTable, ModelInfo, ModelWeights, PatternThumbs, PatternView, Tokenized, Trace, TraceForwardSummary, TraceSummary } from './types';
import { componentLabels, decomposeResidual } from '../analysis/decomposition';
import { attributeAllPositions, directLogitAttribution } from '../analysis/attribution';
import { poolHeadPatterns } from '../analysis/patternPool';
import { contributionNorms, residualNorms } from '../analysis/residual';
import type { CircuitsOptions, CircuitsReport, HeadPairParams, HeadPairReport, MlpPairParams, MlpPairReport } from '../analysis/circuitTypes';
import { hookRowsOf, SaeEngine, type SaeModelView, type SaeTraceView } from './sae/saeEngine';
import { spliceSae } from './sae/splice';
import { scanLayers, ScanForward } from './sae/scanForward';
import type { LoadSaeParams, SaeFeatureDetail, SaeFeatureParams, SaeFeatures, SaeFeaturesParams, SaeInfo, SaeReconstruction, SaeReconstructionParams, SaeScanParams, SaeSpliceParams, SaeSpliceResult, SaeScanWindow } from './sae/types';
import {
  EngineError,
  type AttributeAllParams,
  type ForgetTraceParams,
  type AttributeParams,
  type HeadResultsParams,
  type LensDistributionParams,
  type LensParams,
  type LoadParams,
  type PatternThumbsParams,
  type PatternViewParams,
  type TokenizeParams,
  type TraceParams,
  type HeadSourcesParams,
  type HeadSourcesResult,
} from '../protocol/engine';
import { headSources } from '../analysis/headSources';
import { layerAttentionWeights } from './headSourcesWeights';
import type {
  PatchSweepParams,
  PatchSweepResult,
  ProgressPayload,
  RunInterventionsParams,
  RunInterventionsResult,
  TraceMetricParams,
  TraceMetricResult,
} from '../protocol/patching';

/** Hooks a caller (the worker) gives a request: progress lines and a cancellation point. */
export interface RequestContext {
  /** Reports a stage of a long request ("reading checkpoint", …). */
  readonly progress?: (stage: string) => void;
  /** Awaited between stages: yields to the event loop, throws EngineError('cancelled') if the request was cancelled. */
  readonly between?: () => Promise<void>;
  /** Sends a partial result (a patching sweep's completed row) with the progress messages. */
  readonly emit?: (payload: ProgressPayload) => void;
}

export interface EngineOptions extends Omit<SessionSettings, 'onFallback'> {
  /** Traces kept for follow-up requests. Default 8. */
  readonly maxTraces?: number;
  /** Bytes of stored trace data kept at most (the newest trace is always kept). Default 384 MiB. */
  readonly maxTraceBytes?: number;
  /** Where the graphs run: cpu (default), webgpu, or auto (WebGPU when its self-check passes); executionProvider.ts. */
  readonly executionProvider?: ExecutionProviderSetting;
  /** Start a trace from the newest stored trace's rows when their token ids share a prefix (src/engine/prefixReuse.ts). Default true. */
  readonly reusePrefix?: boolean;
  /** The fewest shared positions reused (default minReusedPositions(T): below it a full forward is faster); tests set 1. */
  readonly reuseMinShared?: number;
  /**
   * A graph created after the load (head results, mlp.hook_post, interventions, SAE) that WebGPU
   * could not run runs on the CPU: one line for the output channel, each distinct line once. A
   * load's own fallback is ModelInfo.executionProviderNote instead. (SessionSettings.onFallback is
   * not an engine option: the engine sets it on every session it creates.)
   */
  readonly onGraphFallback?: (text: string) => void;
}

const DEFAULT_TOP_K = 10;
/** Largest n_ctx accepted (the causal-mask table is n_ctx² floats: 64 MiB here). */
const MAX_N_CTX = 4096;

/** One loaded model and its sessions. */
interface LoadedModel {
  readonly info: ModelInfo;
  readonly ckpt: Checkpoint;
  readonly cacheDir: string | undefined;
  /** Folder of the F32 weights file the graphs' external data points into. */
  readonly weightsFolder: string;
  readonly locate: WeightLocator;
  readonly forward: ort.InferenceSession;
  readonly lensSession: ort.InferenceSession;
  readonly lens: LensRunner;
  mlpPost?: Promise<ort.InferenceSession>;
  headResult?: Promise<ort.InferenceSession>;
  /** Block sessions and caches for interventions, created on first use. */
  interventions?: InterventionRunner;
  /** [D, D] W_O per layer (rows: H heads of Dh), [D] b_O per layer, ln_final gain and bias: small, kept for attribution. */
  readonly attnProjWeight: Float32Array[];
  readonly attnProjBias: Float32Array[];
  readonly lnFinalWeight: Float32Array;
  readonly lnFinalBias: Float32Array;
  /** Every weight in memory, read only when circuits are asked for. */
  weights?: ModelWeights;
}

export class Engine {
  private model: LoadedModel | undefined;
  private readonly traces: TraceStore;
  /** Random start so ids from a crashed worker never name a trace of the fresh one. */
  private nextTraceId = 1 + Math.floor(Math.random() * 2 ** 40);
  /** ORT matrix products for the circuits analyses (model-independent, created on first use). */
  private matmul: Promise<OrtMatmulBackend> | undefined;
  /** The EP sessions are created on: chosen at the first load (options.executionProvider). */
  private provider: ExecutionProvider = 'cpu';
  /** WebGPU → CPU fallbacks of single graphs: into the load's ModelInfo, or said once through options.onGraphFallback. */
  private readonly fallbacks: FallbackNotes;
  private reused = 0;

  constructor(private readonly options: EngineOptions = {}) {
    this.traces = new TraceStore(options);
    this.fallbacks = new FallbackNotes(options.onGraphFallback);
  }

  /** Session settings: the options plus the chosen EP, collecting WebGPU fallbacks. */
  private get sessionSettings(): SessionSettings {
    return { ...this.options, provider: this.provider, onFallback: (reason) => this.fallbacks.report(reason) };
  }

  /** The loaded model, if any. */
  get info(): ModelInfo | undefined {
    return this.model?.info;
  }

  /** Loads a checkpoint; on failure the previous model stays loaded. */
  async load(p: LoadParams, ctx: RequestContext = {}): Promise<ModelInfo> {
    ctx.progress?.('reading checkpoint');
    const ckpt = checkpointCall(() => openCheckpoint(p.folder));
    const current = this.model;
    if (current && current.ckpt.fingerprint === ckpt.fingerprint && current.ckpt.folder === ckpt.folder && current.info.name === p.name) {
      return current.info;
    }
    if (ckpt.config.nCtx > MAX_N_CTX) {
      // The causal-mask table is n_ctx² floats; GPT-2 checkpoints use 1024.
      throw new EngineError('bad-checkpoint', `${ckpt.configPath}: n_ctx ${ckpt.config.nCtx} is larger than the ${MAX_N_CTX} positions Residual Lens supports`);
    }
    const cacheDir = p.cacheDir;
    const f32 = checkpointCall(() => ensureF32Weights(ckpt, cacheDir ?? defaultCacheDir()));
    const config = ckpt.config;
    const attnProjWeight: Float32Array[] = [];
    const attnProjBias: Float32Array[] = [];
    checkpointCall(() => {
      for (let l = 0; l < config.nLayer; l++) {
        attnProjWeight.push(readTensor(ckpt, `h.${l}.attn.c_proj.weight`));
        attnProjBias.push(readTensor(ckpt, `h.${l}.attn.c_proj.bias`));
      }
    });
    const lnFinalWeight = checkpointCall(() => readTensor(ckpt, 'ln_f.weight'));
    const lnFinalBias = checkpointCall(() => readTensor(ckpt, 'ln_f.bias'));
    await ctx.between?.();

    ctx.progress?.('building graph');
    const locate = weightLocator(ckpt, f32);
    const weightsFolder = path.dirname(f32.path);
    const forwardGraph = buildInstrumentedGraph(config, locate);
    const lensGraph = buildLensGraph(config, locate);
    await ctx.between?.();

    const choice = await chooseExecutionProvider(this.options.executionProvider ?? 'cpu');
    this.provider = choice.provider;
    this.fallbacks.beginLoad();
    ctx.progress?.('creating session');
    const created: ort.InferenceSession[] = [];
    try {
      const forward = await createSession(forwardGraph, weightsFolder, this.sessionSettings);
      created.push(forward);
      await ctx.between?.();
      const lensSession = await createSession(lensGraph, weightsFolder, this.sessionSettings);
      created.push(lensSession);
      await ctx.between?.();
      const loadFallback = this.fallbacks.endLoad();
      const note = choice.note ?? loadFallback;
      const info: ModelInfo = {
        name: p.name, folder: ckpt.folder, config, dtype: ckpt.dtype, fingerprint: ckpt.fingerprint,
        format: ckpt.format, unembedding: ckpt.untiedLmHead ? 'lm_head' : 'tied', notes: ckpt.notes,
        executionProvider: this.provider, ...(note ? { executionProviderNote: note } : {}), ...(choice.warning ? { executionProviderWarning: choice.warning } : {}),
      };
      this.model = {
        info, ckpt, cacheDir, weightsFolder, locate, forward, lensSession,
        lens: new LensRunner(lensSession, config),
        attnProjWeight, attnProjBias, lnFinalWeight, lnFinalBias,
      };
    } catch (err) {
      this.fallbacks.endLoad(); // a failed load's fallbacks are nobody's note
      await Promise.all(created.map((s) => s.release().catch(() => undefined)));
      if (err instanceof EngineError) throw err;
      throw new EngineError('bad-checkpoint', `${ckpt.weightsPath}: onnxruntime could not load the model: ${firstLine(err)}`, errorDetail(err));
    }
    this.traces.clear();
    await this.scan.release();
    if (current) await releaseModel(current);
    return this.model.info;
  }

  tokenize(p: TokenizeParams): Tokenized {
    return tokenize(p.text, p.options);
  }

  /** Tokenizes, runs the instrumented forward (and mlp.hook_post when asked), stores the trace. */
  async trace(p: TraceParams, ctx: RequestContext = {}): Promise<Trace> {
    const trace = await this.forwardTrace(p, ctx);
    this.traces.add(trace, false);
    return trace;
  }

  /**
   * The same trace, stored with its patterns (for patternView / patternThumbs); returns only the
   * small summary, so the caller never receives the big tensors.
   */
  async traceSummary(p: TraceParams, ctx: RequestContext = {}): Promise<TraceSummary> {
    let forward: TraceForwardSummary | undefined;
    const trace = await this.forwardTrace(p, ctx, (partial) => {
      const { nLayer: L, dModel: D } = partial.model.config;
      const T = partial.tokens.length;
      const writes = contributionNorms(partial.attnOut, partial.mlpOut, L, T, D);
      forward = { schema: 1, traceId: partial.traceId, model: partial.model, text: partial.text, tokens: partial.tokens, residNorms: residualNorms(partial.resid, L + 1, T, D), attnOutNorms: writes.attention, mlpOutNorms: writes.mlp };
      // Ahead of the head's unembedding: the panel paints with it (TraceController). Copies: the
      // worker transfers a payload's buffers, and the result below sends these arrays again.
      ctx.emit?.({ kind: 'trace-forward', forward: { ...forward, residNorms: forward.residNorms.slice(), attnOutNorms: forward.attnOutNorms.slice(), mlpOutNorms: forward.mlpOutNorms.slice() } });
    });
    this.traces.add(trace, true);
    if (!forward) throw new EngineError('internal', 'traceSummary: the forward part was not reported.');
    return { ...forward, logitsTop: trace.logitsTop, forwardMs: trace.forwardMs };
  }

  /** Layer `layer` of a stored trace's patterns as [H, S, S], S = min(T, maxSize). */
  patternView(p: PatternViewParams): PatternView {
    const m = this.requireModel();
    const { pattern, T } = this.storedPattern(p.traceId);
    const { nLayer: L, nHead: H } = m.info.config;
    checkIndex('layer', p.layer, L);
    const size = Math.min(T, checkMaxSize(p.maxSize));
    return { traceId: p.traceId, layer: p.layer, size, values: poolHeadPatterns(pattern, T, p.layer * H, H, size) };
  }

  /** Every head's pattern of a stored trace as [L, H, S, S], S = min(T, maxSize). */
  patternThumbs(p: PatternThumbsParams): PatternThumbs {
    const m = this.requireModel();
    const { pattern, T } = this.storedPattern(p.traceId);
    const { nLayer: L, nHead: H } = m.info.config;
    const size = Math.min(T, checkMaxSize(p.maxSize));
    return { traceId: p.traceId, size, values: poolHeadPatterns(pattern, T, 0, L * H, size) };
  }

  /** One head's write at a position split by source position (src/analysis/headSources.ts); needs the stored patterns. */
  headSources(p: HeadSourcesParams): HeadSourcesResult {
    const m = this.requireModel();
    const { pattern, T } = this.storedPattern(p.traceId);
    const s = this.traces.get(p.traceId);
    const c = m.info.config;
    checkIndex('layer', p.layer, c.nLayer);
    checkIndex('head', p.head, c.nHead);
    checkIndex('pos', p.pos, T);
    const tokenId = p.tokenId ?? s.topIds[p.pos * s.k];
    checkIndex('tokenId', tokenId, c.dVocab);
    const w = checkpointCall(() => layerAttentionWeights(m.ckpt, p.layer));
    const rowStart = ((p.layer * c.nHead + p.head) * T + p.pos) * T;
    const result = headSources({
      dModel: c.dModel, dHead: c.dHead, nHead: c.nHead, layerNormEps: c.layerNormEps,
      residPre: s.resid.subarray(p.layer * T * c.dModel, (p.layer + 1) * T * c.dModel),
      patternRow: pattern.subarray(rowStart, rowStart + T),
      lnWeight: w.lnWeight, lnBias: w.lnBias, qkvWeight: w.qkvWeight, qkvBias: w.qkvBias, projWeight: m.attnProjWeight[p.layer]!,
      head: p.head, pos: p.pos,
      lnFinalScale: s.lnFinalScale[p.pos] as number, lnFinalWeight: m.lnFinalWeight,
      unembedColumn: checkpointCall(() => readUnembedColumn(m.ckpt, tokenId)),
    });
    return { traceId: p.traceId, layer: p.layer, head: p.head, pos: p.pos, tokenId, ...result };
  }

  private storedPattern(traceId: number): { pattern: Float32Array; T: number } {
    const s = this.traces.get(traceId);
    if (!s.pattern) throw new EngineError('unknown-trace', `Trace ${traceId} was not stored with its attention patterns; trace the text again.`);
    return { pattern: s.pattern, T: s.tokens.length };
  }

  /**
   * Tokenizes, checks, runs the instrumented forward (from the newest stored trace's rows when they
   * share a prefix: prefixReuse.ts), then the unembedding of the last residual (top-k per position).
   * `onForward` runs after the blocks, before the unembedding (traceSummary streams that part).
   */
  private async forwardTrace(p: TraceParams, ctx: RequestContext, onForward?: (partial: Pick<Trace, 'traceId' | 'model' | 'text' | 'tokens' | 'resid' | 'attnOut' | 'mlpOut'>) => void): Promise<Trace> {
    const m = this.requireModel();
    const { nLayer: L, dModel: D, nCtx, dVocab: V } = m.info.config;
    const options = p.options ?? {};
    const k = checkTopK(options.topK ?? DEFAULT_TOP_K, V);
    const prependBos = options.prependBos ?? true;
    const tokenized = tokenize(p.text, { prependBos, allowSpecial: options.allowSpecial ?? false, maxTokens: nCtx + 1 });
    const tokens = tokenized.tokens;
    if (tokenized.exceeded || tokens.length > nCtx) {
      throw new EngineError('bad-input', `The text has more than ${nCtx} tokens; ${m.info.name} accepts at most ${nCtx} (BOS included). Select less text.`);
    }
    if (tokens.length === 0 || (prependBos && tokens.length === 1) || !hasVisibleText(p.text)) {
      throw new EngineError('bad-input', BLANK_TEXT_MESSAGE);
    }
    const ids = tokens.map((t) => t.id);
    const outside = tokens.find((t) => t.id >= V);
    if (outside) {
      throw new EngineError('bad-input', `Token ${outside.id} (${JSON.stringify(outside.text)}) is outside ${m.info.name}'s vocabulary of ${V} tokens.`);
    }
    const T = ids.length;
    await ctx.between?.();

    const started = performance.now();
    // The newest stored trace, never one evicted since (load clears both).
    const plan = planReuse(this.traces.reusable(), m.info, ids, this.options.reuseMinShared);
    this.reused = plan?.P ?? 0;
    const a = await this.instrumentedForward(m, ids, plan);
    const traceId = this.nextTraceId++;
    onForward?.({ traceId, model: m.info, text: p.text, tokens, resid: a.resid, attnOut: a.attnOut, mlpOut: a.mlpOut });
    await ctx.between?.();
    const head = await this.traceHead(m, a.resid.subarray(L * T * D), k, plan);
    const forwardMs = performance.now() - started;

    let mlpPost: Float32Array | undefined;
    if (options.withMlpPost === true) {
      await ctx.between?.();
      mlpPost = await this.runMlpPost(m, a.residMid, T);
    }

    const trace: Trace = {
      schema: 1,
      traceId,
      model: m.info,
      text: p.text,
      tokens,
      embed: a.embed,
      posEmbed: a.posEmbed,
      resid: a.resid,
      residMid: a.residMid,
      ln1Scale: a.ln1Scale,
      ln2Scale: a.ln2Scale,
      pattern: a.pattern,
      z: a.z,
      attnOut: a.attnOut,
      mlpOut: a.mlpOut,
      ...(mlpPost ? { mlpPost } : {}),
      lnFinalScale: head.scale,
      logitsTop: head.top,
      forwardMs,
    };
    return trace;
  }

  /**
   * Every hook of the instrumented forward over `ids` (FORWARD_OUTPUTS), final unembedding excluded.
   * With a plan, only positions plan.P.. run and the stored prefix rows are spliced in front.
   */
  private async instrumentedForward(m: LoadedModel, ids: readonly number[], plan?: ReusePlan): Promise<Record<ForwardArray, Float32Array>> {
    // The graph over zero positions raises SIGFPE inside onnxruntime 1.30 (ends the process): never.
    if (ids.length - (plan?.P ?? 0) < 1) throw new Error('forward: no positions to compute');
    const out = await m.forward.run(forwardFeeds(m.info.config, plan ? ids.slice(plan.P) : ids, plan));
    const rows = Object.fromEntries(
      (Object.keys(FORWARD_OUTPUTS) as ForwardArray[]).map((key) => [key, floatOutput(out, FORWARD_OUTPUTS[key])]),
    ) as Record<ForwardArray, Float32Array>;
    return plan ? spliceForward(plan, rows, ids.length) : rows;
  }

  /**
   * The final residual rows [T, D] → top-k per position and ln_final.hook_scale (no ranks). With a
   * plan of the same k, only rows plan.P.. run and the stored rows are copied in front.
   */
  private async traceHead(m: LoadedModel, finalResid: Float32Array, k: number, plan?: ReusePlan): Promise<HeadRows> {
    const D = m.info.config.dModel;
    const T = finalResid.length / D;
    const from = headReusable(plan, k) ? plan.P : 0;
    const rows = finalResid.subarray(from * D);
    const head: LensRows = await m.lens.run(rows, new Int32Array(T - from).fill(-1), k);
    return from > 0 && plan ? spliceHead(plan, head, T) : head;
  }

  /** The logit lens for every (layer, position) of a stored trace, with next-token ranks. */
  async lens(p: LensParams, ctx: RequestContext = {}): Promise<LensTable> {
    const m = this.requireModel();
    const s = this.traces.get(p.traceId);
    const rows = m.info.config.nLayer + 1;
    const k = checkTopK(p.k ?? DEFAULT_TOP_K, m.info.config.dVocab);
    const targets = nextTokenTargets(s.tokens.map((t) => t.id), rows);
    const r = await m.lens.run(s.resid, targets, k, ctx.between);
    return { traceId: s.traceId, rows, positions: s.tokens.length, top: r.top, nextTokenRank: r.rank };
  }

  /** [V] the lens distribution of one (layer, position) cell. */
  async lensDistribution(p: LensDistributionParams): Promise<Float32Array> {
    const m = this.requireModel();
    const s = this.traces.get(p.traceId);
    const { nLayer: L, dModel: D } = m.info.config;
    const T = s.tokens.length;
    checkIndex('layer', p.layer, L + 1);
    checkIndex('pos', p.pos, T);
    const at = (p.layer * T + p.pos) * D;
    return m.lens.distribution(s.resid.slice(at, at + D));
  }

  /** Direct logit attribution at one position, final LayerNorm scale frozen. */
  async attribute(p: AttributeParams): Promise<Attribution> {
    const m = this.requireModel();
    const s = this.traces.get(p.traceId);
    const c = m.info.config;
    const T = s.tokens.length;
    checkIndex('pos', p.pos, T);
    const tokenId = p.tokenId ?? s.topIds[p.pos * s.k];
    checkIndex('tokenId', tokenId, c.dVocab);
    const components = decomposeResidual(
      { embed: s.embed, posEmbed: s.posEmbed, z: s.z, mlpOut: s.mlpOut, tokens: s.tokens, model: s.model },
      { attnProjWeight: m.attnProjWeight, attnProjBias: m.attnProjBias },
      p.pos,
    );
    const column = checkpointCall(() => readUnembedColumn(m.ckpt, tokenId));
    const scale = s.lnFinalScale[p.pos];
    const { values, lnBiasTerm } = directLogitAttribution(components, c.dModel, scale, m.lnFinalWeight, m.lnFinalBias, column);
    const labels = componentLabels(c);
    const headGrid = new Float32Array(c.nLayer * c.nHead);
    labels.forEach((label, i) => {
      if (label.kind === 'head') headGrid[label.layer * c.nHead + label.head] = values[i];
    });
    const finalRow = s.resid.subarray((c.nLayer * T + p.pos) * c.dModel, (c.nLayer * T + p.pos + 1) * c.dModel);
    return { traceId: s.traceId, pos: p.pos, tokenId, components: labels, values, headGrid, logit: unembedLogit(finalRow, scale, m.lnFinalWeight, m.lnFinalBias, column), lnBiasTerm };
  }

  /**
   * DLA at every position to its top-1 prediction (what `attribute` gives with the default token),
   * in one request: W_O · (w_lnf ⊙ W_U[:, t]) for the distinct top-1 tokens through the ORT matmul.
   */
  async attributeAll(p: AttributeAllParams): Promise<AttributionTable> {
    const m = this.requireModel();
    const s = this.traces.get(p.traceId);
    const c = m.info.config;
    const T = s.tokens.length;
    const targets = new Int32Array(T);
    for (let pos = 0; pos < T; pos++) targets[pos] = s.topIds[pos * s.k];
    const columns = new Map<number, Float32Array>();
    const column = (tokenId: number): Float32Array => {
      let u = columns.get(tokenId);
      if (!u) {
        checkIndex('tokenId', tokenId, c.dVocab);
        u = checkpointCall(() => readUnembedColumn(m.ckpt, tokenId));
        columns.set(tokenId, u);
      }
      return u;
    };
    const backend = await this.matmulBackend();
    const r = await attributeAllPositions(
      {
        config: c, embed: s.embed, posEmbed: s.posEmbed, z: s.z, mlpOut: s.mlpOut, lnFinalScale: s.lnFinalScale, targets,
        attnProjWeight: m.attnProjWeight, attnProjBias: m.attnProjBias, lnFinalWeight: m.lnFinalWeight, lnFinalBias: m.lnFinalBias,
        unembedColumn: column,
      },
      backend,
    );
    const logit = new Float64Array(T);
    const D = c.dModel;
    for (let pos = 0; pos < T; pos++) {
      const finalRow = s.resid.subarray((c.nLayer * T + pos) * D, (c.nLayer * T + pos + 1) * D);
      logit[pos] = unembedLogit(finalRow, s.lnFinalScale[pos], m.lnFinalWeight, m.lnFinalBias, column(targets[pos]));
    }
    return { traceId: s.traceId, positions: T, components: componentLabels(c), tokenIds: r.tokenIds, values: r.values, logit, lnBiasTerm: r.lnBiasTerm };
  }

  /** [T, H, D] blocks.{layer}.attn.hook_result of a stored trace: z_h · W_O[h] per head, no bias. */
  async headResults(p: HeadResultsParams): Promise<Float32Array> {
    const m = this.requireModel();
    const s = this.traces.get(p.traceId);
    const { nLayer: L, nHead: H, dHead: Dh, dModel: D } = m.info.config;
    checkIndex('layer', p.layer, L);
    const T = s.tokens.length;
    const size = T * H * Dh;
    m.headResult ??= createSession(buildHeadResultGraph(m.info.config), undefined, this.sessionSettings);
    const session = await m.headResult;
    const out = await session.run({
      [INPUTS.z]: floatTensor(s.z.subarray(p.layer * size, (p.layer + 1) * size), [T, H, Dh]),
      [INPUTS.wO]: floatTensor(m.attnProjWeight[p.layer], [H, Dh, D]),
    });
    return floatOutput(out, HEAD_RESULT_OUTPUT);
  }

  /** Weight-based circuits (plus detector patterns run through the forward graph); cached per model under cacheDir. */
  async circuits(p: CircuitsOptions, ctx: RequestContext = {}): Promise<CircuitsReport> {
    const m = this.requireModel();
    const cacheFile = m.cacheDir ? circuitsCachePath(m.cacheDir, m.info.fingerprint, p) : undefined;
    const cached = cacheFile ? readCircuitsCache(cacheFile) : undefined;
    if (cached) return cached;
    ctx.progress?.('reading weights');
    const weights = this.fullWeights(m);
    await ctx.between?.();
    ctx.progress?.('computing circuits');
    const { computeCircuits } = await import('../analysis/circuits');
    const report = await computeCircuits(weights, (batch: readonly Int32Array[]) => this.runPatterns(m, batch, ctx), p, {
      backend: await this.matmulBackend(),
      onStage: (stage) => ctx.progress?.(stage),
    });
    if (cacheFile) writeCircuitsCache(cacheFile, report);
    return report;
  }

  async headPair(p: HeadPairParams): Promise<HeadPairReport> {
    const m = this.requireModel();
    const { headPair } = await import('../analysis/circuits');
    return headPair(this.fullWeights(m), p);
  }

  async mlpPair(p: MlpPairParams): Promise<MlpPairReport> {
    const m = this.requireModel();
    const { mlpPairWith } = await import('../analysis/circuits');
    return mlpPairWith(this.fullWeights(m), p, await this.matmulBackend());
  }

  /** Runs of a stored trace with interventions, batched (src/engine/interventions/). */
  async runInterventions(p: RunInterventionsParams, ctx: RequestContext = {}): Promise<RunInterventionsResult> {
    return (await this.interventions()).runInterventions(p, ctx);
  }

  /** A patching sweep clean → corrupted; rows are emitted through ctx.emit as they complete. */
  async patchSweep(p: PatchSweepParams, ctx: RequestContext = {}): Promise<PatchSweepResult> {
    return (await this.interventions()).patchSweep(p, ctx);
  }

  /** The metric of a stored trace, no edits. */
  async traceMetric(p: TraceMetricParams, ctx: RequestContext = {}): Promise<TraceMetricResult> {
    return (await this.interventions()).traceMetric(p, ctx);
  }

  /** The intervention runner of the loaded model (created on first use, released with the model). */
  private async interventions(): Promise<InterventionRunner> {
    const m = this.requireModel();
    m.interventions ??= new InterventionRunner({
      info: m.info,
      locate: m.locate,
      weightsFolder: m.weightsFolder,
      lens: m.lens,
      lnFinalWeight: m.lnFinalWeight,
      lnFinalBias: m.lnFinalBias,
      unembedColumn: (tokenId) => checkpointCall(() => readUnembedColumn(m.ckpt, tokenId)),
      storedTrace: (traceId) => this.traces.get(traceId),
      sessionSettings: this.sessionSettings,
    });
    return m.interventions;
  }

  /** Loads an SAE for the loaded model (validated in full before it replaces the current one). */
  async loadSae(p: LoadSaeParams): Promise<SaeInfo> {
    return this.saes.load(p, this.saeModelView(this.requireModel()));
  }

  /** Top SAE features per position of a stored trace. */
  async saeFeatures(p: SaeFeaturesParams): Promise<SaeFeatures> {
    return this.saes.features(p, this.saeModelView(this.requireModel()), this.saeTraceView(p.traceId));
  }

  async saeFeature(p: SaeFeatureParams): Promise<SaeFeatureDetail> {
    const view = this.saeModelView(this.requireModel());
    return this.saes.feature(p, view, p.traceId === undefined ? undefined : this.saeTraceView(p.traceId));
  }

  /** [T, D] the SAE's reconstruction of a stored trace's hook activation, in the hook's space (for splicing). */
  async saeReconstruction(p: SaeReconstructionParams): Promise<SaeReconstruction> {
    return this.saes.reconstruction(this.saeModelView(this.requireModel()), this.saeTraceView(p.traceId));
  }

  /** The SAE spliced in at its hook (every position): KL from the unedited run, top-k with and without it. */
  async saeSplice(p: SaeSpliceParams, ctx: RequestContext = {}): Promise<SaeSpliceResult> {
    return spliceSae({ reconstruction: (traceId) => this.saeReconstruction({ traceId }), runInterventions: (q) => this.runInterventions(q, ctx) }, p);
  }

  /** Runs the forward on one window of token ids (nothing stored) and returns each feature's maximum over it. */
  async saeScan(p: SaeScanParams, ctx: RequestContext = {}): Promise<SaeScanWindow> {
    const m = this.requireModel();
    const { nCtx, dVocab, dModel: D } = m.info.config;
    const sae = this.saes.config;
    if (!Array.isArray(p.ids) || p.ids.length === 0 || p.ids.length > nCtx) throw new EngineError('bad-input', `A scan window has ${Array.isArray(p.ids) ? p.ids.length : 0} tokens; 1..${nCtx} are allowed.`);
    for (const id of p.ids) checkIndex('token id', id, dVocab);
    if (!sae) throw new EngineError('no-sae', 'No SAE is loaded: choose an SAE folder first.');
    await ctx.between?.();
    const T = p.ids.length;
    const from = p.fromPos ?? 0;
    if (!Number.isInteger(from) || from < 0 || from >= T) throw new EngineError('bad-input', `fromPos ${from} is out of range: 0..${T - 1}.`);
    const layers = scanLayers(m.info.config.nLayer, sae);
    const out = await (await this.scan.session(m, layers)).run(forwardFeeds({ nLayer: layers, dModel: D }, p.ids));
    const rows = hookRowsOf(sae, floatOutput(out, FORWARD_OUTPUTS.resid), floatOutput(out, FORWARD_OUTPUTS.mlpOut), T, D);
    const w = await this.saes.scanWindow(rows.subarray(from * D), T - from, this.saeModelView(m));
    for (let i = 0; i < w.argmax.length; i++) w.argmax[i] += from;
    return { ...w, positions: T };
  }

  /** The scan's forward (sae/scanForward.ts). */
  private readonly scan = new ScanForward(() => this.sessionSettings);

  private saeEngine: SaeEngine | undefined;
  private get saes(): SaeEngine {
    this.saeEngine ??= new SaeEngine(this.sessionSettings);
    return this.saeEngine;
  }

  private saeModelView(m: LoadedModel): SaeModelView {
    return {
      info: m.info,
      lnFinalWeight: m.lnFinalWeight,
      unembedColumn: (id) => checkpointCall(() => readUnembedColumn(m.ckpt, id)),
      tokenEmbeddings: () => checkpointCall(() => readTensor(m.ckpt, 'wte.weight')),
      untiedUnembedding: () => (m.ckpt.untiedLmHead ? checkpointCall(() => readTensor(m.ckpt, UNEMBED_NAME)) : undefined),
    };
  }

  private saeTraceView(traceId: number): SaeTraceView {
    const s = this.traces.get(traceId);
    const T = s.tokens.length;
    const D = s.model.config.dModel;
    return { traceId, tokens: s.tokens, lnFinalScale: s.lnFinalScale, topId: (pos) => s.topIds[pos * s.k], hookRows: (cfg) => hookRowsOf(cfg, s.resid, s.mlpOut, T, D) };
  }

  /** Releases every session; the engine can load again afterwards. */
  async dispose(): Promise<void> {
    await this.saeEngine?.dispose();
    await this.scan.release();
    const m = this.model;
    const matmul = this.matmul;
    this.model = undefined;
    this.matmul = undefined;
    this.traces.clear();
    if (m) await releaseModel(m);
    if (matmul) await matmul.then((b) => b.release()).catch(() => undefined);
  }

  /** The ORT MatmulBackend (A·B, A·Bᵀ, Aᵀ·B), created once; a failed creation is retried next time. */
  private matmulBackend(): Promise<OrtMatmulBackend> {
    this.matmul ??= createOrtMatmulBackend(this.sessionSettings).catch((err: unknown) => {
      this.matmul = undefined;
      throw err;
    });
    return this.matmul;
  }

  /** Positions the last trace copied from the stored trace before it (0: a full forward); for tests and the bench. */
  get reusedPositions(): number {
    return this.reused;
  }

  /** Stored trace ids, newest last (for tests). */
  storedTraceIds(): number[] {
    return this.traces.ids();
  }

  private requireModel(): LoadedModel {
    if (!this.model) throw new EngineError('no-model', 'No model is loaded: load a model before tracing.');
    return this.model;
  }

  /**
   * Drops a stored trace (a live trace ahead of the pause that a newer edit superseded). When it is
   * the prefix-reuse source its arrays stay, detached, for the next trace to reuse.
   */
  forgetTrace(p: ForgetTraceParams): null {
    this.traces.forget(p.traceId);
    return null;
  }

  /** Bytes of trace data evicted so far (monotonic); the worker collects garbage by it. */
  get evictedBytes(): number {
    return this.traces.evictedBytes;
  }

  /** Buffers of stored traces: a worker must copy, not transfer, these when posting a result. */
  retainedBuffers(): Set<ArrayBufferLike> {
    return this.traces.retainedBuffers();
  }

  private fullWeights(m: LoadedModel): ModelWeights {
    m.weights ??= checkpointCall(() => readWeights(m.ckpt));
    return m.weights;
  }

  /** Attention patterns [L, H, T, T] of each token sequence, through the forward graph. */
  private async runPatterns(m: LoadedModel, batch: readonly Int32Array[], ctx: RequestContext): Promise<Float32Array[]> {
    const { nCtx, dVocab } = m.info.config;
    const patterns: Float32Array[] = [];
    for (const ids of batch) {
      if (ids.length === 0 || ids.length > nCtx) throw new EngineError('bad-input', `A pattern sequence has ${ids.length} tokens; 1..${nCtx} are allowed.`);
      for (const id of ids) checkIndex('token id', id, dVocab);
      await ctx.between?.();
      const out = await m.forward.run(forwardFeeds(m.info.config, ids));
      const pattern = floatOutput(out, FORWARD_OUTPUTS.pattern);
      patterns.push(pattern);
    }
    return patterns;
  }

  /** blocks.{l}.mlp.hook_post of every layer [L, T, M], from the trace's hook_resid_mid [L, T, D]. */
  private async runMlpPost(m: LoadedModel, residMid: Float32Array, T: number): Promise<Float32Array> {
    const { nLayer: L, dModel: D } = m.info.config;
    m.mlpPost ??= createSession(buildMlpPostGraph(m.info.config, m.locate), m.weightsFolder, this.sessionSettings);
    const session = await m.mlpPost;
    const feeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < L; l++) feeds[HOOKS.residMid(l)] = floatTensor(residMid.subarray(l * T * D, (l + 1) * T * D), [T, D]);
    const post = floatOutput(await session.run(feeds), MLP_POST_OUTPUT);
    return post;
  }
}

/** External-data locations of every F32 weight (the checkpoint itself, or the F32 cache for F16 files). */
function weightLocator(ckpt: Checkpoint, f32: { readonly path: string; readonly offsets: ReadonlyMap<string, number> }): WeightLocator {
  const location = path.basename(f32.path);
  return (name, dims) => {
    const entry = ckpt.tensors.get(name);
    const offset = f32.offsets.get(name);
    if (!entry || offset === undefined) throw new EngineError('bad-checkpoint', `${ckpt.weightsPath}: tensor ${name} is missing`);
    if (entry.shape.length !== dims.length || entry.shape.some((d, i) => d !== dims[i])) {
      throw new EngineError('bad-checkpoint', `${ckpt.weightsPath}: tensor ${name} has shape [${entry.shape.join(', ')}], config.json implies [${dims.join(', ')}]`);
    }
    return { location, offset, byteLength: dims.reduce((a, b) => a * b, 1) * 4 };
  };
}

/** logit = (LN_f(x) with the stored scale) · W_U[:, token], in float64. */
function unembedLogit(x: Float32Array, scale: number, weight: Float32Array, bias: Float32Array, column: Float32Array): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let logit = 0;
  for (let i = 0; i < x.length; i++) logit += (((x[i] - mean) / scale) * weight[i] + bias[i]) * column[i];
  return logit;
}

async function releaseModel(m: LoadedModel): Promise<void> {
  const sessions: Promise<ort.InferenceSession>[] = [Promise.resolve(m.forward), Promise.resolve(m.lensSession)];
  if (m.mlpPost) sessions.push(m.mlpPost);
  if (m.headResult) sessions.push(m.headResult);
  if (m.interventions) await m.interventions.release();
  await Promise.all(sessions.map((p) => p.then((s) => s.release()).catch(() => undefined)));
}

function defaultCacheDir(): string {
  return process.env.RESIDUAL_LENS_CACHE || path.join(os.homedir(), '.cache', 'residual-lens');
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
