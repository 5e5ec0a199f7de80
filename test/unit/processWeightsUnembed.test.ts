/**
 * A fine-tune's untied lm_head.weight is W_U in the circuits' processed weights: W_U columns and
 * projections onto W_U equal explicit products with lm_head (fold_ln, centring and center_unembed
 * as TransformerLens), while W_E stays the token embedding. Tolerance 1e-5 relative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embedRow, processWeights, projectOnUnembed, unembedColumn } from '../../src/analysis/processWeights';
import type { ModelWeights } from '../../src/engine/types';
import { randomWeights } from '../helpers/checkpointWriter';
import { Random } from '../helpers/random';

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('untied lm_head: unembedColumn and projectOnUnembed use lm_head; embedRow uses wte', () => {
  const base = randomWeights({ seed: 11, nLayer: 1, nHead: 2, dModel: 8, nCtx: 8, dVocab: 20 });
  const lmHead = new Random(12).gaussianArray(20 * 8, 1);
  const untied: ModelWeights = { ...base, lmHead };
  const pw = processWeights(untied);
  const { dModel: D, dVocab: V } = base.config;
  const w = base.lnFinalWeight;

  // Explicit W_U: column t = w_lnf ⊙ lm_head[t], centred over d_model, then the vocabulary mean removed.
  const columns: Float64Array[] = [];
  for (let t = 0; t < V; t++) {
    const col = new Float64Array(D);
    let mean = 0;
    for (let i = 0; i < D; i++) mean += (w[i] as number) * (lmHead[t * D + i] as number);
    mean /= D;
    for (let i = 0; i < D; i++) col[i] = (w[i] as number) * (lmHead[t * D + i] as number) - mean;
    columns.push(col);
  }
  for (let i = 0; i < D; i++) {
    let vocabMean = 0;
    for (let t = 0; t < V; t++) vocabMean += columns[t]?.[i] as number;
    vocabMean /= V;
    for (let t = 0; t < V; t++) (columns[t] as Float64Array)[i] = (columns[t]?.[i] as number) - vocabMean;
  }
  const v = new Random(13).gaussianArray(D, 1);
  const projected = projectOnUnembed(pw, v);
  for (let t = 0; t < V; t++) {
    const got = unembedColumn(pw, t);
    let dot = 0;
    for (let i = 0; i < D; i++) {
      close(got[i] as number, columns[t]?.[i] as number, `W_U[${i}, ${t}]`);
      dot += (v[i] as number) * (columns[t]?.[i] as number);
    }
    close(projected[t] as number, dot, `v · W_U[:, ${t}]`);
  }
  // W_E is still the token embedding, centred.
  const row = embedRow(pw, 3);
  let mean = 0;
  for (let i = 0; i < D; i++) mean += base.wte[3 * D + i] as number;
  mean /= D;
  for (let i = 0; i < D; i++) close(row[i] as number, (base.wte[3 * D + i] as number) - mean, `W_E[3, ${i}]`);
  // And the tied model's W_U differs: the head really is used.
  assert.notEqual(unembedColumn(processWeights(base), 0)[0], unembedColumn(pw, 0)[0]);
});
