/**
 * The demo SAE: a sparse autoencoder in the SAELens layout for the demo model's
 * blocks.1.hook_resid_pre — the stream the induction head reads — built, not trained, from the
 * demo model's own subspaces (src/models/demoModel.ts), so every feature means one planted thing:
 *
 *   BOS              the current token is <|endoftext|> (TOKEN subspace)
 *   "token is w"     the current token is w (TOKEN subspace; the embedding wrote it)
 *   "after w"        the previous token was w (PREV subspace; only the previous-token head L0H0
 *                    writes there, so these features exist because of that head — and they are what
 *                    the induction head's keys match against)
 *   "position i"     the position is i (POS subspace; the positional embedding wrote it)
 *
 * Feature f has a unit direction e_f in the stream (basis · code); encoder column e_f, bias
 * −THRESHOLD_COS · 4, decoder row e_f · 4 / (4 − THRESHOLD_COS · 4): each part of the stream has
 * norm 4, so a perfect match activates at 1.6 and reconstructs that part exactly. Another code
 * fires only if its cosine with e_f exceeds THRESHOLD_COS (random 64-dim token codes: σ = 0.125,
 * so 0.6 is 4.8σ; the test checks the whole vocabulary). models/demo-sae/README.md lists the features.
 * Deterministic: the same arithmetic as the demo model, the real tokenizer's ids.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { demoSubspaces, DEMO_CONFIG, positionCodes, SUBSPACE_DIM, tokenCodes, TOKEN_NORM } from '../demoModel';
import { writeSafetensors } from '../../engine/safetensors';
import { tokenize } from '../../engine/tokenizer';

export const DEMO_SAE_HOOK = 'blocks.1.hook_resid_pre';
/** Features fire where the stream part's cosine with their direction exceeds this. */
export const THRESHOLD_COS = 0.6;
/** Words with a "token is" and an "after" feature (each one GPT-2 token). */
export const DEMO_SAE_WORDS = [' The', ' the', ' cat', ' sat', ' on', ' mat', ' city', ' of', ' Mary', ' John', ' Paris', '.', ','] as const;
/** Positions 0..N−1 get a "position" feature. */
export const DEMO_SAE_POSITIONS = 16;
export const BOS_ID = 50256;

export interface DemoFeature {
  readonly id: number;
  readonly label: string;
  readonly kind: 'bos' | 'token' | 'after' | 'position';
  /** Token id (bos, token, after) or position. */
  readonly target: number;
}

/** Every feature, in id order. */
export function demoSaeFeatures(): DemoFeature[] {
  const ids = DEMO_SAE_WORDS.map((w) => {
    const t = tokenize(w, { prependBos: false }).tokens;
    if (t.length !== 1) throw new Error(`demo SAE word ${JSON.stringify(w)} is ${t.length} tokens, not 1`);
    return t[0].id;
  });
  const out: DemoFeature[] = [{ id: 0, label: 'BOS (<|endoftext|>)', kind: 'bos', target: BOS_ID }];
  DEMO_SAE_WORDS.forEach((w, i) => out.push({ id: out.length, label: `token is ${JSON.stringify(w)}`, kind: 'token', target: ids[i] }));
  DEMO_SAE_WORDS.forEach((w, i) => out.push({ id: out.length, label: `after ${JSON.stringify(w)} (written by L0H0)`, kind: 'after', target: ids[i] }));
  for (let p = 0; p < DEMO_SAE_POSITIONS; p++) out.push({ id: out.length, label: `position ${p}`, kind: 'position', target: p });
  return out;
}

export interface DemoSaeTensors {
  readonly dSae: number;
  /** [D, S] */ readonly wEnc: Float32Array;
  /** [S] */ readonly bEnc: Float32Array;
  /** [S, D] */ readonly wDec: Float32Array;
  /** [D] */ readonly bDec: Float32Array;
}

export function buildDemoSae(): DemoSaeTensors {
  const D = DEMO_CONFIG.dModel;
  const E = SUBSPACE_DIM;
  const bases = demoSubspaces();
  const tokens = tokenCodes();
  const positions = positionCodes(DEMO_SAE_POSITIONS);
  const features = demoSaeFeatures();
  const S = features.length;
  const wEnc = new Float32Array(D * S);
  const bEnc = new Float32Array(S);
  const wDec = new Float32Array(S * D);
  const bDec = new Float32Array(D);
  const decoderGain = TOKEN_NORM / (TOKEN_NORM - THRESHOLD_COS * TOKEN_NORM);
  for (const f of features) {
    const basis = f.kind === 'after' ? bases.prev : f.kind === 'position' ? bases.pos : bases.token;
    const code = f.kind === 'position' ? positions.subarray(f.target * E, (f.target + 1) * E) : tokens.subarray(f.target * E, (f.target + 1) * E);
    for (let d = 0; d < D; d++) {
      let v = 0;
      for (let e = 0; e < E; e++) v += basis[d * E + e] * code[e];
      wEnc[d * S + f.id] = v;
      wDec[f.id * D + d] = v * decoderGain;
    }
    bEnc[f.id] = -THRESHOLD_COS * TOKEN_NORM;
  }
  return { dSae: S, wEnc, bEnc, wDec, bDec };
}

export function demoSaeConfigJson(dSae: number): Record<string, unknown> {
  return {
    architecture: 'standard',
    d_in: DEMO_CONFIG.dModel,
    d_sae: dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
    reshape_activations: 'none',
    metadata: {
      sae_lens_version: '6.0.0',
      model_name: 'residual-lens-demo',
      hook_name: DEMO_SAE_HOOK,
      hook_head_index: null,
      // Built on the raw stream; the demo stream is mean-zero anyway (every subspace ⟂ all-ones).
      model_from_pretrained_kwargs: { center_writing_weights: false },
      prepend_bos: true,
      residual_lens_demo: 'planted features of the demo model; see models/demo-sae/README.md',
    },
  };
}

/** Writes `folder`/cfg.json, sae_weights.safetensors and feature-labels.json (the planted meanings). */
export function writeDemoSae(folder: string): void {
  fs.mkdirSync(folder, { recursive: true });
  const t = buildDemoSae();
  const D = DEMO_CONFIG.dModel;
  const write = (name: string, text: string): void => {
    const file = path.join(folder, name);
    fs.writeFileSync(`${file}.tmp-${process.pid}`, text);
    fs.renameSync(`${file}.tmp-${process.pid}`, file);
  };
  write('cfg.json', `${JSON.stringify(demoSaeConfigJson(t.dSae), null, 2)}\n`);
  write('feature-labels.json', `${JSON.stringify({ schema: 1, labels: Object.fromEntries(demoSaeFeatures().map((f) => [String(f.id), f.label])) }, null, 2)}\n`);
  writeSafetensors(path.join(folder, 'sae_weights.safetensors'), [
    { name: 'W_enc', dtype: 'F32', shape: [D, t.dSae], data: t.wEnc },
    { name: 'b_enc', dtype: 'F32', shape: [t.dSae], data: t.bEnc },
    { name: 'W_dec', dtype: 'F32', shape: [t.dSae, D], data: t.wDec },
    { name: 'b_dec', dtype: 'F32', shape: [D], data: t.bDec },
  ], { format: 'pt' });
}
