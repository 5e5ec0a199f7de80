/**
 * Runs interventions for the engine: checks requests, plans batches, drives the per-layer block
 * sessions (./blockGraph.ts) and scores metrics. The Engine hands it a narrow view of the loaded
 * model and its stored traces (InterventionHost), so this module never reaches into Engine
 * internals.
 *
 * Only what an intervention can change is recomputed: a batch starts at the first intervened
 * layer, with that layer's stored hook_resid_pre, and at the first intervened position; earlier
 * positions' keys and values come from the stored trace (the model is causal). Only the logits a
 * metric needs are computed (logit_diff: two dot products in float64), the full unembedding only
 * for probabilities, KL and top-k (the lens graph).
 */
import * as ort from 'onnxruntime-node';
import { createSession, floatOutput, floatTensor, int64Tensor, type SessionSettings } from '../session';
import type { WeightLocator } from '../graph';
import type { LensRunner } from '../lens';
import type { ModelInfo, TokenInfo } from '../types';
import { EngineError } from '../../protocol/engine';
import { INTERVENTIONS_SCHEMA_VERSION } from '../../protocol/interventions';
import type {
  PatchSweepParams,
  PatchSweepResult,
  PositionTopK,
  ProgressPayload,
  RunInterventionsParams,
  RunInterventionsResult,
  TraceMetricParams,
  TraceMetricResult,
} from '../../protocol/patching';
import {
  dot,
  klDivergence,
  lnFinal,
  normalisation,
  normalisedScores,
  planBatches,
  type BatchGroup,
  resolveMetric,
  sweepLayout,
  type ResolvedMetric,
} from '../../analysis/patching';
import { BLOCK_HOOKS, BLOCK_INPUTS, HOOK_RANK, blockOutput, buildBlockGraph, suffixMask, type BlockHook } from './blockGraph';
import { activationSize, encodeEdits, resolveRun, trimSinglePatch, type ResolvedRun, type SourceLookup } from './edits';

/** What a stored trace offers to interventions (a subset of the engine's StoredTrace). */
export interface InterventionTrace {
  readonly traceId: number;
  readonly tokens: readonly TokenInfo[];
  /** [L+1, T, D] resid_pre of each layer, then the last resid_post. */
  readonly resid: Float32Array;
}

/** The loaded model and trace store, as the engine exposes them to the runner. */
export interface InterventionHost {
  readonly info: ModelInfo;
  readonly locate: WeightLocator;
  readonly weightsFolder: string;
  readonly lens: LensRunner;
  /** [D] ln_final gain and bias. */
  readonly lnFinalWeight: Float32Array;
  readonly lnFinalBias: Float32Array;
  /** [D] W_U[:, tokenId] (= W_E[tokenId], tied). */
  readonly unembedColumn: (tokenId: number) => Float32Array;
  /** Throws EngineError('unknown-trace') when the trace is gone. */
  readonly storedTrace: (traceId: number) => InterventionTrace;
  readonly sessionSettings: SessionSettings;
}

/** Cancellation and partial results, as the engine's RequestContext. */
export interface RunnerContext {
  readonly progress?: (stage: string) => void;
  readonly between?: () => Promise<void>;
  readonly emit?: (payload: ProgressPayload) => void;
}

/** Runs in one request at most. */
export const MAX_RUNS = 4096;
/** Rows (runs × recomputed positions) per block call: keeps each call short (cancellation) and its memory small. */
const MAX_BATCH_ROWS = 256;
/** Rows (runs × recomputed positions) held in flight at once: 4096 rows of GPT-2 small are 12 MiB. */
const MAX_LIVE_ROWS = 4096;
const MAX_TOP_K = 1000;
/** Sweep rows batched together (their runs share block calls); rows stream per batch. */
const ROWS_PER_BATCH = 4;
/**
 * What one more group costs the planner, in recomputed rows: a block call streams the layer's
 * weights (about 27 rows' worth of compute, measured on GPT-2 small), and groups with the same first
 * position share calls across the sweep rows of a batch, so a group pays about a third of that.
 */
const CALL_COST_ROWS = 8;

/** Scores final residual rows [N, D] at the metric position. */
interface Scorer {
  score(rows: Float32Array): Promise<Float64Array>;
}

export class InterventionRunner {
  private readonly blocks: (Promise<ort.InferenceSession> | undefined)[] = [];
  private readonly identity = new Map<number, { keep: ort.Tensor; zero: ort.Tensor }>();
  private readonly rowsTensors = new Map<number, ort.Tensor>();

  constructor(private readonly host: InterventionHost) {}

  async runInterventions(p: RunInterventionsParams, ctx: RunnerContext = {}): Promise<RunInterventionsResult> {
    checkSchema(p);
    const base = this.host.storedTrace(p.traceId);
    const c = this.host.info.config;
    const T = base.tokens.length;
    const metric = resolveMetric(p.metric, T, c.dVocab);
    if (!Array.isArray(p.runs)) throw new EngineError('bad-input', 'runs must be a list of runs.');
    if (p.runs.length > MAX_RUNS) throw new EngineError('bad-input', `At most ${MAX_RUNS} runs per request, got ${p.runs.length}.`);
    const k = p.topK === undefined ? undefined : checkTopK(p.topK, c.dVocab);
    if (p.recompute !== undefined && p.recompute !== 'minimal' && p.recompute !== 'full') throw new EngineError('bad-input', `recompute must be 'minimal' or 'full'.`);
    const sources = this.sourceLookup();
    const runs: ResolvedRun[] = [];
    for (const run of p.runs) {
      if (!run || typeof run !== 'object') throw new EngineError('bad-input', 'Each run needs a list of interventions.');
      runs.push(await resolveRun(run.interventions, c, T, (id) => this.host.storedTrace(id).tokens.length, sources));
    }
    const rows = await this.finalRows(base, runs, metric.pos, ctx, p.recompute === 'full');
    const baseRow = this.storedFinalRow(base, metric.pos);
    const scorer = this.scorer(metric, base);
    const metrics = await scorer.score(rows);
    const baseline = (await scorer.score(baseRow))[0];
    if (k === undefined) return { traceId: base.traceId, pos: metric.pos, baseline, metrics };
    const top = await this.topK(rows, k);
    const [baseTop] = await this.topK(baseRow, k);
    return { traceId: base.traceId, pos: metric.pos, baseline, metrics, top, baseTop };
  }

  async traceMetric(p: TraceMetricParams, _ctx: RunnerContext = {}): Promise<TraceMetricResult> {
    checkSchema(p);
    const s = this.host.storedTrace(p.traceId);
    const c = this.host.info.config;
    const metric = resolveMetric(p.metric, s.tokens.length, c.dVocab);
    const k = p.topK === undefined ? undefined : checkTopK(p.topK, c.dVocab);
    const row = this.storedFinalRow(s, metric.pos);
    const value = (await this.scorer(metric, s).score(row))[0];
    if (k === undefined) return { traceId: s.traceId, pos: metric.pos, value };
    const [top] = await this.topK(row, k);
    return { traceId: s.traceId, pos: metric.pos, value, top };
  }

  async patchSweep(p: PatchSweepParams, ctx: RunnerContext = {}): Promise<PatchSweepResult> {
    const started = performance.now();
    checkSchema(p);
    const clean = this.host.storedTrace(p.cleanTraceId);
    const corrupted = this.host.storedTrace(p.corruptedTraceId);
    const c = this.host.info.config;
    const T = corrupted.tokens.length;
    if (clean.tokens.length !== T) {
      throw new EngineError('bad-input', `The clean prompt has ${clean.tokens.length} tokens and the corrupted one ${T}: position-wise patching needs equal token counts.`);
    }
    const metric = resolveMetric(p.metric, T, c.dVocab);
    const layout = sweepLayout(p.what, c, T, p.heads);
    const scorer = this.scorer(metric, corrupted);
    const cleanValue = (await scorer.score(this.storedFinalRow(clean, metric.pos)))[0];
    const corruptedValue = (await scorer.score(this.storedFinalRow(corrupted, metric.pos)))[0];
    const norm = normalisation(cleanValue, corruptedValue);
    const values = new Float64Array(layout.rows * layout.cols);
    // A few rows per batch: their runs share block calls; each row is sent as soon as its batch is done.
    for (let r0 = 0; r0 < layout.rows; r0 += ROWS_PER_BATCH) {
      await ctx.between?.();
      const r1 = Math.min(layout.rows, r0 + ROWS_PER_BATCH);
      // Patch sources are cached per batch only: a long prompt's patterns are H·T² floats per layer.
      const sources = this.sourceLookup();
      const runs: ResolvedRun[] = [];
      for (let r = r0; r < r1; r++) {
        for (const run of layout.rowRuns(r, clean.traceId)) runs.push(await resolveRun(run, c, T, (id) => this.host.storedTrace(id).tokens.length, sources));
      }
      const batchValues = await scorer.score(await this.finalRows(corrupted, runs, metric.pos, ctx, false));
      values.set(batchValues, r0 * layout.cols);
      for (let r = r0; r < r1; r++) {
        const rowValues = batchValues.slice((r - r0) * layout.cols, (r - r0 + 1) * layout.cols);
        const scores = normalisedScores(rowValues, norm);
        ctx.emit?.({ kind: 'patch-row', row: { what: p.what, row: r, values: rowValues, ...(scores ? { scores } : {}) } });
      }
    }
    const scores = normalisedScores(values, norm);
    return {
      what: p.what, rows: layout.rows, cols: layout.cols, rowLabels: layout.rowLabels, colLabels: layout.colLabels,
      pos: metric.pos, normalisation: norm, values, ...(scores ? { scores } : {}), ms: performance.now() - started,
    };
  }

  /** Releases the block sessions. */
  async release(): Promise<void> {
    const sessions = this.blocks.splice(0).filter((s): s is Promise<ort.InferenceSession> => s !== undefined);
    await Promise.all(sessions.map((s) => s.then((x) => x.release()).catch(() => undefined)));
  }

  /**
   * [R, D] the final residual (last hook_resid_post) at `pos` of each run. `full` recomputes every
   * layer and position of each run on its own (the naive loop the bench compares with).
   */
  private async finalRows(base: InterventionTrace, runs: readonly ResolvedRun[], pos: number, ctx: RunnerContext, full: boolean): Promise<Float32Array> {
    const { nLayer: L, dModel: D } = this.host.info.config;
    const T = base.tokens.length;
    const rows = new Float32Array(runs.length * D);
    const baseRow = this.storedFinalRow(base, pos);
    // The naive loop recomputes everything; otherwise a patch's positions that equal the base do not count.
    if (!full) runs = await this.trimPatches(base, runs);
    if (this.blocks.filter((b) => b !== undefined).length < L) ctx.progress?.('preparing the intervention graphs (first use)');
    const planned = runs.map((r, index) => ({
      index,
      startLayer: full ? 0 : r.startLayer,
      // Edits after the metric position cannot reach it; recomputing from pos still covers them.
      firstPos: full ? 0 : Math.min(r.firstPos, pos),
    }));
    for (const p of planned) if (p.startLayer >= L) rows.set(baseRow, p.index * D);
    const groups = planBatches(planned, T, L, full ? T : Math.max(T, MAX_BATCH_ROWS), CALL_COST_ROWS);
    // Waves of groups bound the rows held at once (a long prompt's sweep has millions of rows).
    for (const wave of waves(groups, T, Math.max(T, MAX_LIVE_ROWS))) await this.runWave(base, runs, wave, pos, ctx, full, rows);
    return rows;
  }

  /** Runs a wave of groups layer by layer, writing each run's final row at pos into rows [R, D]. */
  private async runWave(base: InterventionTrace, runs: readonly ResolvedRun[], groups: readonly BatchGroup[], pos: number, ctx: RunnerContext, full: boolean, rows: Float32Array): Promise<void> {
    const { nLayer: L, dModel: D } = this.host.info.config;
    const T = base.tokens.length;
    // Each group's running hook_resid_pre [B, S, D], starting from the stored one.
    const states: BatchState[] = groups.map((group) => {
      const S = T - group.p0;
      const members = group.runs.map((i) => runs[i]);
      const x = new Float32Array(members.length * S * D);
      const start = base.resid.subarray((group.startLayer * T + group.p0) * D, (group.startLayer + 1) * T * D);
      for (let b = 0; b < members.length; b++) x.set(start, b * S * D);
      return { group, members, S, x };
    });
    const masks = new Map<number, ort.Tensor>();
    const firstLayer = Math.min(L, ...groups.map((g) => g.startLayer));
    // Layer by layer, every group that has started; groups with the same first position share one
    // call (up to MAX_BATCH_ROWS rows): a call streams the layer's weights once, whatever its rows.
    // The naive loop (full) keeps one call per run.
    for (let l = firstLayer; l < L; l++) {
      const byP0 = new Map<number, BatchState[]>();
      for (const st of states) {
        if (st.group.startLayer > l) continue;
        const key = full ? byP0.size : st.group.p0;
        byP0.set(key, [...(byP0.get(key) ?? []), st]);
      }
      for (const list of byP0.values()) {
        for (const batch of chunkStates(list, full ? 1 : MAX_BATCH_ROWS)) {
          await ctx.between?.();
          const p0 = batch[0].group.p0;
          const S = T - p0;
          let mask = masks.get(p0);
          if (!mask) {
            mask = floatTensor(suffixMask(p0, T), [S, T]);
            masks.set(p0, mask);
          }
          const members = batch.flatMap((st) => st.members);
          const x = batch.length === 1 ? batch[0].x : concat(batch.map((st) => st.x));
          // The last layer only needs the metric position's row, unless an edit there (after
          // hook_resid_pre) is laid out over every row.
          const onlyPos = l === L - 1 && !members.some((r) => r.interventions.some((iv) => iv.layer === l && iv.hook !== 'resid_pre'));
          const out = onlyPos
            ? await this.runBlock(l, members, x, members.length, S, p0, base, floatTensor(suffixMask(p0, T, [pos]), [1, T]), [pos - p0])
            : await this.runBlock(l, members, x, members.length, S, p0, base, mask);
          if (l === L - 1) {
            // Final rows [B, D] at pos, per group.
            let b0 = 0;
            for (const st of batch) {
              const B = st.members.length;
              st.final = new Float32Array(B * D);
              for (let b = 0; b < B; b++) {
                const at = onlyPos ? (b0 + b) * D : ((b0 + b) * S + pos - p0) * D;
                st.final.set(out.subarray(at, at + D), b * D);
              }
              b0 += B;
            }
            continue;
          }
          let offset = 0;
          for (const st of batch) {
            st.x = batch.length === 1 ? out : out.slice(offset, offset + st.x.length);
            offset += st.x.length;
          }
        }
      }
    }
    for (const st of states) {
      const final = st.final as Float32Array;
      st.group.runs.forEach((index, b) => rows.set(final.subarray(b * D, (b + 1) * D), index * D));
    }
  }

  /**
   * One block call: hook_resid_pre [B, S, D] of positions p0.. → hook_resid_post [B, Q, D] of the
   * query rows (default: all S), with the runs' edits at this layer. `mask` is [Q, T].
   */
  private async runBlock(l: number, members: readonly ResolvedRun[], x: Float32Array, B: number, S: number, p0: number, base: InterventionTrace, mask: ort.Tensor, queryRows?: readonly number[]): Promise<Float32Array> {
    const { dModel: D } = this.host.info.config;
    const T = base.tokens.length;
    const session = await this.block(l);
    const feeds: Record<string, ort.Tensor> = {
      [BLOCK_INPUTS.x]: floatTensor(x, [B, S, D]),
      [BLOCK_INPUTS.prefix]: floatTensor(base.resid.slice(l * T * D, (l * T + p0) * D), [p0, D]),
      [BLOCK_INPUTS.mask]: mask,
      [BLOCK_INPUTS.queryRows]: queryRows ? int64Tensor(queryRows, [queryRows.length]) : this.allRows(S),
    };
    for (const hook of BLOCK_HOOKS) {
      const edited = members.some((r) => r.interventions.some((iv) => iv.layer === l && iv.hook === hook));
      if (edited) {
        const e = encodeEdits(members, l, hook, this.host.info.config, p0, T);
        feeds[BLOCK_INPUTS.keep(hook)] = floatTensor(e.keep, e.dims);
        feeds[BLOCK_INPUTS.add(hook)] = floatTensor(e.add, e.dims);
        feeds[BLOCK_INPUTS.mean(hook)] = floatTensor(e.mean, e.dims);
      } else {
        const id = this.identityEdit(HOOK_RANK[hook]);
        feeds[BLOCK_INPUTS.keep(hook)] = id.keep;
        feeds[BLOCK_INPUTS.add(hook)] = id.zero;
        feeds[BLOCK_INPUTS.mean(hook)] = id.zero;
      }
    }
    const out = await session.run(feeds, [blockOutput('resid_post')]);
    return floatOutput(out, blockOutput('resid_post'));
  }

  /** [D] the stored final residual of a trace at one position. */
  private storedFinalRow(s: InterventionTrace, pos: number): Float32Array {
    const { nLayer: L, dModel: D } = this.host.info.config;
    const T = s.tokens.length;
    return s.resid.subarray((L * T + pos) * D, (L * T + pos + 1) * D);
  }

  /** Scores final rows by the metric; KL compares with the reference trace's distribution at pos. */
  private scorer(metric: ResolvedMetric, base: InterventionTrace): Scorer {
    const h = this.host;
    const c = h.info.config;
    const D = c.dModel;
    const ln = (rows: Float32Array, i: number): Float64Array => lnFinal(rows.subarray(i * D, (i + 1) * D), h.lnFinalWeight, h.lnFinalBias, c.layerNormEps);
    switch (metric.kind) {
      case 'logit_diff': {
        const correct = h.unembedColumn(metric.correct);
        const wrong = h.unembedColumn(metric.wrong);
        return {
          score: (rows) => Promise.resolve(Float64Array.from({ length: rows.length / D }, (_, i) => {
            const y = ln(rows, i);
            return dot(y, correct) - dot(y, wrong);
          })),
        };
      }
      case 'logprob':
      case 'prob': {
        const column = h.unembedColumn(metric.token);
        return {
          score: async (rows) => {
            const N = rows.length / D;
            // logsumexp from the lens graph's top-1: log p₁ = logit₁ − lse.
            const r = await h.lens.run(rows, new Int32Array(N).fill(-1), 1);
            return Float64Array.from({ length: N }, (_, i) => {
              const lse = r.top.logits[i] - Math.log(r.top.probs[i]);
              const logprob = dot(ln(rows, i), column) - lse;
              return metric.kind === 'prob' ? Math.exp(logprob) : logprob;
            });
          },
        };
      }
      case 'kl': {
        const ref = metric.referenceTraceId === undefined ? base : h.storedTrace(metric.referenceTraceId);
        if (metric.pos >= ref.tokens.length) throw new EngineError('bad-input', `Metric position ${metric.pos} is past the reference trace's ${ref.tokens.length} tokens.`);
        const refRow = this.storedFinalRow(ref, metric.pos);
        let refDist: Promise<Float32Array> | undefined;
        return {
          score: async (rows) => {
            refDist ??= h.lens.distribution(refRow.slice());
            const p = await refDist;
            const out = new Float64Array(rows.length / D);
            for (let i = 0; i < out.length; i++) out[i] = klDivergence(p, await h.lens.distribution(rows.slice(i * D, (i + 1) * D)));
            return out;
          },
        };
      }
    }
  }

  private async topK(rows: Float32Array, k: number): Promise<PositionTopK[]> {
    const D = this.host.info.config.dModel;
    const N = rows.length / D;
    const r = await this.host.lens.run(rows, new Int32Array(N).fill(-1), k);
    return Array.from({ length: N }, (_, i) => ({
      ids: r.top.ids.slice(i * k, (i + 1) * k),
      logits: r.top.logits.slice(i * k, (i + 1) * k),
      probs: r.top.probs.slice(i * k, (i + 1) * k),
    }));
  }

  /** Patch sources, computed once per request: stored residuals, or one unedited block run of the source trace. */
  private sourceLookup(): SourceLookup {
    const cache = new Map<string, Promise<Float32Array>>();
    return (traceId, layer, hook) => {
      const key = `${traceId}/${layer}/${hook}`;
      let value = cache.get(key);
      if (!value) {
        value = this.sourceActivation(traceId, layer, hook);
        cache.set(key, value);
      }
      return value;
    };
  }

  /** Single-patch runs less the positions where the patch writes the base's own values (trimSinglePatch). */
  private async trimPatches(base: InterventionTrace, runs: readonly ResolvedRun[]): Promise<readonly ResolvedRun[]> {
    const c = this.host.info.config;
    const T = base.tokens.length;
    const activations = new Map<string, Promise<Float32Array>>();
    const out: ResolvedRun[] = [];
    for (const run of runs) {
      const iv = run.interventions[0];
      if (run.interventions.length !== 1 || !iv || iv.action.kind !== 'patch') {
        out.push(run);
        continue;
      }
      const key = `${iv.layer}/${iv.hook}`;
      if (!activations.has(key)) activations.set(key, this.sourceActivation(base.traceId, iv.layer, iv.hook));
      out.push(trimSinglePatch(run, await (activations.get(key) as Promise<Float32Array>), c, T));
    }
    return out;
  }

  private async sourceActivation(traceId: number, layer: number, hook: BlockHook): Promise<Float32Array> {
    const s = this.host.storedTrace(traceId);
    const c = this.host.info.config;
    const D = c.dModel;
    const T = s.tokens.length;
    if (hook === 'resid_pre') return s.resid.subarray(layer * T * D, (layer + 1) * T * D);
    if (hook === 'resid_post') return s.resid.subarray((layer + 1) * T * D, (layer + 2) * T * D);
    const session = await this.block(layer);
    const feeds: Record<string, ort.Tensor> = {
      [BLOCK_INPUTS.x]: floatTensor(s.resid.slice(layer * T * D, (layer + 1) * T * D), [1, T, D]),
      [BLOCK_INPUTS.prefix]: floatTensor(new Float32Array(0), [0, D]),
      [BLOCK_INPUTS.mask]: floatTensor(suffixMask(0, T), [T, T]),
      [BLOCK_INPUTS.queryRows]: this.allRows(T),
    };
    for (const h of BLOCK_HOOKS) {
      const id = this.identityEdit(HOOK_RANK[h]);
      feeds[BLOCK_INPUTS.keep(h)] = id.keep;
      feeds[BLOCK_INPUTS.add(h)] = id.zero;
      feeds[BLOCK_INPUTS.mean(h)] = id.zero;
    }
    const out = floatOutput(await session.run(feeds, [blockOutput(hook)]), blockOutput(hook));
    if (out.length !== activationSize(hook, c, T)) throw new Error(`source ${hook}: ${out.length} values, expected ${activationSize(hook, c, T)}`);
    return out;
  }

  private block(layer: number): Promise<ort.InferenceSession> {
    let s = this.blocks[layer];
    if (!s) {
      const h = this.host;
      // No memory arena: each of the L sessions would keep its own, sized to its largest batch
      // (measured: peak RSS 1.8 GiB with arenas after a GPT-2-small sweep).
      // Through createSession: a block graph WebGPU cannot run falls back to the CPU, said once.
      s = createSession(buildBlockGraph(h.info.config, h.locate, layer), h.weightsFolder, { ...h.sessionSettings, memArena: false });
      s.catch(() => {
        this.blocks[layer] = undefined;
      });
      this.blocks[layer] = s;
    }
    return s;
  }

  /** [S] int64 0..S−1: every suffix row is a query row. */
  private allRows(S: number): ort.Tensor {
    let t = this.rowsTensors.get(S);
    if (!t) {
      t = int64Tensor(Array.from({ length: S }, (_, i) => i), [S]);
      this.rowsTensors.set(S, t);
    }
    return t;
  }

  /** Broadcast no-op edit inputs of a rank: keep = 1, add = mean = 0, shape [1, …, 1]. */
  private identityEdit(rank: number): { keep: ort.Tensor; zero: ort.Tensor } {
    let id = this.identity.get(rank);
    if (!id) {
      const dims = new Array<number>(rank).fill(1);
      id = { keep: floatTensor(new Float32Array([1]), dims), zero: floatTensor(new Float32Array([0]), dims) };
      this.identity.set(rank, id);
    }
    return id;
  }
}

/** A batch group in flight: its runs and their current hook_resid_pre [B, S, D]. */
interface BatchState {
  readonly group: BatchGroup;
  readonly members: readonly ResolvedRun[];
  readonly S: number;
  x: Float32Array;
  /** [B, D] the final residual at the metric position, once the last layer ran. */
  final?: Float32Array;
}

/** Consecutive groups packed into calls of at most maxRows rows (a group is never split). */
function chunkStates(list: readonly BatchState[], maxRows: number): BatchState[][] {
  const out: BatchState[][] = [];
  let current: BatchState[] = [];
  let rows = 0;
  for (const st of list) {
    const n = st.members.length * st.S;
    if (current.length > 0 && rows + n > maxRows) {
      out.push(current);
      current = [];
      rows = 0;
    }
    current.push(st);
    rows += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Consecutive groups in waves of at most maxRows rows in flight (a group is never split). */
function waves(groups: readonly BatchGroup[], T: number, maxRows: number): BatchGroup[][] {
  const out: BatchGroup[][] = [];
  let current: BatchGroup[] = [];
  let n = 0;
  for (const g of groups) {
    const rows = g.runs.length * (T - g.p0);
    if (current.length > 0 && n + rows > maxRows) {
      out.push(current);
      current = [];
      n = 0;
    }
    current.push(g);
    n += rows;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function checkSchema(p: { readonly schema: number }): void {
  if (p.schema !== INTERVENTIONS_SCHEMA_VERSION) {
    throw new EngineError('protocol', `Intervention schema ${String(p.schema)} is not ${INTERVENTIONS_SCHEMA_VERSION}; rebuild the extension.`);
  }
}

function checkTopK(k: number, vocab: number): number {
  const max = Math.min(MAX_TOP_K, vocab);
  if (!Number.isInteger(k) || k < 1 || k > max) throw new EngineError('bad-input', `Top-k must be a whole number from 1 to ${max}, got ${k}.`);
  return k;
}
