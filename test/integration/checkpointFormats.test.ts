/**
 * The checkpoint layouts researchers already have, each traced through the Engine and compared
 * with the same weights stored as one plain F32 model.safetensors (BF16 / F16 files: with their
 * own exact F32 upcast). Tolerance: |a − b| ≤ 1e-4 · max(1, |b|) on the residual stream, the
 * patterns, z, the MLP outputs, the final top-k logits and probabilities, the logit lens and the
 * direct logit attribution; top-k ids equal. Layouts: pytorch_model.bin (F32 tied, F16, BF16 with
 * an untied head and a value head), BF16 safetensors, sharded safetensors, a Hugging Face cache
 * snapshot (read-only, symlinked blobs), and the .bin writer checked against files PyTorch made.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { ensureF32Weights, openCheckpoint, readWeights, type Checkpoint } from '../../src/engine/checkpoint';
import { readTorchBin } from '../../src/engine/formats/torchBin';
import { readZipDirectory } from '../../src/engine/formats/zip';
import { EngineError } from '../../src/protocol/engine';
import type { ModelInfo, ModelWeights } from '../../src/engine/types';
import { resolveModel } from '../../src/models/registry';
import { findHfSnapshot, hfHubCacheDir, listHfModels } from '../../src/models/hfCache';
import { makeTempFolder, randomWeights, removeTempFolder } from '../helpers/checkpointWriter';
import {
  addHfSnapshot,
  fileTensors,
  roundWeights,
  torchBinBytes,
  treeState,
  writeBinCheckpoint,
  writeSafetensorsCheckpoint,
  writeShardedBinCheckpoint,
  writeShardedCheckpoint,
  type FloatDtype,
  type FormatOptions,
} from '../helpers/checkpointFormats';
import { referenceForward } from '../helpers/referenceForward';
import { Random } from '../helpers/random';
import { assertClose } from '../helpers/assertClose';

const TOL = 1e-4;
const TEXT = 'The cat sat on the mat.';
/** The real vocabulary size: the tokenizer's ids (BOS = 50256) must fit. Small otherwise. */
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'torch');


interface Outputs {
  readonly info: ModelInfo;
  readonly tokenIds: number[];
  readonly floats: Record<string, ArrayLike<number>>;
  readonly ids: Record<string, ArrayLike<number>>;
}

/** Everything the views show for `text`: trace hooks, final top-k, the lens, DLA at the last position. */
async function outputs(engine: Engine, folder: string, cacheDir: string, text = TEXT, prependBos = true): Promise<Outputs> {
  const info = await engine.load({ folder, name: path.basename(folder), cacheDir });
  const trace = await engine.trace({ text, options: { topK: 5, withMlpPost: true, prependBos } });
  const lens = await engine.lens({ traceId: trace.traceId, k: 5 });
  const attribution = await engine.attribute({ traceId: trace.traceId, pos: trace.tokens.length - 1 });
  return {
    info,
    tokenIds: trace.tokens.map((t) => t.id),
    floats: {
      resid: trace.resid, pattern: trace.pattern, z: trace.z, mlpOut: trace.mlpOut, mlpPost: trace.mlpPost ?? [],
      logits: trace.logitsTop.logits, probs: trace.logitsTop.probs, lensLogits: lens.top.logits, lensProbs: lens.top.probs,
      dla: attribution.values, dlaLogit: [attribution.logit, attribution.lnBiasTerm],
    },
    ids: { top: trace.logitsTop.ids, lensTop: lens.top.ids, nextTokenRank: lens.nextTokenRank },
  };
}

function assertSameOutputs(got: Outputs, want: Outputs, what: string): void {
  for (const [key, value] of Object.entries(want.floats)) assertClose(got.floats[key] as ArrayLike<number>, value, `${what} ${key}`, TOL);
  for (const [key, value] of Object.entries(want.ids)) assert.deepEqual(Array.from(got.ids[key] as ArrayLike<number>), Array.from(value), `${what} ${key}`);
}

/** Plain F32 safetensors of `stored` (untied lm_head kept), the reference every layout must equal. */
function writeReference(folder: string, stored: ModelWeights): void {
  writeSafetensorsCheckpoint(folder, stored, { dtype: 'F32', prefix: false, ...(stored.lmHead ? { lmHead: 'untied' as const } : {}) });
}

describe('every checkpoint layout traces like plain F32 safetensors of the same weights', () => {
  let root: string;
  let engine: Engine;
  let base: ModelWeights;
  let fineTune: ModelWeights;
  const references = new Map<string, Outputs>();

  before(() => {
    root = makeTempFolder('rl-formats');
    engine = new Engine();
    base = randomWeights({ ...CONFIG, seed: 31 });
    const random = new Random(77);
    fineTune = { ...randomWeights({ ...CONFIG, seed: 32 }), lmHead: random.gaussianArray(CONFIG.dVocab * CONFIG.dModel, 1) };
  });
  after(async () => {
    await engine.dispose();
    removeTempFolder(root);
  });

  /** Outputs of the plain F32 reference for weights rounded to `dtype` (computed once per key). */
  async function reference(key: string, weights: ModelWeights, dtype: FloatDtype): Promise<Outputs> {
    const cached = references.get(`${key}/${dtype}`);
    if (cached) return cached;
    const folder = path.join(root, `ref-${key}-${dtype}`);
    writeReference(folder, roundWeights(weights, dtype));
    const out = await outputs(engine, folder, path.join(root, 'cache'));
    assert.equal(out.info.dtype, 'F32');
    references.set(`${key}/${dtype}`, out);
    return out;
  }

  const cases: { name: string; fineTune?: boolean; dtype: FloatDtype; write: (folder: string, w: ModelWeights, o: FormatOptions) => void; opts: FormatOptions; format: string }[] = [
    { name: 'pytorch_model.bin F32, tied lm_head (one storage), bool mask buffers', dtype: 'F32', write: writeBinCheckpoint, opts: { lmHead: 'tied', maskBuffers: true }, format: 'pytorch-bin' },
    { name: 'pytorch_model.bin F16, bare keys', dtype: 'F16', write: writeBinCheckpoint, opts: { prefix: false }, format: 'pytorch-bin' },
    { name: 'pytorch_model.bin BF16 fine-tune: untied lm_head and a value head', fineTune: true, dtype: 'BF16', write: writeBinCheckpoint, opts: { lmHead: 'untied', extra: [{ name: 'v_head.summary.weight', shape: [1, 16], data: new Float32Array(16).fill(0.5) }] }, format: 'pytorch-bin' },
    { name: 'model.safetensors BF16', dtype: 'BF16', write: writeSafetensorsCheckpoint, opts: { lmHead: 'tied' }, format: 'safetensors' },
    { name: 'model.safetensors F32 fine-tune: untied lm_head and a classifier head', fineTune: true, dtype: 'F32', write: writeSafetensorsCheckpoint, opts: { lmHead: 'untied', extra: [{ name: 'score.weight', shape: [2, 16], data: new Float32Array(32).fill(-1) }] }, format: 'safetensors' },
    { name: 'sharded safetensors F32, 3 shards + index', dtype: 'F32', write: (f, w, o) => writeShardedCheckpoint(f, w, 3, o), opts: { maskBuffers: true }, format: 'sharded-safetensors' },
    { name: 'sharded safetensors BF16, 2 shards + index', dtype: 'BF16', write: (f, w, o) => writeShardedCheckpoint(f, w, 2, o), opts: {}, format: 'sharded-safetensors' },
    { name: 'sharded pytorch_model.bin F16, 3 shards + index (safe_serialization=False)', dtype: 'F16', write: (f, w, o) => writeShardedBinCheckpoint(f, w, 3, o), opts: { maskBuffers: true }, format: 'sharded-pytorch-bin' },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const weights = c.fineTune ? fineTune : base;
      const folder = path.join(root, c.name.replace(/[^a-z0-9]+/gi, '-'));
      c.write(folder, weights, { ...c.opts, dtype: c.dtype });
      const got = await outputs(engine, folder, path.join(root, 'cache'));
      assert.equal(got.info.dtype, c.dtype);
      assert.equal(got.info.format, c.format);
      assert.equal(got.info.unembedding, c.fineTune ? 'lm_head' : 'tied');
      if (c.fineTune) {
        assert.match(got.info.notes?.[0] ?? '', /^uses the stored lm_head\.weight as the unembedding/);
        assert.match(got.info.notes?.[1] ?? '', /^ignored 1 tensor that GPT-2's language model does not use: "(v_head\.summary|score)\.weight"$/);
      }
      assertSameOutputs(got, await reference(c.fineTune ? 'fine' : 'base', weights, c.dtype), c.name);
    });
  }

  it('the untied head really is W_U: the F32 fine-tune matches the reference forward with lm_head, not wte', async () => {
    const folder = path.join(root, 'untied-check');
    writeReference(folder, fineTune);
    const got = await outputs(engine, folder, path.join(root, 'cache'));
    const ref = referenceForward(fineTune, got.tokenIds);
    const V = CONFIG.dVocab;
    const T = got.tokenIds.length;
    for (let t = 0; t < T; t++) {
      const row = ref.logits.subarray(t * V, (t + 1) * V);
      let best = 0;
      for (let v = 1; v < V; v++) if ((row[v] as number) > (row[best] as number)) best = v;
      assert.equal(got.ids.top[t * 5], best, `top-1 at ${t} follows lm_head`);
    }
    const { lmHead: _untied, ...tiedWeights } = fineTune;
    const tied = referenceForward(tiedWeights, got.tokenIds);
    assert.notDeepEqual(Array.from(tied.logits.subarray(0, 8)), Array.from(ref.logits.subarray(0, 8)), 'the two heads differ');
  });

  it('a Hugging Face cache snapshot: refs/main, else the newest; traced in place; the cache is never written', async () => {
    const hub = path.join(root, 'hf-hub');
    const oldFolder = path.join(root, 'hf-src-old');
    const newFolder = path.join(root, 'hf-src-new');
    writeBinCheckpoint(oldFolder, randomWeights({ ...CONFIG, seed: 99 }), { dtype: 'F32', lmHead: 'tied' });
    writeSafetensorsCheckpoint(newFolder, base, { dtype: 'BF16' });
    const older = 'a'.repeat(40);
    const newer = 'b'.repeat(40);
    addHfSnapshot(hub, 'openai-community/gpt2', older, oldFolder, { mtime: new Date(Date.now() - 3_600_000) });
    const mainSnapshot = addHfSnapshot(hub, 'openai-community/gpt2', newer, newFolder, { main: true });
    addHfSnapshot(hub, 'someone/gpt2-finetune', older, oldFolder, { main: true });
    // Not GPT-2: listed by nobody.
    fs.mkdirSync(path.join(hub, 'models--bert-base-uncased', 'snapshots', older), { recursive: true });
    fs.writeFileSync(path.join(hub, 'models--bert-base-uncased', 'snapshots', older, 'config.json'), '{"model_type":"bert"}');
    fs.writeFileSync(path.join(hub, 'models--bert-base-uncased', 'snapshots', older, 'model.safetensors'), 'x');

    const ctx = { extensionRoot: root, cacheDir: path.join(root, 'our-cache'), hfCacheDir: hub };
    for (const setting of ['gpt2', 'openai-community/gpt2']) {
      assert.deepEqual(resolveModel(setting, ctx), {
        kind: 'ready', name: 'gpt2', folder: mainSnapshot,
        hfCache: { repoId: 'openai-community/gpt2', folder: mainSnapshot, commit: newer, chosenBy: 'main', weightsFile: 'model.safetensors' },
      }, setting);
    }
    const fineTuneResolution = resolveModel('someone/gpt2-finetune', ctx);
    assert.equal(fineTuneResolution.kind, 'ready');
    assert.deepEqual(listHfModels(hub).map((m) => [m.repoId, m.commit, m.chosenBy, m.weightsFile]), [
      ['openai-community/gpt2', newer, 'main', 'model.safetensors'],
      ['someone/gpt2-finetune', older, 'main', 'pytorch_model.bin'],
    ]);

    const before = treeState(hub);
    const got = await outputs(engine, mainSnapshot, ctx.cacheDir);
    assertSameOutputs(got, await reference('base', base, 'BF16'), 'HF cache BF16 snapshot');
    const bin = await outputs(engine, fineTuneResolution.kind === 'ready' ? fineTuneResolution.folder : '', ctx.cacheDir);
    assert.equal(bin.info.format, 'pytorch-bin');
    assert.deepEqual(treeState(hub), before, 'nothing in the Hugging Face cache was created, changed or touched');
    assert.ok(fs.readdirSync(ctx.cacheDir).some((f) => f.endsWith('.f32')), 'the BF16 → F32 file went to our own cache');

    // Without refs/main the newest usable snapshot is used; a snapshot with a dangling blob link is skipped.
    fs.rmSync(path.join(hub, 'models--openai-community--gpt2', 'refs'), { recursive: true });
    assert.equal(findHfSnapshot('openai-community/gpt2', hub)?.commit, newer);
    assert.equal(findHfSnapshot('openai-community/gpt2', hub)?.chosenBy, 'newest');
    const blob = fs.realpathSync(path.join(mainSnapshot, 'model.safetensors'));
    fs.renameSync(blob, `${blob}.gone`);
    assert.equal(findHfSnapshot('openai-community/gpt2', hub)?.commit, older, 'a partial snapshot is not used');
    fs.renameSync(`${blob}.gone`, blob);
    assert.equal(findHfSnapshot('gpt2', hub), undefined, 'models--gpt2 is a different folder');
  });
});

describe('hfHubCacheDir follows huggingface_hub', () => {
  it('HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME/huggingface/hub, then ~/.cache/huggingface/hub', () => {
    const home = '/home/u';
    assert.equal(hfHubCacheDir({ HF_HUB_CACHE: '/a', HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' }, home), '/a');
    assert.equal(hfHubCacheDir({ HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' }, home), '/b');
    assert.equal(hfHubCacheDir({ HF_HOME: '/c', XDG_CACHE_HOME: '/x' }, home), '/c/hub');
    assert.equal(hfHubCacheDir({ HF_HOME: '~/hf' }, home), '/home/u/hf/hub');
    assert.equal(hfHubCacheDir({ XDG_CACHE_HOME: '/x' }, home), '/x/huggingface/hub');
    assert.equal(hfHubCacheDir({}, home), '/home/u/.cache/huggingface/hub');
  });
});

describe('pytorch_model.bin: the TS writer against files made by PyTorch 1.13 (test/fixtures/torch)', () => {
  /** The values make.py (test/fixtures/torch/README.md) writes: 0.5·sin(0.37·i + 1.3·k) in float64, then float32. */
  function fixtureValues(k: number, n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = 0.5 * Math.sin(0.37 * i + 1.3 * k);
    return out;
  }
  const C = { nLayer: 1, nHead: 2, dModel: 8, dHead: 4, dMlp: 32, nCtx: 8, dVocab: 16, layerNormEps: 1e-5 };

  function fixtureWeights(): ModelWeights {
    const D = C.dModel;
    const M = C.dMlp;
    let k = 0;
    const v = (n: number): Float32Array => fixtureValues(k++, n);
    const wte = v(C.dVocab * D);
    const wpe = v(C.nCtx * D);
    const layer = {
      ln1Weight: v(D), ln1Bias: v(D), attnWeight: v(D * 3 * D), attnBias: v(3 * D), attnProjWeight: v(D * D), attnProjBias: v(D),
      ln2Weight: v(D), ln2Bias: v(D), fcWeight: v(D * M), fcBias: v(M), mlpProjWeight: v(M * D), mlpProjBias: v(D),
    };
    return { config: C, wte, wpe, layers: [layer], lnFinalWeight: v(D), lnFinalBias: v(D), lmHead: fixtureValues(99, C.dVocab * D) };
  }

  function open(bin: Buffer | string, folder: string): Checkpoint {
    fs.mkdirSync(folder, { recursive: true });
    if (typeof bin === 'string') fs.copyFileSync(bin, path.join(folder, 'pytorch_model.bin'));
    else fs.writeFileSync(path.join(folder, 'pytorch_model.bin'), bin);
    fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_layer: 1, n_head: 2, n_embd: 8, n_positions: 8, vocab_size: 16 }));
    return openCheckpoint(folder);
  }

  const withoutLmHead = (w: ModelWeights): ModelWeights => {
    const { lmHead: _dropped, ...rest } = w;
    return rest;
  };
  let root: string;
  before(() => {
    root = makeTempFolder('rl-torchfix');
  });
  after(() => removeTempFolder(root));

  for (const [file, dtype, untied] of [['tiny-f32-tied.bin', 'F32', false], ['tiny-bf16-untied.bin', 'BF16', true]] as const) {
    it(`${file}: PyTorch's file and ours read to the same tensors and values`, () => {
      const weights = fixtureWeights();
      const stored = roundWeights(untied ? weights : withoutLmHead(weights), dtype);
      const theirs = open(path.join(FIXTURES, file), path.join(root, `theirs-${file}`));
      const opts: FormatOptions = untied
        ? { dtype, maskBuffers: true, lmHead: 'untied', extra: [{ name: 'v_head.summary.weight', shape: [1, 8], data: fixtureValues(100, 8) }] }
        : { dtype, maskBuffers: true, lmHead: 'tied' };
      const oursBytes = torchBinBytes(
        // PyTorch wrote the mask buffers after ln_1.bias; fileTensors does the same.
        fileTensors(untied ? weights : withoutLmHead(weights), opts),
        { prefix: file.replace(/\.bin$/, '') },
      );
      const ours = open(oursBytes, path.join(root, `ours-${file}`));
      const layout = (ckpt: Checkpoint): unknown[] => readTorchBin(ckpt.weightsPath).tensors.map((t) => [t.name, t.dtype, t.shape, t.byteLength, t.fileOffset % 64]);
      assert.deepEqual(layout(ours), layout(theirs), 'same names, dtypes, shapes, sizes and 64-byte alignment');
      for (const ckpt of [theirs, ours]) {
        assert.equal(ckpt.dtype, dtype);
        assert.equal(ckpt.untiedLmHead, untied);
        const read = readWeights(ckpt);
        assert.deepEqual(read.wte, stored.wte);
        assert.deepEqual(read.layers[0]?.mlpProjWeight, stored.layers[0]?.mlpProjWeight);
        assert.deepEqual(read.lnFinalBias, stored.lnFinalBias);
        if (untied) assert.deepEqual(read.lmHead, stored.lmHead);
      }
      // The zip directory lists the same records (PyTorch's prefix is the file's stem).
      const names = (file: string): string[] => {
        const fd = fs.openSync(file, 'r');
        try {
          return [...readZipDirectory(fd, file, fs.fstatSync(fd).size).entries.keys()].sort();
        } finally {
          fs.closeSync(fd);
        }
      };
      assert.deepEqual(names(ours.weightsPath), names(theirs.weightsPath));
    });
  }

  it('the PyTorch-made files trace like plain F32 safetensors of the weights read from them', async () => {
    const engine = new Engine();
    try {
      for (const file of ['tiny-f32-tied.bin', 'tiny-bf16-untied.bin']) {
        const ckpt = open(path.join(FIXTURES, file), path.join(root, `trace-${file}`));
        const reference = path.join(root, `trace-ref-${file}`);
        writeReference(reference, readWeights(ckpt));
        // Vocabulary 16: a text of GPT-2 ids 0, 2, 4, 5 ("!", "#", "%", "&"), without BOS (50256).
        const got = await outputs(engine, ckpt.folder, path.join(root, 'trace-cache'), '!#%&', false);
        assert.deepEqual(got.tokenIds, [0, 2, 4, 5]);
        assert.equal(got.info.format, 'pytorch-bin');
        assertSameOutputs(got, await outputs(engine, reference, path.join(root, 'trace-cache'), '!#%&', false), file);
      }
    } finally {
      await engine.dispose();
    }
  });

  it('a ZIP64 .bin (what torch.save writes past 4 GiB) reads to the same weights', () => {
    const weights = withoutLmHead(fixtureWeights());
    const tensors = fileTensors(weights, { dtype: 'F32', lmHead: 'tied', maskBuffers: true });
    const plain = readWeights(open(torchBinBytes(tensors), path.join(root, 'zip32')));
    const wide = readWeights(open(torchBinBytes(tensors, { zip64: true }), path.join(root, 'zip64')));
    assert.deepEqual(wide, plain);
    assert.deepEqual(wide.wte, weights.wte);
  });

  it('F32 .bin weights are used in place for ONNX external data (records are 64-byte aligned); the .bin is not copied', () => {
    const ckpt = open(path.join(FIXTURES, 'tiny-f32-tied.bin'), path.join(root, 'inplace'));
    const cacheDir = path.join(root, 'inplace-cache');
    const { path: file, offsets } = ensureF32Weights(ckpt, cacheDir);
    assert.equal(file, ckpt.weightsPath);
    assert.deepEqual(fs.readdirSync(cacheDir), [`${ckpt.fingerprint}.finite`], 'only the finite-scan marker, in our cache');
    const bytes = fs.readFileSync(file);
    const offset = offsets.get('h.0.mlp.c_proj.bias') as number;
    assert.deepEqual(new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + 32)), fixtureWeights().layers[0]?.mlpProjBias);
    assert.equal(offsets.get('lm_head.weight'), offsets.get('wte.weight'));
  });
});

describe('broken weights: NaN or Infinity is refused at load, naming the tensor and index', () => {
  let root: string;
  let engine: Engine;
  before(() => {
    root = makeTempFolder('rl-nan');
    engine = new Engine();
  });
  after(async () => {
    await engine.dispose();
    removeTempFolder(root);
  });

  const poisoned = (value: number): ModelWeights => {
    const w = randomWeights({ nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 64, seed: 5 });
    const fc = Float32Array.from(w.layers[1]?.fcWeight ?? []);
    fc[3 * 64 + 17] = value;
    return { ...w, layers: [w.layers[0], { ...w.layers[1], fcWeight: fc }] as ModelWeights['layers'] };
  };

  const cases: [string, number, FloatDtype, (f: string, w: ModelWeights, o: FormatOptions) => unknown, string][] = [
    ['F32 safetensors (used in place)', NaN, 'F32', writeSafetensorsCheckpoint, 'model.safetensors'],
    ['F16 safetensors (converted)', Infinity, 'F16', writeSafetensorsCheckpoint, 'model.safetensors'],
    ['BF16 pytorch_model.bin', -Infinity, 'BF16', writeBinCheckpoint, 'pytorch_model.bin'],
    ['F32 sharded', NaN, 'F32', (f, w, o) => writeShardedCheckpoint(f, w, 2, o), 'model-00002-of-00002.safetensors'],
  ];
  for (const [name, value, dtype, write, file] of cases) {
    it(`${name}: ${value}`, async () => {
      const folder = path.join(root, name.replace(/[^a-z0-9]+/gi, '-'));
      write(folder, poisoned(value), { dtype, prefix: true });
      const shown = Number.isNaN(value) ? 'NaN' : String(value);
      const message = `${path.join(folder, file)}: tensor "transformer.h.1.mlp.c_fc.weight" holds ${shown} at index [3, 17]; a checkpoint with NaN or Infinity weights (a diverged fine-tune?) cannot be traced`;
      await assert.rejects(engine.load({ folder, name: 'poisoned', cacheDir: path.join(root, 'cache') }), (error: unknown) => {
        assert.ok(error instanceof EngineError);
        assert.equal(error.code, 'bad-checkpoint');
        assert.equal(error.message, message);
        return true;
      });
      assert.ok(!fs.existsSync(path.join(root, 'cache')) || fs.readdirSync(path.join(root, 'cache')).every((f) => !f.includes('.tmp-')), 'no partial cache file left');
    });
  }
});

describe('sharded safetensors: the index is checked against the shards, every shard validated', () => {
  let root: string;
  before(() => {
    root = makeTempFolder('rl-shards');
  });
  after(() => removeTempFolder(root));

  const INDEX = 'model.safetensors.index.json';
  const SHARD1 = 'model-00001-of-00002.safetensors';
  const SHARD2 = 'model-00002-of-00002.safetensors';
  let n = 0;
  /** A valid 2-shard folder, then `edit` applied to its index's weight_map. */
  function sharded(edit: (map: Record<string, string>) => void): { folder: string; index: string } {
    const folder = path.join(root, `s${n++}`);
    writeShardedCheckpoint(folder, randomWeights({ seed: 2, nLayer: 1, dModel: 8, nHead: 2, nCtx: 8, dVocab: 16 }), 2, { prefix: false });
    const index = path.join(folder, INDEX);
    const json = JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    edit(json.weight_map);
    fs.writeFileSync(index, JSON.stringify(json));
    return { folder, index };
  }
  const refused = (folder: string, file: string, problem: string): void => {
    assert.throws(() => openCheckpoint(folder), (error: unknown) => error instanceof Error && error.message === `${file}: ${problem}`);
  };

  it('opens when index and shards agree', () => {
    const { folder } = sharded(() => undefined);
    const ckpt = openCheckpoint(folder);
    assert.equal(ckpt.format, 'sharded-safetensors');
    assert.equal(ckpt.files.length, 2);
    assert.deepEqual(ckpt.notes, []);
  });

  it('a tensor the index places in the other shard', () => {
    const { folder } = sharded((m) => {
      m['wte.weight'] = SHARD2;
    });
    refused(folder, path.join(folder, SHARD1), `holds tensor "wte.weight", which the index places in "${SHARD2}"`);
  });

  it('a tensor the index does not list (stale index)', () => {
    const { folder } = sharded((m) => {
      delete m['ln_f.bias'];
    });
    refused(folder, path.join(folder, SHARD2), 'holds tensor "ln_f.bias", which the index does not list (stale index?)');
  });

  it('an index entry no shard holds', () => {
    const { folder, index } = sharded((m) => {
      m['h.0.attn.c_proj.extra'] = SHARD1;
    });
    refused(folder, index, `maps tensor "h.0.attn.c_proj.extra" to "${SHARD1}", which does not hold it`);
  });

  it('a shard that is missing, a shard name that leaves the folder, a truncated shard', () => {
    const missing = sharded(() => undefined);
    fs.rmSync(path.join(missing.folder, SHARD2));
    refused(missing.folder, missing.index, `names shard "${SHARD2}", which is not in the folder`);
    const escape = sharded((m) => {
      m['wte.weight'] = '../model-00001-of-00002.safetensors';
    });
    refused(escape.folder, escape.index, 'weight_map maps "wte.weight" to "../model-00001-of-00002.safetensors", not a .safetensors file name in this folder');
    const truncated = sharded(() => undefined);
    const shard = path.join(truncated.folder, SHARD1);
    fs.truncateSync(shard, fs.statSync(shard).size - 4);
    assert.throws(() => openCheckpoint(truncated.folder), (error: unknown) => error instanceof Error && error.message.startsWith(`${shard}: tensor `) && error.message.endsWith('truncated?)'));
  });
});
