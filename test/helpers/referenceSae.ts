/**
 * A slow, obvious SAE forward in float64, written from SAELens's encode/decode (sae.py
 * process_sae_in / run_time_activation_norm_fn_in/out, standard/jumprelu/topk encode), for
 * checking the ORT graph. Dense [T, S]; small shapes only.
 */
import type { SaeTensors } from './saeWriter';

export interface ReferenceSaeSpec {
  readonly dIn: number;
  readonly dSae: number;
  readonly architecture: 'standard' | 'jumprelu' | 'topk';
  readonly k?: number;
  readonly normalization: 'none' | 'constant_norm_rescale' | 'layer_norm';
  readonly applyBDecToInput: boolean;
  readonly centre: boolean;
}

export interface ReferenceSaeOutput {
  /** [T][S] */ readonly acts: number[][];
  /** [T][D] the SAE input (centred when asked), before normalisation */ readonly saeIn: number[][];
  /** [T][D] */ readonly recon: number[][];
}

export function referenceSae(spec: ReferenceSaeSpec, w: SaeTensors, x: Float32Array, T: number): ReferenceSaeOutput {
  const { dIn: D, dSae: S } = spec;
  const acts: number[][] = [];
  const saeIns: number[][] = [];
  const recons: number[][] = [];
  for (let t = 0; t < T; t++) {
    let row = Array.from({ length: D }, (_, d) => x[t * D + d]);
    if (spec.centre) {
      const mean = row.reduce((a, b) => a + b, 0) / D;
      row = row.map((v) => v - mean);
    }
    saeIns.push(row);
    let input = row;
    let outFn = (r: number[]): number[] => r;
    if (spec.normalization === 'constant_norm_rescale') {
      const coeff = Math.sqrt(D) / Math.hypot(...row);
      input = row.map((v) => v * coeff);
      outFn = (r) => r.map((v) => v / coeff);
    } else if (spec.normalization === 'layer_norm') {
      const mu = row.reduce((a, b) => a + b, 0) / D;
      const std = Math.sqrt(row.reduce((a, v) => a + (v - mu) ** 2, 0) / (D - 1));
      input = row.map((v) => (v - mu) / (std + 1e-5));
      outFn = (r) => r.map((v) => v * std + mu);
    }
    if (spec.applyBDecToInput) input = input.map((v, d) => v - w.b_dec[d]);
    const pre: number[] = [];
    for (let s = 0; s < S; s++) {
      let sum = w.b_enc[s];
      for (let d = 0; d < D; d++) sum += input[d] * w.W_enc[d * S + s];
      pre.push(sum);
    }
    let f: number[];
    if (spec.architecture === 'standard') f = pre.map((v) => Math.max(0, v));
    else if (spec.architecture === 'jumprelu') f = pre.map((v, s) => (v > (w.threshold as Float32Array)[s] ? Math.max(0, v) : 0));
    else {
      const order = pre.map((v, s) => [v, s] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, spec.k ?? 1);
      f = new Array<number>(S).fill(0);
      for (const [v, s] of order) f[s] = Math.max(0, v);
    }
    acts.push(f);
    const out: number[] = [];
    for (let d = 0; d < D; d++) {
      let sum = w.b_dec[d];
      for (let s = 0; s < S; s++) sum += f[s] * w.W_dec[s * D + d];
      out.push(sum);
    }
    recons.push(outFn(out));
  }
  return { acts, saeIn: saeIns, recon: recons };
}

/** The k largest of a row (value desc, then lower id), only values > 0. */
export function referenceTop(row: readonly number[], k: number): { id: number; value: number }[] {
  return row
    .map((value, id) => ({ id, value }))
    .filter((e) => e.value > 0)
    .sort((a, b) => b.value - a.value || a.id - b.id)
    .slice(0, k);
}
