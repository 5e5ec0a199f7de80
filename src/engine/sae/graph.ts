/**
 * The SAE encode graph, built in TS like src/engine/graph.ts. Hook activations [T, d_in] in;
 * sparse results out — the dense [T, d_sae] activations never leave onnxruntime:
 *
 *   sae_in  = x − mean_d(x)              when the SAE was trained on TransformerLens's centred stream
 *   x_n     = normalise(sae_in)           SAELens run_time_activation_norm_fn_in (none / constant_norm_rescale / layer_norm)
 *   pre     = (x_n − b_dec·apply_b_dec_to_input) · W_enc + b_enc          [T, d_sae]
 *   f       = ReLU(pre) | ReLU(pre)·[pre > threshold] | ReLU(TopK_k(pre)) scattered back
 *   recon   = denormalise(f · W_dec + b_dec)                               [T, d_in]
 *
 * Outputs: the top `k` features per position (TopK sorted; ONNX breaks ties by the lower index),
 * L0 per position, sae_in and recon (so the worker computes variance explained and cosine), and
 * for the workspace scan each feature's maximum over positions with its first argmax.
 * The weights are external-data initializers pointing into sae_weights.safetensors when they are F32
 * (so ORT prepacks them, as the model's weights), else graph inputs fed from the loaded Float32Arrays.
 */
import { DataType, GraphBuilder, type ExternalTensor } from '../onnx/model';
import type { SaeConfig } from '../../models/sae/config';

export const SAE_INPUTS = {
  /** [T, d_in] hook activation */ x: 'x',
  /** [1] int64 features kept per position */ k: 'k',
  wEnc: 'W_enc', bEnc: 'b_enc', wDec: 'W_dec', bDec: 'b_dec', threshold: 'threshold',
} as const;

export const SAE_OUTPUTS = {
  /** [T, k] */ topValues: 'top_values',
  /** [T, k] int64 */ topIds: 'top_ids',
  /** [T] count of features > 0 */ l0: 'l0',
  /** [T, d_in] the SAE's input before normalisation (centred when the SAE says so) */ saeIn: 'sae_in',
  /** [T, d_in] reconstruction of sae_in */ recon: 'recon',
  /** [d_sae] max over positions */ featureMax: 'feature_max',
  /** [d_sae] int64 first position of that max */ featureArgmax: 'feature_argmax',
} as const;

/** The epsilon SAELens's layer_norm normalisation adds to the standard deviation. */
export const SAE_LAYER_NORM_EPS = 1e-5;

/** Where an SAE tensor (SAELens name) lives as external F32 data, or undefined to make it a graph input. */
export type SaeWeightLocator = (name: string, dims: readonly number[]) => ExternalTensor | undefined;

/** Which outputs a graph computes: 'features' (top-k, L0, sae_in, recon) or 'scan' (feature max / argmax only). */
export type SaeGraphKind = 'features' | 'scan';

export function buildSaeGraph(cfg: SaeConfig, kind: SaeGraphKind = 'features', locate: SaeWeightLocator = () => undefined): Uint8Array {
  const g = new GraphBuilder(`residual_lens_sae_${kind}`, 17);
  const { dIn: D, dSae: S } = cfg;
  const weight = (name: string, dims: readonly number[]): string => {
    const at = locate(name, dims);
    return at ? g.external(name, dims, at) : g.input(name, DataType.FLOAT, dims);
  };
  const x = g.input(SAE_INPUTS.x, DataType.FLOAT, ['T', D]);
  const k = kind === 'features' ? g.input(SAE_INPUTS.k, DataType.INT64, [1]) : '';
  const wEnc = weight(SAE_INPUTS.wEnc, [D, S]);
  const bEnc = weight(SAE_INPUTS.bEnc, [S]);
  const wDec = kind === 'features' ? weight(SAE_INPUTS.wDec, [S, D]) : '';
  const bDec = weight(SAE_INPUTS.bDec, [D]);
  const lastAxis = { axes: { ints: [-1] }, keepdims: { i: 1 } };

  const saeIn = cfg.centreInput ? g.op('Sub', [x, g.op('ReduceMean', [x], lastAxis)], {}, SAE_OUTPUTS.saeIn) : g.op('Identity', [x], {}, SAE_OUTPUTS.saeIn);

  let xn = saeIn;
  let denormalise: (r: string) => string = (r) => r;
  if (cfg.normalization === 'constant_norm_rescale') {
    // coeff = sqrt(d_in) / ‖x‖; out = recon / coeff
    const norm = g.op('Sqrt', [g.op('ReduceSumSquare', [saeIn], lastAxis)]); // [T, 1]
    const coeff = g.op('Div', [g.constFloat(Math.sqrt(D)), norm]);
    xn = g.op('Mul', [saeIn, coeff]);
    denormalise = (r) => g.op('Div', [r, coeff]);
  } else if (cfg.normalization === 'layer_norm') {
    // mu, std (torch's unbiased std over d_in); x_n = (x − mu) / (std + eps); out = recon · std + mu
    const mu = g.op('ReduceMean', [saeIn], lastAxis);
    const centred = g.op('Sub', [saeIn, mu]);
    const std = g.op('Sqrt', [g.op('Div', [g.op('ReduceSumSquare', [centred], lastAxis), g.constFloat(D - 1)])]);
    xn = g.op('Div', [centred, g.op('Add', [std, g.constFloat(SAE_LAYER_NORM_EPS)])]);
    denormalise = (r) => g.op('Add', [g.op('Mul', [r, std]), mu]);
  }
  const encIn = cfg.applyBDecToInput ? g.op('Sub', [xn, bDec]) : xn;
  const pre = g.op('Add', [g.op('MatMul', [encIn, wEnc]), bEnc]); // [T, S]

  let f: string;
  const act = cfg.activation;
  if (act.kind === 'relu') {
    f = g.op('Relu', [pre]);
  } else if (act.kind === 'jumprelu') {
    const threshold = weight(SAE_INPUTS.threshold, [S]);
    const zero = g.constFloat(0);
    f = g.op('Where', [g.op('Greater', [pre, threshold]), g.op('Relu', [pre]), zero]);
  } else {
    const [values, ids] = g.node('TopK', [pre, g.constInts([act.k])], 2, { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } });
    const zeros = g.op('ConstantOfShape', [g.op('Shape', [pre])]); // float 0
    f = g.op('ScatterElements', [zeros, ids, g.op('Relu', [values])], { axis: { i: 1 } });
  }

  if (kind === 'scan') {
    g.op('ReduceMax', [f], { axes: { ints: [0] }, keepdims: { i: 0 } }, SAE_OUTPUTS.featureMax);
    g.op('ArgMax', [f], { axis: { i: 0 }, keepdims: { i: 0 }, select_last_index: { i: 0 } }, SAE_OUTPUTS.featureArgmax);
    g.output(SAE_OUTPUTS.featureMax, DataType.FLOAT, [S]);
    g.output(SAE_OUTPUTS.featureArgmax, DataType.INT64, [S]);
    return g.build();
  }
  g.node('TopK', [f, k], 2, { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, [SAE_OUTPUTS.topValues, SAE_OUTPUTS.topIds]);
  const active = g.op('Cast', [g.op('Greater', [f, g.constFloat(0)])], { to: { i: DataType.FLOAT } });
  g.op('ReduceSum', [active, g.constInts([-1])], { keepdims: { i: 0 } }, SAE_OUTPUTS.l0);
  const recon = denormalise(g.op('Add', [g.op('MatMul', [f, wDec]), bDec]));
  g.op('Identity', [recon], {}, SAE_OUTPUTS.recon);

  g.output(SAE_OUTPUTS.topValues, DataType.FLOAT, ['T', 'k']);
  g.output(SAE_OUTPUTS.topIds, DataType.INT64, ['T', 'k']);
  g.output(SAE_OUTPUTS.l0, DataType.FLOAT, ['T']);
  g.output(SAE_OUTPUTS.saeIn, DataType.FLOAT, ['T', D]);
  g.output(SAE_OUTPUTS.recon, DataType.FLOAT, ['T', D]);
  return g.build();
}
