/**
 * Select Model and the trace's model choice (src/ui/modelPicker.ts, through the vscode stub) with a
 * Hugging Face cache ($HF_HUB_CACHE): GPT-2-family models found there are offered, marked as such,
 * and chosen without a download; other architectures are not offered.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { state } from '../helpers/vscodeStub';
import { chooseModelForTrace, selectModelCommand, type ModelContext } from '../../src/ui/modelPicker';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-picker-'));
const hub = path.join(root, 'hub');
const previous = process.env['HF_HUB_CACHE'];
process.env['HF_HUB_CACHE'] = hub;
after(() => {
  if (previous === undefined) delete process.env['HF_HUB_CACHE'];
  else process.env['HF_HUB_CACHE'] = previous;
  fs.rmSync(root, { recursive: true, force: true });
});

/** A snapshot with a config.json of `modelType` and a weights file linked from blobs/ (contents do not matter here). */
function snapshot(repoId: string, modelType: string, weights: string): string {
  const repo = path.join(hub, `models--${repoId.split('/').join('--')}`);
  const commit = '1'.repeat(40);
  const folder = path.join(repo, 'snapshots', commit);
  fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
  fs.mkdirSync(folder, { recursive: true });
  fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
  for (const [file, text] of [['config.json', JSON.stringify({ model_type: modelType })], [weights, 'x']] as const) {
    fs.writeFileSync(path.join(repo, 'blobs', file), text);
    fs.symlinkSync(path.join('..', '..', 'blobs', file), path.join(folder, file));
  }
  return folder;
}

const gpt2 = snapshot('openai-community/gpt2', 'gpt2', 'model.safetensors');
const fineTune = snapshot('someone/gpt2-ft', 'gpt2', 'pytorch_model.bin');
snapshot('google-bert/bert-base-uncased', 'bert', 'model.safetensors');

const lines: string[] = [];
const ctx = {
  extensionRoot: root,
  defaultCacheDir: path.join(root, 'ours'),
  output: { info: (line: string) => lines.push(line), showError: (err: unknown) => lines.push(String(err)), showWarning: (t: string) => lines.push(t) },
} as unknown as ModelContext;

test('Select Model lists the Hugging Face cache GPT-2 models, marked as such, and picks one without a download', async () => {
  state.pickQuickPick = (items) => items.find((i) => i.label === 'someone/gpt2-ft');
  await selectModelCommand(ctx);
  const items = state.quickPickItems.at(-1) ?? [];
  const byLabel = new Map(items.map((i) => [i.label, i]));
  assert.match(byLabel.get('gpt2')?.description ?? '', /\$\(check\) in Hugging Face cache/);
  assert.equal(byLabel.get('gpt2')?.detail, gpt2);
  assert.match(byLabel.get('someone/gpt2-ft')?.description ?? '', /^GPT-2 family · \d+ MB · \$\(check\) Hugging Face cache$/);
  assert.equal(byLabel.get('someone/gpt2-ft')?.detail, fineTune);
  assert.ok(!items.some((i) => i.label.includes('bert')), 'other architectures are not offered');
  assert.ok(!items.some((i) => i.label === 'openai-community/gpt2'), 'a manifest model is listed once, under its name');
  assert.equal(state.settings.get('model'), 'someone/gpt2-ft');
  await selectModelCommand(ctx);
  const again = state.quickPickItems.at(-1) ?? [];
  assert.match(again.find((i) => i.label === 'someone/gpt2-ft')?.description ?? '', / · current$/);
  assert.ok(!again.some((i) => (i.description ?? '').startsWith('local folder')), 'a hub id is not shown as a local folder');
  assert.equal(state.messages.at(-1), 'info: Residual Lens will trace with someone/gpt2-ft.');

  assert.deepEqual(await chooseModelForTrace(ctx), { name: 'someone/gpt2-ft', folder: fineTune });
  state.settings.set('model', 'gpt2');
  assert.deepEqual(await chooseModelForTrace(ctx), { name: 'gpt2', folder: gpt2 }, 'gpt2 comes from the Hugging Face cache before any download');
});
