/**
 * The residual stream as a sum of component writes (TransformerLens decompose_resid with per-head
 * results): embed + pos_embed + Σ_layers (Σ_heads z_h·W_O[h] + b_O + mlp_out) = the final residual.
 */
import type { ComponentLabel, ModelConfig, Trace } from '../engine/types';

/** Canonical component order: embed, pos_embed, then per layer L{l}H0..H{H-1}, attn bias, MLP. */
export function componentLabels(config: ModelConfig): ComponentLabel[] {
  const labels: ComponentLabel[] = [
    { kind: 'embed', layer: -1, head: -1, name: 'embed' },
    { kind: 'pos_embed', layer: -1, head: -1, name: 'pos_embed' },
  ];
  for (let l = 0; l < config.nLayer; l++) {
    for (let h = 0; h < config.nHead; h++) labels.push({ kind: 'head', layer: l, head: h, name: `L${l}H${h}` });
    labels.push({ kind: 'attn_bias', layer: l, head: -1, name: `L${l} attn bias` });
    labels.push({ kind: 'mlp', layer: l, head: -1, name: `MLP ${l}` });
  }
  return labels;
}

/**
 * [C, D] every component's write at position `pos` (C = 2 + L·(H + 2), order of componentLabels).
 * Head rows are attn.hook_result: z[l, pos, h, :] · attnProjWeight[l][h·Dh : (h+1)·Dh, :].
 */
export function decomposeResidual(
  trace: Pick<Trace, 'embed' | 'posEmbed' | 'z' | 'mlpOut' | 'tokens' | 'model'>,
  weights: { readonly attnProjWeight: readonly Float32Array[]; readonly attnProjBias: readonly Float32Array[] },
  pos: number,
): Float32Array {
  const { nLayer: L, nHead: H, dModel: D, dHead: Dh } = trace.model.config;
  const T = trace.tokens.length;
  if (!Number.isInteger(pos) || pos < 0 || pos >= T) throw new RangeError(`decomposeResidual: position ${pos} is outside 0..${T - 1}`);
  const C = 2 + L * (H + 2);
  const out = new Float32Array(C * D);
  out.set(trace.embed.subarray(pos * D, (pos + 1) * D), 0);
  out.set(trace.posEmbed.subarray(pos * D, (pos + 1) * D), D);
  let row = 2;
  const acc = new Float64Array(D);
  for (let l = 0; l < L; l++) {
    const wO = weights.attnProjWeight[l]!;
    for (let h = 0; h < H; h++) {
      acc.fill(0);
      const zBase = ((l * T + pos) * H + h) * Dh;
      for (let j = 0; j < Dh; j++) {
        const zj = trace.z[zBase + j] as number;
        if (zj === 0) continue;
        const wRow = (h * Dh + j) * D;
        for (let i = 0; i < D; i++) acc[i] = (acc[i] as number) + zj * (wO[wRow + i] as number);
      }
      out.set(acc, row * D);
      row++;
    }
    out.set(weights.attnProjBias[l]!, row * D);
    row++;
    out.set(trace.mlpOut.subarray((l * T + pos) * D, (l * T + pos + 1) * D), row * D);
    row++;
  }
  return out;
}
