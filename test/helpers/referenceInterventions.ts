/**
 * Interventions applied the obvious way inside the slow reference forward (referenceForward's
 * edit hook): loop over the selected positions / heads / channels of the hook's rows and set each
 * value, in list order, exactly as TransformerLens's run_with_hooks hook functions would. The
 * yardstick for src/engine/interventions/.
 */
import type { ModelWeights } from '../../src/engine/types';
import type { Intervention } from '../../src/protocol/interventions';
import { referenceForward, type ReferenceEdit, type ReferenceTrace } from './referenceForward';

/** Every hook's rows of one unedited reference run (the patch source), by TransformerLens name. */
export function captureHooks(weights: ModelWeights, ids: readonly number[]): Map<string, number[][]> {
  const captured = new Map<string, number[][]>();
  referenceForward(weights, ids, (hook, rows) => captured.set(hook, rows.map((r) => [...r])));
  return captured;
}

/**
 * The reference forward of `ids` with `interventions`; `sources` maps a source trace id to its
 * captured hooks (captureHooks) for patches.
 */
export function referenceWithInterventions(
  weights: ModelWeights,
  ids: readonly number[],
  interventions: readonly Intervention[],
  sources: ReadonlyMap<number, Map<string, number[][]>>,
): ReferenceTrace {
  const { nHead: H, dHead: Dh } = weights.config;
  const T = ids.length;
  const edit: ReferenceEdit = (hook, rows) => {
    for (const iv of interventions) {
      if (iv.site.hook !== hook) continue;
      const kind = hook.replace(/^blocks\.\d+\./, '');
      const positions = iv.site.positions ? [...iv.site.positions].sort((a, b) => a - b) : Array.from({ length: T }, (_, i) => i);
      const heads = kind === 'attn.hook_z' || kind === 'attn.hook_pattern' ? (iv.site.head === undefined ? Array.from({ length: H }, (_, h) => h) : [iv.site.head]) : [0];
      const width = kind === 'attn.hook_z' ? Dh : (rows[0] as number[]).length;
      const channels = kind === 'mlp.hook_post' && iv.site.neuron !== undefined ? [iv.site.neuron] : Array.from({ length: width }, (_, i) => i);
      // Row and column of (position, head, channel) in this hook's rows layout.
      const at = (pos: number, head: number, ch: number): [number, number] => {
        if (kind === 'attn.hook_z') return [pos, head * Dh + ch];
        if (kind === 'attn.hook_pattern') return [head * T + pos, ch];
        return [pos, ch];
      };
      // Mean over all positions of the activation as it is now (before this edit).
      const meanOf = (head: number, ch: number): number => {
        let s = 0;
        for (let p = 0; p < T; p++) {
          const [r, c] = at(p, head, ch);
          s += rows[r]![c] as number;
        }
        return s / T;
      };
      const means = new Map<string, number>();
      if (iv.action.kind === 'mean') for (const h of heads) for (const ch of channels) means.set(`${h}/${ch}`, meanOf(h, ch));
      positions.forEach((pos, pi) => {
        heads.forEach((head, hi) => {
          channels.forEach((ch, ci) => {
            const [r, c] = at(pos, head, ch);
            const row = rows[r] as number[];
            const a = iv.action;
            switch (a.kind) {
              case 'patch': row[c] = sources.get(a.sourceTraceId)!.get(hook)![r]![c] as number; break;
              case 'zero': row[c] = 0; break;
              case 'mean': row[c] = means.get(`${head}/${ch}`) as number; break;
              case 'scale': row[c] = (row[c] as number) * a.factor; break;
              case 'add': row[c] = (row[c] as number) + (a.vector.length === 1 ? (a.vector[0] as number) : (a.vector[ch] as number)); break;
              case 'set': row[c] = a.values[(pi * heads.length + hi) * channels.length + ci] as number; break;
            }
          });
        });
      });
    }
  };
  return referenceForward(weights, ids, edit);
}
