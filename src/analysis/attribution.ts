/**
 * Direct logit attribution with the final LayerNorm scale frozen (TransformerLens apply_ln_to_stack):
 * each write is centred along d_model, divided by the final residual's LN scale, multiplied by w_lnf
 * and dotted with W_U[:, t]. Because centring and scaling are linear once the scale is frozen,
 * Σ values + b_lnf · W_U[:, t] is exactly the model's logit.
 */

/**
 * @param components [C, D] component writes (decomposeResidual)
 * @param lnFinalScale ln_final.hook_scale at the position (sqrt(var + eps) of the final residual)
 * @param unembedColumn [D] W_U[:, t] (= wte[t])
 * @returns values [C] and lnBiasTerm = b_lnf · W_U[:, t]
 */
export function directLogitAttribution(
  components: Float32Array,
  d: number,
  lnFinalScale: number,
  lnFinalWeight: Float32Array,
  lnFinalBias: Float32Array,
  unembedColumn: Float32Array,
): { values: Float32Array; lnBiasTerm: number } {
  if (components.length % d !== 0) throw new RangeError(`directLogitAttribution: ${components.length} values are not rows of d_model ${d}`);
  if (!(lnFinalScale > 0)) throw new RangeError(`directLogitAttribution: the final LayerNorm scale must be positive, got ${lnFinalScale}`);
  const rows = components.length / d;
  // w ⊙ u and its mean: centred(x)·(w⊙u) = x·(w⊙u) − mean(x)·Σ(w⊙u)
  const wu = new Float64Array(d);
  let wuSum = 0;
  for (let i = 0; i < d; i++) {
    wu[i] = (lnFinalWeight[i] as number) * (unembedColumn[i] as number);
    wuSum += wu[i] as number;
  }
  const values = new Float32Array(rows);
  for (let c = 0; c < rows; c++) {
    let dotWu = 0;
    let sum = 0;
    const base = c * d;
    for (let i = 0; i < d; i++) {
      const x = components[base + i] as number;
      dotWu += x * (wu[i] as number);
      sum += x;
    }
    values[c] = (dotWu - (sum / d) * wuSum) / lnFinalScale;
  }
  let lnBiasTerm = 0;
  for (let i = 0; i < d; i++) lnBiasTerm += (lnFinalBias[i] as number) * (unembedColumn[i] as number);
  return { values, lnBiasTerm };
}
