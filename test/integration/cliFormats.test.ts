/**
 * The CLI with the checkpoints researchers already have (a child process through tsx): hub ids
 * resolved from the Hugging Face cache ($HF_HUB_CACHE), `models` listing what is there, a
 * fine-tune's untied head shown in the model info, and a checkpoint with NaN weights refused in
 * one line (never a `NaN%` table).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { ModelsJson } from '../../src/cli/models';
import type { TraceJson } from '../../src/cli/traceJson';
import type { ModelWeights } from '../../src/engine/types';
import { makeTempFolder, randomWeights, removeTempFolder } from '../helpers/checkpointWriter';
import { addHfSnapshot, writeBinCheckpoint, writeSafetensorsCheckpoint } from '../helpers/checkpointFormats';
import { Random } from '../helpers/random';

const CLI = path.resolve(__dirname, '../../src/cli.ts');
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 32, dVocab: 50257 };

describe('residual-lens CLI with Hugging Face cache models, .bin fine-tunes and broken weights', () => {
  let root: string;
  let hub: string;
  let env: Record<string, string>;
  const cli = (args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args, '--dir', path.join(root, 'ours')], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(() => {
    root = makeTempFolder('rl-cli-formats');
    hub = path.join(root, 'hub');
    env = { HF_HUB_CACHE: hub };
    const fineTune: ModelWeights = { ...randomWeights({ ...CONFIG, seed: 4 }), lmHead: new Random(5).gaussianArray(CONFIG.dVocab * CONFIG.dModel, 1) };
    writeBinCheckpoint(path.join(root, 'src-ft'), fineTune, { dtype: 'BF16', lmHead: 'untied', extra: [{ name: 'v_head.summary.weight', shape: [1, 16], data: new Float32Array(16) }] });
    addHfSnapshot(hub, 'someone/gpt2-ft', 'c'.repeat(40), path.join(root, 'src-ft'), { main: true });
    writeSafetensorsCheckpoint(path.join(root, 'src-gpt2'), randomWeights({ ...CONFIG, seed: 6 }), { dtype: 'F32' });
    addHfSnapshot(hub, 'openai-community/gpt2', 'd'.repeat(40), path.join(root, 'src-gpt2'));
  });
  after(() => removeTempFolder(root));

  it('models --json lists the GPT-2-family models of the Hugging Face cache; gpt2 is found there before any download', () => {
    const r = cli(['models', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as ModelsJson;
    assert.equal(j.hfCacheDir, hub);
    assert.deepEqual(j.hfCache.map((m) => [m.repo, m.commit, m.chosenBy, m.weightsFile]), [
      ['openai-community/gpt2', 'd'.repeat(40), 'newest', 'model.safetensors'],
      ['someone/gpt2-ft', 'c'.repeat(40), 'main', 'pytorch_model.bin'],
    ]);
    const gpt2 = j.models.find((m) => m.name === 'gpt2');
    assert.equal(gpt2?.downloaded, false);
    assert.equal(gpt2?.hfCacheFolder, path.join(hub, 'models--openai-community--gpt2', 'snapshots', 'd'.repeat(40)));
    const text = cli(['models']);
    assert.match(text.stdout, /Hugging Face cache: .* \(read-only; use the name with --model\)/);
    assert.match(text.stdout, /someone\/gpt2-ft +GPT-2 family/);
    assert.match(text.stdout, /gpt2 +GPT-2 .* in Hugging Face cache/);
  });

  it('trace --model org/name runs the cached .bin fine-tune and says it uses the untied head', () => {
    const r = cli(['trace', '--model', 'someone/gpt2-ft', '--text', 'Hello there', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as TraceJson;
    assert.equal(j.model.name, 'someone/gpt2-ft');
    assert.equal(j.model.dtype, 'BF16');
    assert.equal(j.model.format, 'pytorch-bin');
    assert.equal(j.model.unembedding, 'lm_head');
    assert.equal(j.model.notes.length, 2);
    const text = cli(['trace', '--model', 'gpt2', '--text', 'Hello there']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^gpt2 \(F32, 2 layers/);
    const ft = cli(['trace', '--model', 'someone/gpt2-ft', '--text', 'Hello there']);
    assert.match(ft.stdout, /\nNote: uses the stored lm_head\.weight as the unembedding/);
    assert.match(ft.stdout, /\nNote: ignored 1 tensor that GPT-2's language model does not use: "v_head\.summary\.weight"/);
  });

  it('a hub id that is not cached: one line naming the cache', () => {
    const r = cli(['trace', '--model', 'nobody/nothing', '--text', 'x']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^residual-lens: Model "nobody/nothing" is not in the Hugging Face cache \\(${hub.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('a checkpoint with NaN weights is refused in one line; no NaN reaches the output', () => {
    const w = randomWeights({ ...CONFIG, seed: 8 });
    const wpe = Float32Array.from(w.wpe);
    wpe[2 * 16 + 3] = NaN;
    const folder = path.join(root, 'diverged');
    writeSafetensorsCheckpoint(folder, { ...w, wpe }, { dtype: 'F16' });
    for (const json of [false, true]) {
      const r = cli(['trace', '--model', folder, '--text', 'Hello there', ...(json ? ['--json'] : [])]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.doesNotMatch(r.stdout + r.stderr, /NaN%|Infinity%/);
      assert.match(r.stderr.trim(), /model\.safetensors: tensor "transformer\.wpe\.weight" holds NaN at index \[2, 3\]; a checkpoint with NaN or Infinity weights \(a diverged fine-tune\?\) cannot be traced$/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
