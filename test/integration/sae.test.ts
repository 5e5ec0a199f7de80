/**
 * SAE features through the real engine (ORT graph) against the slow float64 reference
 * (test/helpers/referenceSae.ts) on small random checkpoints and SAEs written by the test:
 * every architecture (standard/ReLU, jumprelu, topk), every normalisation, centred or not,
 * b_dec applied or not, F32 / F16 / BF16, pre-6.0 and 6.x configs, hooks resid_pre / resid_post /
 * mlp_out. Tolerance: |engine − reference| ≤ 1e-5 · max(1, |reference|); top ids exactly equal,
 * ties by lower id. Then the per-feature effects against explicit products, and every refusal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import type { Trace } from '../../src/engine/types';
import { EngineError } from '../../src/protocol/engine';
import type { ModelWeights } from '../../src/engine/types';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { randomSaeTensors, writeRandomSae, writeRawSafetensors, type RandomSaeOptions } from '../helpers/saeWriter';
import { referenceSae, referenceTop, type ReferenceSaeSpec } from '../helpers/referenceSae';
import { referenceForward } from '../helpers/referenceForward';

const TOL = 1e-5;
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };
const TEXT = 'The cat sat on the mat. The cat';
const D = CONFIG.dModel;
const S = 48;

function close(actual: number, expected: number, what: string, tol = TOL): void {
  const err = Math.abs(actual - expected) / Math.max(1, Math.abs(expected));
  assert.ok(err <= tol, `${what}: engine ${actual}, reference ${expected} (error ${err})`);
}

let root: string;
let engine: Engine;
let weights: ModelWeights;
let trace: Trace;

before(async () => {
  root = makeTempFolder('residual-lens-sae');
  const model = path.join(root, 'model');
  weights = writeRandomCheckpoint(model, { seed: 7, ...CONFIG });
  engine = new Engine({ threads: 1 });
  await engine.load({ folder: model, name: 'tiny', cacheDir: path.join(root, 'cache') });
  trace = await engine.trace({ text: TEXT });
});

after(async () => {
  await engine.dispose();
  removeTempFolder(root);
});

function hookRows(hookName: string): Float32Array {
  const T = trace.tokens.length;
  const m = /^blocks\.(\d+)\.(hook_resid_pre|hook_resid_post|hook_mlp_out)$/.exec(hookName);
  assert.ok(m);
  const l = Number(m[1]);
  if (m[2] === 'hook_resid_pre') return trace.resid.subarray(l * T * D, (l + 1) * T * D);
  if (m[2] === 'hook_resid_post') return trace.resid.subarray((l + 1) * T * D, (l + 2) * T * D);
  return trace.mlpOut.subarray(l * T * D, (l + 1) * T * D);
}

let caseNo = 0;
async function checkVariant(o: Omit<RandomSaeOptions, 'seed' | 'dIn' | 'dSae'>): Promise<void> {
  const opts: RandomSaeOptions = { seed: 100 + caseNo, dIn: D, dSae: S, ...o };
  const folder = path.join(root, `sae-${caseNo++}`);
  const w = writeRandomSae(folder, opts);
  const info = await engine.loadSae({ folder });
  const arch = opts.architecture ?? 'standard';
  const norm = opts.normalizeActivations === true ? 'none' : ((opts.normalizeActivations || 'none') as string);
  const spec: ReferenceSaeSpec = {
    dIn: D, dSae: S, architecture: arch, k: opts.k ?? 4,
    normalization: norm === 'expected_average_only_in' ? 'none' : (norm as ReferenceSaeSpec['normalization']),
    applyBDecToInput: opts.applyBDecToInput ?? true,
    centre: opts.centre ?? true,
  };
  assert.equal(info.centredInput, spec.centre);
  const T = trace.tokens.length;
  const k = 6;
  const got = await engine.saeFeatures({ traceId: trace.traceId, k });
  const ref = referenceSae(spec, w, hookRows(opts.hookName ?? 'blocks.1.hook_resid_pre'), T);
  const label = JSON.stringify(o);
  for (let t = 0; t < T; t++) {
    const top = referenceTop(ref.acts[t], k);
    const ids = Array.from(got.ids.subarray(t * k, (t + 1) * k)).filter((id) => id >= 0);
    assert.deepEqual(ids, top.map((e) => e.id), `${label} pos ${t}: top ids`);
    top.forEach((e, i) => close(got.values[t * k + i], e.value, `${label} pos ${t} feature ${e.id}`));
    assert.equal(got.l0[t], ref.acts[t].filter((v) => v > 0).length, `${label} pos ${t}: L0`);
    const x = ref.saeIn[t];
    const r = ref.recon[t];
    const mean = x.reduce((a, b) => a + b, 0) / D;
    const err = x.reduce((a, v, d) => a + (v - r[d]) ** 2, 0);
    const spread = x.reduce((a, v) => a + (v - mean) ** 2, 0);
    close(got.varianceExplained[t], 1 - err / spread, `${label} pos ${t}: variance explained`, 1e-4);
    const cos = x.reduce((a, v, d) => a + v * r[d], 0) / Math.hypot(...x) / Math.hypot(...r);
    close(got.cosine[t], cos, `${label} pos ${t}: cosine`);
  }
}

describe('SAE features against the reference', () => {
  it('standard ReLU, pre-6.0 config (gpt2-small-res-jb style), centred by default', () => checkVariant({}));
  it('standard ReLU, 6.x config, not centred, b_dec not applied', () => checkVariant({ style: '6', centre: false, applyBDecToInput: false }));
  it('jumprelu with threshold, 6.x config', () => checkVariant({ style: '6', architecture: 'jumprelu', centre: true }));
  it('topk (activation_fn_str "topk" + activation_fn_kwargs.k), pre-6.0', () => checkVariant({ architecture: 'topk', k: 5 }));
  it('topk, 6.x config', () => checkVariant({ style: '6', architecture: 'topk', k: 3, centre: false }));
  it('constant_norm_rescale', () => checkVariant({ style: '6', normalizeActivations: 'constant_norm_rescale' }));
  it('layer_norm', () => checkVariant({ style: '6', normalizeActivations: 'layer_norm', centre: false }));
  it('expected_average_only_in (identity at inference, as SAELens) and the old boolean form', async () => {
    await checkVariant({ style: '6', normalizeActivations: 'expected_average_only_in' });
    await checkVariant({ normalizeActivations: true });
  });
  it('F16 and BF16 weights', async () => {
    await checkVariant({ dtype: 'F16' });
    await checkVariant({ dtype: 'BF16', architecture: 'jumprelu', style: '6' });
  });
  it('hooks resid_post and mlp_out', async () => {
    await checkVariant({ hookName: 'blocks.0.hook_resid_post' });
    await checkVariant({ hookName: 'blocks.1.hook_mlp_out', centre: false });
  });

  it('breaks ties by the lower feature id', async () => {
    const o: RandomSaeOptions = { seed: 5, dIn: D, dSae: S, style: '6', centre: false };
    const w = randomSaeTensors(o);
    // Features 3, 9 and 20 read nothing and have the same large bias: equal activations (100) everywhere.
    for (const f of [3, 9, 20]) {
      for (let d = 0; d < D; d++) w.W_enc[d * S + f] = 0;
      w.b_enc[f] = 100;
    }
    const folder = path.join(root, 'sae-ties');
    writeRandomSae(folder, o, w);
    await engine.loadSae({ folder });
    const got = await engine.saeFeatures({ traceId: trace.traceId, k: 3 });
    for (let t = 0; t < trace.tokens.length; t++) assert.deepEqual(Array.from(got.ids.subarray(t * 3, t * 3 + 3)), [3, 9, 20], `pos ${t}`);
  });
});

describe('one feature: logit effects, DLA, embedding tokens', () => {
  it('match explicit products', async () => {
    const o: RandomSaeOptions = { seed: 77, dIn: D, dSae: S, style: '6', centre: true };
    const folder = path.join(root, 'sae-effects');
    const w = writeRandomSae(folder, o);
    await engine.loadSae({ folder });
    const feats = await engine.saeFeatures({ traceId: trace.traceId, k: 1 });
    const pos = trace.tokens.length - 1;
    const feature = feats.ids[pos];
    assert.ok(feature >= 0);
    const detail = await engine.saeFeature({ feature, traceId: trace.traceId, pos, n: 5 });
    const V = CONFIG.dVocab;
    // explicit: logits of the centred decoder row through γ and W_U
    const row = Array.from(w.W_dec.subarray(feature * D, (feature + 1) * D));
    const mean = row.reduce((a, b) => a + b, 0) / D;
    const logit = (t: number): number => row.reduce((a, v, d) => a + (v - mean) * weights.lnFinalWeight[d] * weights.wte[t * D + d], 0);
    const all = Array.from({ length: V }, (_, t) => logit(t));
    const order = all.map((value, id) => ({ id, value })).sort((a, b) => b.value - a.value || a.id - b.id);
    assert.deepEqual(detail.promoted.map((e) => e.id), order.slice(0, 5).map((e) => e.id));
    detail.promoted.forEach((e, i) => close(e.value, order[i].value, 'promoted'));
    const low = [...order].sort((a, b) => a.value - b.value || a.id - b.id);
    assert.deepEqual(detail.suppressed.map((e) => e.id), low.slice(0, 5).map((e) => e.id));
    // DLA: activation × direction · W_U[:, top-1] / ln_final scale
    const tokenId = trace.logitsTop.ids[pos * trace.logitsTop.k];
    assert.ok(detail.dla);
    assert.equal(detail.dla.tokenId, tokenId);
    close(detail.dla.activation, feats.values[pos], 'activation');
    close(detail.dla.value, (feats.values[pos] * logit(tokenId)) / trace.lnFinalScale[pos], 'dla', 1e-4);
    // embedding tokens: pre-activation of the centred embedding
    const pre = (t: number): number => {
      const e = Array.from(weights.wte.subarray(t * D, (t + 1) * D));
      const m = e.reduce((a, b) => a + b, 0) / D;
      return e.reduce((a, v, d) => a + (v - m - w.b_dec[d]) * w.W_enc[d * S + feature], w.b_enc[feature]);
    };
    const best = Array.from({ length: V }, (_, t) => ({ id: t, value: pre(t) })).sort((a, b) => b.value - a.value || a.id - b.id);
    assert.deepEqual(detail.topEmbeddingTokens.map((e) => e.id), best.slice(0, 5).map((e) => e.id));
  });
});

describe('reconstruction for splicing', () => {
  for (const centre of [true, false]) {
    it(`is the reference reconstruction in the hook's space (centred SAE: ${centre})`, async () => {
      const o: RandomSaeOptions = { seed: 41, dIn: D, dSae: S, style: '6', centre, normalizeActivations: 'layer_norm' };
      const folder = path.join(root, `sae-recon-${centre}`);
      const w = writeRandomSae(folder, o);
      await engine.loadSae({ folder });
      const T = trace.tokens.length;
      const x = hookRows('blocks.1.hook_resid_pre');
      const ref = referenceSae({ dIn: D, dSae: S, architecture: 'standard', normalization: 'layer_norm', applyBDecToInput: true, centre }, w, x, T);
      const got = await engine.saeReconstruction({ traceId: trace.traceId });
      assert.equal(got.hook, 'blocks.1.hook_resid_pre');
      for (let t = 0; t < T; t++) {
        let mean = 0;
        for (let d = 0; d < D; d++) mean += x[t * D + d] / D;
        for (let d = 0; d < D; d++) close(got.values[t * D + d], ref.recon[t][d] + (centre ? mean : 0), `pos ${t} dim ${d}`, 1e-4);
      }
    });
  }
});

describe('splicing the SAE in', () => {
  /** log-softmax of one position's row of [T, V] logits, in float64. */
  function logSoftmax(logits: Float32Array, pos: number, V: number): Float64Array {
    const row = logits.subarray(pos * V, (pos + 1) * V);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    return Float64Array.from(row, (v) => v - lse);
  }

  it('equals the reference forward with the hook replaced by the reconstruction (KL, log p, top-k), 1e-4', async () => {
    const folder = path.join(root, 'sae-splice');
    writeRandomSae(folder, { seed: 43, dIn: D, dSae: S, style: '6', centre: true, normalizeActivations: 'none' });
    await engine.loadSae({ folder });
    const T = trace.tokens.length;
    const V = CONFIG.dVocab;
    const pos = T - 2;
    const rec = await engine.saeReconstruction({ traceId: trace.traceId });
    const got = await engine.saeSplice({ traceId: trace.traceId, pos, topK: 3 });
    assert.equal(got.hook, 'blocks.1.hook_resid_pre');
    assert.equal(got.pos, pos);
    const ids = trace.tokens.map((t) => t.id);
    const plain = logSoftmax(referenceForward(weights, ids).logits, pos, V);
    const spliced = logSoftmax(
      referenceForward(weights, ids, (hook, rows) => {
        if (hook !== rec.hook) return;
        for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) rows[t]![d] = rec.values[t * D + d]!;
      }).logits,
      pos,
      V,
    );
    let kl = 0;
    for (let v = 0; v < V; v++) kl += Math.exp(plain[v]!) * (plain[v]! - spliced[v]!);
    let top1 = 0;
    for (let v = 1; v < V; v++) if (plain[v]! > plain[top1]!) top1 = v;
    assert.equal(got.tokenId, top1);
    close(got.kl, kl, 'KL(unedited || spliced)', 1e-4);
    assert.ok(got.kl > 1e-6, `a random SAE changes the prediction (KL ${got.kl})`);
    close(got.logprobBefore, plain[top1]!, 'log p before', 1e-4);
    close(got.logprobAfter, spliced[top1]!, 'log p after', 1e-4);
    const best = Array.from(spliced, (value, id) => ({ id, value })).sort((a, b) => b.value - a.value || a.id - b.id).slice(0, 3);
    assert.deepEqual([...got.top.ids], best.map((e) => e.id));
  });
});

describe('scan windows', () => {
  it('per-feature maxima equal the dense reference', async () => {
    const o: RandomSaeOptions = { seed: 31, dIn: D, dSae: S, style: '6', centre: true };
    const folder = path.join(root, 'sae-scan');
    const w = writeRandomSae(folder, o);
    await engine.loadSae({ folder });
    const ids = trace.tokens.map((t) => t.id);
    const win = await engine.saeScan({ ids });
    const ref = referenceSae({ dIn: D, dSae: S, architecture: 'standard', normalization: 'none', applyBDecToInput: true, centre: true }, w, hookRows('blocks.1.hook_resid_pre'), ids.length);
    const expected: number[] = [];
    for (let s = 0; s < S; s++) if (ref.acts.some((r) => r[s] > 0)) expected.push(s);
    assert.deepEqual(Array.from(win.features), expected);
    win.features.forEach((s, i) => {
      const column = ref.acts.map((r) => r[s]);
      const max = Math.max(...column);
      close(win.max[i], max, `feature ${s} max`);
      assert.ok(Math.abs(column[win.argmax[i]] - max) <= 1e-5 * Math.max(1, max), `feature ${s} argmax`);
    });
  });
});

describe('refusals name the field and keep the previous SAE', () => {
  const cases: [string, (folder: string) => void, RegExp][] = [
    ['hook layer beyond the model', (f) => writeRandomSae(f, { seed: 1, dIn: D, dSae: 8, hookName: 'blocks.5.hook_resid_pre' }), /"hook_name" "blocks\.5\.hook_resid_pre" does not exist in the loaded model tiny \(layers 0\.\.1\)/],
    ['d_in is not d_model', (f) => writeRandomSae(f, { seed: 1, dIn: 12, dSae: 8 }), /"d_in" 12 is not the loaded model tiny's d_model 16/],
    ['model_name of another model', (f) => writeRandomSae(f, { seed: 1, dIn: D, dSae: 8, modelName: 'gpt2-small' }), /"model_name" "gpt2-small" does not match the loaded model tiny/],
    ['unsupported hook', (f) => writeRandomSae(f, { seed: 1, dIn: D, dSae: 8, hookName: 'blocks.0.attn.hook_z' }), /"hook_name" "blocks\.0\.attn\.hook_z" is not supported yet/],
    ['gated architecture', (f) => {
      writeRandomSae(f, { seed: 1, dIn: D, dSae: 8, style: '6' });
      const cfg = JSON.parse(fs.readFileSync(path.join(f, 'cfg.json'), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(path.join(f, 'cfg.json'), JSON.stringify({ ...cfg, architecture: 'gated' }));
    }, /"architecture" "gated" is not supported/],
    ['jumprelu without threshold', (f) => {
      const w = writeRandomSae(f, { seed: 1, dIn: D, dSae: 8, style: '6', architecture: 'jumprelu' });
      writeRawSafetensors(path.join(f, 'sae_weights.safetensors'), [['W_enc', [D, 8], w.W_enc], ['b_enc', [8], w.b_enc], ['W_dec', [8, D], w.W_dec], ['b_dec', [D], w.b_dec]], 'F32');
    }, /tensor "threshold" is missing/],
    ['W_dec of the wrong shape', (f) => {
      const w = writeRandomSae(f, { seed: 1, dIn: D, dSae: 8 });
      writeRawSafetensors(path.join(f, 'sae_weights.safetensors'), [['W_enc', [D, 8], w.W_enc], ['b_enc', [8], w.b_enc], ['W_dec', [D, 8], w.W_dec], ['b_dec', [D], w.b_dec]], 'F32');
    }, /tensor "W_dec" has shape \[16, 8\], cfg\.json's d_in 16 and d_sae 8 imply \[8, 16\]/],
    ['huge d_sae', (f) => {
      writeRandomSae(f, { seed: 1, dIn: D, dSae: 8 });
      const cfg = JSON.parse(fs.readFileSync(path.join(f, 'cfg.json'), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(path.join(f, 'cfg.json'), JSON.stringify({ ...cfg, d_sae: 1e12 }));
    }, /"d_sae" 1000000000000 is larger than/],
    ['topk without k', (f) => {
      writeRandomSae(f, { seed: 1, dIn: D, dSae: 8, style: '6', architecture: 'topk' });
      const cfg = JSON.parse(fs.readFileSync(path.join(f, 'cfg.json'), 'utf8')) as Record<string, unknown>;
      delete cfg['k'];
      fs.writeFileSync(path.join(f, 'cfg.json'), JSON.stringify(cfg));
    }, /"k" is missing, expected an integer from 1 to d_sae \(8\)/],
    ['no weights file', (f) => {
      writeRandomSae(f, { seed: 1, dIn: D, dSae: 8 });
      fs.rmSync(path.join(f, 'sae_weights.safetensors'));
    }, /sae_weights\.safetensors: not found/],
  ];
  for (const [label, make, message] of cases) {
    it(label, async () => {
      const good = path.join(root, 'sae-good');
      if (!fs.existsSync(good)) writeRandomSae(good, { seed: 3, dIn: D, dSae: 8 });
      const before = await engine.loadSae({ folder: good });
      const folder = path.join(root, `bad-${label.replace(/\W+/g, '-')}`);
      make(folder);
      await assert.rejects(engine.loadSae({ folder }), (err: unknown) => {
        assert.ok(err instanceof EngineError, String(err));
        assert.equal(err.code, 'bad-sae');
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
      const still = await engine.saeFeatures({ traceId: trace.traceId, k: 2 });
      assert.equal(still.sae.fingerprint, before.fingerprint);
    });
  }
});
