/**
 * Interventions, checked against the model and trace and turned into the block graphs' affine
 * edits (act' = keep ⊙ act + add + mean ⊙ mean_pos(act), ./blockGraph.ts):
 *   patch  keep 0, add = source      zero  keep 0, add 0      mean  keep 0, mean 1
 *   scale  keep f                    add   add += v           set   keep 0, add = values
 * Two edits of one element compose in list order (keep₂·(keep₁·a + add₁) + add₂). A mean
 * ablation averages the hook's unedited activation, so it must be the first edit at its hook in a
 * run (TransformerLens would average the already-edited activation; refused rather than differ).
 */
import type { ModelConfig } from '../types';
import { EngineError } from '../../protocol/engine';
import type { Intervention, InterventionAction } from '../../protocol/interventions';
import type { BlockHook } from './blockGraph';

/** An intervention with its hook parsed and every index checked. */
export interface ResolvedIntervention {
  readonly layer: number;
  readonly hook: BlockHook;
  /** Sorted, distinct; every position when the site named none. */
  readonly positions: readonly number[];
  readonly allPositions: boolean;
  readonly head?: number;
  readonly neuron?: number;
  readonly action: InterventionAction;
  /** patch: the source trace's activation at this hook, full-trace layout (see activationLayout). */
  readonly source?: Float32Array;
}

export interface ResolvedRun {
  readonly interventions: readonly ResolvedIntervention[];
  /** First layer whose output can change. */
  readonly startLayer: number;
  /** First position whose activations can change. */
  readonly firstPos: number;
}

const HOOK_NAMES: Readonly<Record<string, BlockHook>> = {
  hook_resid_pre: 'resid_pre',
  hook_resid_mid: 'resid_mid',
  hook_resid_post: 'resid_post',
  hook_attn_out: 'attn_out',
  hook_mlp_out: 'mlp_out',
  'attn.hook_z': 'z',
  'attn.hook_pattern': 'pattern',
  'mlp.hook_post': 'mlp_post',
};

/** Parses "blocks.{l}.<hook>" (TransformerLens names) into a layer and a block hook. */
export function parseHookName(name: string, config: ModelConfig): { layer: number; hook: BlockHook } {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(typeof name === 'string' ? name : '');
  const hook = m ? HOOK_NAMES[m[2]] : undefined;
  if (!m || !hook) {
    throw new EngineError('bad-input', `Unknown hook point ${JSON.stringify(name)}: use blocks.{layer}.${Object.keys(HOOK_NAMES).join(' / ')}.`);
  }
  const layer = Number(m[1]);
  if (layer >= config.nLayer) throw new EngineError('bad-input', `Hook ${name}: layer ${layer} is out of range 0..${config.nLayer - 1}.`);
  return { layer, hook };
}

/**
 * Full-trace layout of one layer's activation at a hook (one run):
 *   resid_* / attn_out / mlp_out [T, D]   z [T, H, Dh]   pattern [H, T, T]   mlp_post [T, M]
 */
export function activationSize(hook: BlockHook, c: ModelConfig, T: number): number {
  if (hook === 'z') return T * c.nHead * c.dHead;
  if (hook === 'pattern') return c.nHead * T * T;
  if (hook === 'mlp_post') return T * c.dMlp;
  return T * c.dModel;
}

/** Size of the last axis an `add` vector runs along: D, Dh, T (keys) or M. */
function channelWidth(hook: BlockHook, c: ModelConfig, T: number): number {
  if (hook === 'z') return c.dHead;
  if (hook === 'pattern') return T;
  if (hook === 'mlp_post') return c.dMlp;
  return c.dModel;
}

/** Heads a site selects (z, pattern), or [undefined] for hooks without heads. */
function selectedHeads(iv: { readonly hook: BlockHook; readonly head?: number }, c: ModelConfig): readonly (number | undefined)[] {
  if (iv.hook !== 'z' && iv.hook !== 'pattern') return [undefined];
  return iv.head === undefined ? Array.from({ length: c.nHead }, (_, h) => h) : [iv.head];
}

/** Channels a site selects (one neuron of mlp_post, else the whole last axis). */
function selectedChannels(iv: { readonly hook: BlockHook; readonly neuron?: number }, c: ModelConfig, T: number): readonly number[] {
  if (iv.hook === 'mlp_post' && iv.neuron !== undefined) return [iv.neuron];
  return Array.from({ length: channelWidth(iv.hook, c, T) }, (_, i) => i);
}

/** Values a `set` needs per position: heads × channels of the selected slice. */
export function setWidth(iv: ResolvedIntervention | { hook: BlockHook; head?: number; neuron?: number }, c: ModelConfig, T: number): number {
  return selectedHeads(iv, c).length * selectedChannels(iv, c, T).length;
}

/** Index of (position, head, channel) in one layer's full-trace activation layout (activationSize). */
function fullTraceIndex(hook: BlockHook, c: ModelConfig, T: number, pos: number, head: number | undefined, ch: number): number {
  if (hook === 'z') return (pos * c.nHead + (head as number)) * c.dHead + ch;
  if (hook === 'pattern') return ((head as number) * T + pos) * T + ch;
  return pos * channelWidth(hook, c, T) + ch;
}

/**
 * A run of one patch, less the positions where the source equals the activation it replaces:
 * those writes change nothing. Leading equal positions are dropped (the causal model then
 * recomputes only from the first position that differs, e.g. after a shared prefix of the clean
 * and corrupted prompts); a patch equal everywhere is no edit at all (the run is the base trace).
 * Only for a run's single intervention: after an earlier edit, writing the base's values is not a
 * no-op. `baseActivation` is the base trace's activation at the patch's hook, full-trace layout.
 */
export function trimSinglePatch(run: ResolvedRun, baseActivation: Float32Array, c: ModelConfig, T: number): ResolvedRun {
  const iv = run.interventions[0];
  if (run.interventions.length !== 1 || !iv || iv.action.kind !== 'patch' || !iv.source) return run;
  const source = iv.source;
  const heads = selectedHeads(iv, c);
  const channels = selectedChannels(iv, c, T);
  const differs = (pos: number): boolean => {
    for (const head of heads) {
      for (const ch of channels) {
        const i = fullTraceIndex(iv.hook, c, T, pos, head, ch);
        if (source[i] !== baseActivation[i]) return true;
      }
    }
    return false;
  };
  const first = iv.positions.findIndex(differs);
  if (first < 0) return { interventions: [], startLayer: c.nLayer, firstPos: T };
  if (first === 0) return run;
  const positions = iv.positions.slice(first);
  return { interventions: [{ ...iv, positions, allPositions: false }], startLayer: iv.layer, firstPos: positions[0] as number };
}

/** Sources of patches: the activation of a stored trace at one layer's hook, full-trace layout. */
export type SourceLookup = (traceId: number, layer: number, hook: BlockHook) => Promise<Float32Array>;

/** Checks one run's interventions and fetches its patch sources. */
export async function resolveRun(
  interventions: readonly Intervention[],
  c: ModelConfig,
  T: number,
  sourceTokens: (traceId: number) => number,
  source: SourceLookup,
): Promise<ResolvedRun> {
  if (!Array.isArray(interventions)) throw new EngineError('bad-input', 'A run needs a list of interventions.');
  const resolved: ResolvedIntervention[] = [];
  const editedAt = new Set<string>();
  for (const iv of interventions) {
    if (!iv || typeof iv !== 'object' || !iv.site || !iv.action) throw new EngineError('bad-input', 'An intervention needs a site and an action.');
    const { layer, hook } = parseHookName(iv.site.hook, c);
    const where = iv.site.hook;
    const key = `${layer}/${hook}`;
    let positions: number[];
    const allPositions = iv.site.positions === undefined;
    if (allPositions) {
      positions = Array.from({ length: T }, (_, i) => i);
    } else {
      if (!Array.isArray(iv.site.positions) || iv.site.positions.length === 0) throw new EngineError('bad-input', `${where}: positions must be a non-empty list (omit it for every position).`);
      positions = [...iv.site.positions].sort((a, b) => a - b);
      for (const p of positions) checkIndex(`${where}: position`, p, T);
      if (positions.some((p, i) => i > 0 && p === positions[i - 1])) throw new EngineError('bad-input', `${where}: a position is listed twice.`);
    }
    if (iv.site.head !== undefined) {
      if (hook !== 'z' && hook !== 'pattern') throw new EngineError('bad-input', `${where}: only attn.hook_z and attn.hook_pattern take a head.`);
      checkIndex(`${where}: head`, iv.site.head, c.nHead);
    }
    if (iv.site.neuron !== undefined) {
      if (hook !== 'mlp_post') throw new EngineError('bad-input', `${where}: only mlp.hook_post takes a neuron.`);
      checkIndex(`${where}: neuron`, iv.site.neuron, c.dMlp);
    }
    const base = { layer, hook, positions, allPositions, ...(iv.site.head !== undefined ? { head: iv.site.head } : {}), ...(iv.site.neuron !== undefined ? { neuron: iv.site.neuron } : {}) };
    const action = iv.action;
    let src: Float32Array | undefined;
    switch (action.kind) {
      case 'patch': {
        const n = sourceTokens(action.sourceTraceId);
        if (n !== T) {
          throw new EngineError('bad-input', `${where}: patching needs equal token counts; the source trace has ${n} tokens, this one ${T}.`);
        }
        src = await source(action.sourceTraceId, layer, hook);
        break;
      }
      case 'zero':
        break;
      case 'mean':
        if (editedAt.has(key)) throw new EngineError('bad-input', `${where}: a mean ablation must be the first intervention at its hook in a run.`);
        break;
      case 'scale':
        if (typeof action.factor !== 'number' || !Number.isFinite(action.factor)) throw new EngineError('bad-input', `${where}: the scale factor must be a finite number.`);
        break;
      case 'add': {
        const width = channelWidth(hook, c, T);
        const ok = action.vector instanceof Float32Array && (action.vector.length === width || (hook === 'mlp_post' && iv.site.neuron !== undefined && action.vector.length === 1));
        if (!ok) throw new EngineError('bad-input', `${where}: the added vector must be a Float32Array of ${width} values${hook === 'mlp_post' ? ' (or 1 with a neuron)' : ''}.`);
        checkFinite(where, action.vector);
        break;
      }
      case 'set': {
        const need = positions.length * setWidth(base, c, T);
        if (!(action.values instanceof Float32Array) || action.values.length !== need) {
          throw new EngineError('bad-input', `${where}: set needs ${need} values (positions × the slice's width), laid out [positions, slice].`);
        }
        checkFinite(where, action.values);
        break;
      }
      default:
        throw new EngineError('bad-input', `${where}: unknown action ${JSON.stringify((action as { kind?: unknown }).kind)}.`);
    }
    editedAt.add(key);
    resolved.push({ ...base, action, ...(src ? { source: src } : {}) });
  }
  // Two means at one hook: the second would average an edited activation.
  const means = resolved.filter((r) => r.action.kind === 'mean').map((r) => `${r.layer}/${r.hook}`);
  if (new Set(means).size !== means.length) throw new EngineError('bad-input', 'At most one mean ablation per hook in a run.');
  const startLayer = resolved.length === 0 ? c.nLayer : Math.min(...resolved.map((r) => r.layer));
  const firstPos = resolved.length === 0 ? T : Math.min(...resolved.map((r) => (r.action.kind === 'mean' ? 0 : r.positions[0])));
  return { interventions: resolved, startLayer, firstPos };
}

/** The three edit tensors of one (layer, hook) for a batch, [B, ...activation shape over S positions]. */
export interface EditTensors {
  readonly keep: Float32Array;
  readonly add: Float32Array;
  readonly mean: Float32Array;
  readonly dims: readonly number[];
}

/** Batched activation shape at a hook for B runs over positions p0..T−1 (S of them). */
export function batchDims(hook: BlockHook, c: ModelConfig, B: number, S: number, T: number): number[] {
  if (hook === 'z') return [B, S, c.nHead, c.dHead];
  if (hook === 'pattern') return [B, c.nHead, S, T];
  if (hook === 'mlp_post') return [B, S, c.dMlp];
  return [B, S, c.dModel];
}

/**
 * Encodes the interventions at one (layer, hook) of each run of a batch. Runs without one there
 * keep identity edits. Positions must all be ≥ p0 (the planner guarantees it).
 */
export function encodeEdits(
  runs: readonly ResolvedRun[],
  layer: number,
  hook: BlockHook,
  c: ModelConfig,
  p0: number,
  T: number,
): EditTensors {
  const B = runs.length;
  const S = T - p0;
  const dims = batchDims(hook, c, B, S, T);
  const size = dims.reduce((a, b) => a * b, 1);
  const per = size / B;
  const keep = new Float32Array(size).fill(1);
  const add = new Float32Array(size);
  const mean = new Float32Array(size);
  const { nHead: H, dHead: Dh } = c;
  const width = channelWidth(hook, c, T);
  runs.forEach((run, b) => {
    for (const iv of run.interventions) {
      if (iv.layer !== layer || iv.hook !== hook) continue;
      const heads = selectedHeads(iv, c);
      const channels = selectedChannels(iv, c, T);
      const a = iv.action;
      iv.positions.forEach((pos, posOrdinal) => {
        if (pos < p0) throw new Error(`encodeEdits: position ${pos} is before the batch's first position ${p0}`);
        const s = pos - p0;
        heads.forEach((head, headOrdinal) => {
          channels.forEach((ch, chOrdinal) => {
            // Index in the batch tensor, and in the source's full-trace layout.
            let dst: number;
            if (hook === 'z') dst = ((s * H + (head as number)) * Dh + ch);
            else if (hook === 'pattern') dst = (((head as number) * S + s) * T + ch);
            else dst = s * width + ch;
            const src = fullTraceIndex(hook, c, T, pos, head, ch);
            dst += b * per;
            let k2 = 1;
            let a2 = 0;
            switch (a.kind) {
              case 'patch': k2 = 0; a2 = (iv.source as Float32Array)[src]; break;
              case 'zero': k2 = 0; break;
              case 'mean': keep[dst] = 0; add[dst] = 0; mean[dst] = 1; return;
              case 'scale': k2 = a.factor; break;
              case 'add': k2 = 1; a2 = a.vector.length === 1 ? a.vector[0] : a.vector[ch]; break;
              case 'set': k2 = 0; a2 = a.values[(posOrdinal * heads.length + headOrdinal) * channels.length + chOrdinal]; break;
            }
            keep[dst] *= k2;
            add[dst] = add[dst] * k2 + a2;
            mean[dst] *= k2;
          });
        });
      });
    }
  });
  return { keep, add, mean, dims };
}

function checkIndex(what: string, value: unknown, size: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= size) {
    throw new EngineError('bad-input', `${what} ${String(value)} is out of range 0..${size - 1}.`);
  }
}

function checkFinite(where: string, values: Float32Array): void {
  for (const v of values) if (!Number.isFinite(v)) throw new EngineError('bad-input', `${where}: the values must be finite numbers.`);
}
