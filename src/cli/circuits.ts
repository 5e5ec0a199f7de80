/**
 * `residual-lens circuits --model <folder|name> [--json] [--seed N] [--tokens N] [--dir DIR]`:
 * the weight-only circuits of issue 5 (composition scores, MLP virtual weights, head detectors run
 * through the engine, OV copying, subspaces), as a readable summary or as JSON (schema 1):
 *   composition {q, k, v}: [L][H][L][H] (0 where l2 <= l1), composition_baseline,
 *   mlp_virtual_norms: [L][L] (row = reading layer j, column = writing layer i),
 *   head_to_mlp [L][H][L], mlp_to_head [L][L][H],
 *   heads: [{layer, head, previous_token, duplicate_token, induction, copying, write_effective_rank, ov_top}],
 *   positional_qk {size, scores: [L][H][n][n]}, subspaces {embedding, positional: {at50, at80, at90, cumulative},
 *   head_overlap: {q, k, v: [L][H][L][H] write(l1, h1) → read(l2, h2) subspace overlap in [0, 1], 0 where l2 <= l1;
 *   baseline (random subspaces); top: {q, k, v: [{from, to, score}]}}}.
 */
import { CliUsageError, parseCliArgs, quoteArg, type CliCommand } from './args';
import { cliEngine, EXECUTION_PROVIDER_OPTION, loadForCli } from './engineOption';
import { formatTable } from './tokenize';
import { cacheDirectory, resolveModelArg } from './trace';
import { decodeToken } from '../engine/tokenizer';
import { headRole, type HeadRole } from '../viewModels/circuits';
import { formatFixed } from '../viewModels/format';
import type { CircuitsReport, HeadSubspaceOverlaps, SubspaceCurve } from '../analysis/circuitTypes';

export const command: CliCommand = {
  async run(args) {
    const { values } = parseCliArgs(args, {
      model: { type: 'string', default: 'demo' },
      json: { type: 'boolean', default: false },
      seed: { type: 'string', default: '0' },
      tokens: { type: 'string', default: '200' },
      dir: { type: 'string' },
      ...EXECUTION_PROVIDER_OPTION,
    });
    const seed = Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new CliUsageError(`--seed must be a whole number ≥ 0, got ${quoteArg(values.seed)}`);
    const tokenSample = Number(values.tokens);
    if (!Number.isInteger(tokenSample) || tokenSample < 1 || tokenSample > 5000) {
      throw new CliUsageError(`--tokens must be a whole number from 1 to 5000, got ${quoteArg(values.tokens)}`);
    }
    const cacheDir = cacheDirectory(values.dir);
    const model = await resolveModelArg(values.model, cacheDir);
    const engine = cliEngine(values['execution-provider']);
    try {
      await loadForCli(engine, model.folder, model.name, cacheDir);
      const t0 = performance.now();
      const report = await engine.circuits({ seed, tokenSample });
      const json = circuitsToJson(model.name, report);
      process.stdout.write(values.json ? `${JSON.stringify(json)}\n` : `${circuitsSummary(json, performance.now() - t0)}\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

/** 6 significant digits keep the JSON readable; the scores are not more precise than that anyway. */
const round = (x: number): number => (x === 0 || !Number.isFinite(x) ? x : Number(x.toPrecision(6)));

/** Nested arrays of a row-major tensor. */
function nest(data: Float32Array, shape: readonly number[]): unknown[] {
  const build = (offset: number, axis: number): unknown[] => {
    const n = shape[axis]!;
    if (axis === shape.length - 1) return Array.from(data.subarray(offset, offset + n), round);
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: n }, (_, i) => build(offset + i * stride, axis + 1));
  };
  return build(0, 0);
}

export interface CircuitsJson {
  readonly schema: 1;
  readonly model: { readonly name: string; readonly n_layer: number; readonly n_head: number };
  readonly composition: { readonly q: unknown[]; readonly k: unknown[]; readonly v: unknown[] };
  readonly composition_baseline: number;
  /** The highest score a perfect head reaches on the detector sequences (an induction head: n/(2n+1), just under 0.5). */
  readonly detector_ceilings: { readonly previous_token: number; readonly duplicate_token: number; readonly induction: number };
  readonly top_composition: Record<'q' | 'k' | 'v', { from: string; to: string; score: number }[]>;
  readonly mlp_virtual_norms: unknown[];
  readonly head_to_mlp: unknown[];
  readonly mlp_to_head: unknown[];
  readonly heads: {
    layer: number;
    head: number;
    previous_token: number;
    duplicate_token: number;
    induction: number;
    copying: number;
    write_effective_rank: number;
    /** The detector with the highest score / ceiling when that is ≥ 0.5 (see detector_ceilings), else null. */
    role: HeadRole | null;
    /** Strongest sampled OV entries: source token raises target token's logit. */
    ov_top: { source: number; target: number; source_text: string; target_text: string; value: number }[];
  }[];
  readonly positional_qk: { readonly size: number; readonly scores: unknown[] };
  readonly subspaces: Record<'embedding' | 'positional', { at50: number; at80: number; at90: number; cumulative: number[] }> & {
    /** Mean squared cosine of the principal angles between a head's write subspace and a later head's Q/K/V read subspace. */
    readonly head_overlap?: {
      readonly q: unknown[];
      readonly k: unknown[];
      readonly v: unknown[];
      readonly baseline: number;
      readonly top: Record<'q' | 'k' | 'v', { from: string; to: string; score: number }[]>;
    };
  };
}

/** Highest-scoring pairs of one composition tensor [L, H, L, H]. */
export function topPairs(scores: Float32Array, L: number, H: number, n: number): { from: string; to: string; score: number }[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i).filter((i) => (scores[i] as number) > 0);
  idx.sort((a, b) => (scores[b] as number) - (scores[a] as number));
  return idx.slice(0, n).map((i) => {
    const h2 = i % H;
    const l2 = Math.floor(i / H) % L;
    const h1 = Math.floor(i / (H * L)) % H;
    const l1 = Math.floor(i / (H * L * H));
    return { from: `L${l1}H${h1}`, to: `L${l2}H${h2}`, score: round(scores[i] as number) };
  });
}

export function circuitsToJson(name: string, r: CircuitsReport): CircuitsJson {
  const { nLayer: L, nHead: H } = r;
  const curve = (c: SubspaceCurve) => ({ at50: c.at50, at80: c.at80, at90: c.at90, cumulative: Array.from(c.cumulative, round) });
  const n = r.positionalQkSize;
  return {
    schema: 1,
    model: { name, n_layer: L, n_head: H },
    composition: { q: nest(r.composition.q, [L, H, L, H]), k: nest(r.composition.k, [L, H, L, H]), v: nest(r.composition.v, [L, H, L, H]) },
    composition_baseline: round(r.compositionBaseline),
    detector_ceilings: {
      previous_token: round(r.detectorCeilings.previousToken),
      duplicate_token: round(r.detectorCeilings.duplicateToken),
      induction: round(r.detectorCeilings.induction),
    },
    top_composition: { q: topPairs(r.composition.q, L, H, 10), k: topPairs(r.composition.k, L, H, 10), v: topPairs(r.composition.v, L, H, 10) },
    mlp_virtual_norms: nest(r.mlpVirtualNorms, [L, L]),
    head_to_mlp: nest(r.headToMlp, [L, H, L]),
    mlp_to_head: nest(r.mlpToHead, [L, L, H]),
    heads: r.heads.map((h) => ({
      layer: h.layer,
      head: h.head,
      previous_token: round(h.previousToken),
      duplicate_token: round(h.duplicateToken),
      induction: round(h.induction),
      copying: round(h.copying),
      write_effective_rank: round(h.writeEffectiveRank),
      role: headRole(h, r.detectorCeilings) ?? null,
      ov_top: (h.ovTopTokens ?? []).map((e) => ({ source: e.source, target: e.target, source_text: tokenText(e.source), target_text: tokenText(e.target), value: round(e.value) })),
    })),
    positional_qk: { size: n, scores: nest(r.positionalQk, [L, H, n, n]) },
    subspaces: {
      embedding: curve(r.subspaces.embedding),
      positional: curve(r.subspaces.positional),
      ...(r.subspaces.headOverlap && { head_overlap: overlapJson(r.subspaces.headOverlap, L, H) }),
    },
  };
}

function overlapJson(o: HeadSubspaceOverlaps, L: number, H: number): NonNullable<CircuitsJson['subspaces']['head_overlap']> {
  return {
    q: nest(o.q, [L, H, L, H]),
    k: nest(o.k, [L, H, L, H]),
    v: nest(o.v, [L, H, L, H]),
    baseline: round(o.baseline),
    top: { q: topPairs(o.q, L, H, 10), k: topPairs(o.k, L, H, 10), v: topPairs(o.v, L, H, 10) },
  };
}

/** The readable summary. */
export function circuitsSummary(j: CircuitsJson, ms: number): string {
  const out: string[] = [];
  const L = j.model.n_layer;
  out.push(`${j.model.name} (${L} layers × ${j.model.n_head} heads) · circuits in ${(ms / 1000).toFixed(1)} s`);
  out.push(`Composition scores (random pairs of the same shapes score ${j.composition_baseline.toFixed(4)} on average)`);
  for (const kind of ['k', 'q', 'v'] as const) {
    const top = j.top_composition[kind].slice(0, 5);
    out.push('', `Top ${kind.toUpperCase()}-composition`);
    out.push(top.length ? formatTable(['writer', 'reader', 'score'], top.map((p) => [p.from, p.to, p.score.toFixed(4)]), [false, false, true]) : '  (none above 0)');
  }
  const mlp: { i: number; j: number; v: number }[] = [];
  (j.mlp_virtual_norms as number[][]).forEach((row, reader) => row.forEach((v, writer) => v > 0 && mlp.push({ i: writer, j: reader, v })));
  mlp.sort((a, b) => b.v - a.v);
  out.push('', 'Strongest MLP → MLP virtual weights ‖W_virtual‖_F');
  out.push(mlp.length ? formatTable(['writer', 'reader', 'norm'], mlp.slice(0, 5).map((p) => [`MLP ${p.i}`, `MLP ${p.j}`, p.v.toFixed(3)]), [false, false, true]) : '  (all zero)');
  const heads = [...j.heads];
  const shown = heads.length <= 24 ? heads : [...new Set([...top(heads, 'previous_token'), ...top(heads, 'duplicate_token'), ...top(heads, 'induction'), ...top(heads, 'copying')])];
  out.push('', heads.length <= 24 ? 'Heads' : 'Heads (the top 4 by each score)');
  out.push(
    formatTable(
      ['head', 'prev-token', 'duplicate', 'induction', 'copying', 'write rank', 'role'],
      shown.map((h) => [`L${h.layer}H${h.head}`, formatFixed(h.previous_token, 3), formatFixed(h.duplicate_token, 3), formatFixed(h.induction, 3), formatFixed(h.copying, 3), formatFixed(h.write_effective_rank, 1), h.role ?? '']),
      [false, true, true, true, true, true, false],
    ),
  );
  const c = j.detector_ceilings;
  out.push(`A perfect head scores at most ${c.previous_token.toFixed(3)} / ${c.duplicate_token.toFixed(3)} / ${c.induction.toFixed(3)} (prev-token / duplicate / induction) on these sequences; role: score ≥ half of that.`);
  out.push('', 'Subspaces: principal directions explaining 50 / 80 / 90 % of the variance');
  out.push(
    formatTable(
      ['', '50 %', '80 %', '90 %', 'of'],
      (['embedding', 'positional'] as const).map((k) => {
        const c = j.subspaces[k];
        return [k === 'embedding' ? 'W_E' : 'W_pos', String(c.at50), String(c.at80), String(c.at90), String(c.cumulative.length)];
      }),
      [false, true, true, true, true],
    ),
  );
  const overlap = j.subspaces.head_overlap;
  if (overlap) {
    const rows = (['k', 'q', 'v'] as const).flatMap((kind) => overlap.top[kind].slice(0, 3).map((p) => [`${kind.toUpperCase()}`, p.from, p.to, p.score.toFixed(4)]));
    out.push('', `Largest write → read subspace overlaps (random subspaces overlap ${overlap.baseline.toFixed(4)})`);
    out.push(rows.length ? formatTable(['read', 'writer', 'reader', 'overlap'], rows, [false, false, false, true]) : '  (none above 0)');
  }
  return out.join('\n');
}

function tokenText(id: number): string {
  try {
    return decodeToken(id);
  } catch {
    return `#${id}`;
  }
}

function top<T extends Record<K, number>, K extends string>(items: readonly T[], key: K, n = 4): T[] {
  return [...items].sort((a, b) => b[key] - a[key]).slice(0, n);
}
