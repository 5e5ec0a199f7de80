/** models/manifest.json and the model registry (src/models/registry.ts). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CHECKPOINT_FILES, demoModelFolder, isDownloaded, listModels, loadManifest, parseManifest, resolveModel } from '../../src/models/registry';

const temp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'rl-registry-'));
const touch = (folder: string, ...files: string[]): void => {
  fs.mkdirSync(folder, { recursive: true });
  for (const f of files) fs.writeFileSync(path.join(folder, f), 'x');
};

test('the manifest lists the five GPT-2 checkpoints with both files', () => {
  const entries = loadManifest();
  assert.deepEqual(entries.map((e) => [e.name, e.repo, e.revision]), [
    ['gpt2', 'openai-community/gpt2', 'main'],
    ['gpt2-medium', 'openai-community/gpt2-medium', 'main'],
    ['gpt2-large', 'openai-community/gpt2-large', 'main'],
    ['gpt2-xl', 'openai-community/gpt2-xl', 'main'],
    ['distilgpt2', 'distilbert/distilgpt2', 'main'],
  ]);
  for (const e of entries) {
    assert.deepEqual(e.files.map((f) => f.path), ['config.json', 'model.safetensors'], e.name);
    assert.ok((e.sizeBytes ?? 0) > 1e8, `${e.name} has an approximate size`);
  }
});

test('parseManifest refuses malformed entries with one line naming the entry', () => {
  const ok = { name: 'm', displayName: 'M', repo: 'a/b', revision: 'main', files: [{ path: 'config.json' }] };
  assert.equal(parseManifest({ models: [ok] }).length, 1);
  const cases: [unknown, RegExp][] = [
    [{}, /^models\/manifest\.json: expected an object with a "models" array$/],
    [{ models: [ok, ok] }, /models\[1\]\.name "m" is used twice \(or is reserved\)/],
    [{ models: [{ ...ok, name: 'demo' }] }, /models\[0\]\.name "demo" is used twice \(or is reserved\)/],
    [{ models: [{ ...ok, repo: 'no-slash' }] }, /models\[0\]\.repo is "no-slash"/],
    [{ models: [{ ...ok, files: [{ path: '../etc/passwd' }] }] }, /models\[0\]\.files\[0\]\.path is "\.\.\/etc\/passwd"/],
    [{ models: [{ ...ok, files: [{ path: 'a/../b' }] }] }, /models\[0\]\.files\[0\]\.path is "a\/\.\.\/b"/],
    [{ models: [{ ...ok, files: [] }] }, /models\[0\]\.files must be a non-empty array/],
    [{ models: [{ ...ok, files: [{ path: 'x', sha256: 'nothex' }] }] }, /files\[0\]\.sha256 is not 64 hex digits/],
    [{ models: [{ ...ok, sizeBytes: -1 }] }, /models\[0\]\.sizeBytes is -1/],
  ];
  for (const [json, message] of cases) assert.throws(() => parseManifest(json), { message });
});

test('resolveModel: demo, manifest names, absolute folders; clear errors otherwise', () => {
  const root = temp();
  const cacheDir = temp();
  const ctx = { extensionRoot: root, cacheDir, hfCacheDir: path.join(root, 'no-hf-cache') };
  const demo = demoModelFolder(root);
  assert.equal(demo, path.join(root, 'models', 'demo'));
  assert.deepEqual(resolveModel('demo', ctx), {
    kind: 'error',
    message: `The demo model is missing: the folder ${demo} does not exist. Rebuild it with: node --import tsx scripts/build-demo-model.ts (run by npm install).`,
  });
  touch(demo, ...CHECKPOINT_FILES);
  assert.deepEqual(resolveModel('', ctx), { kind: 'ready', name: 'demo', folder: demo });
  assert.deepEqual(resolveModel(' demo ', ctx), { kind: 'ready', name: 'demo', folder: demo });

  const gpt2 = loadManifest()[0];
  const gpt2Folder = path.join(cacheDir, 'gpt2');
  assert.deepEqual(resolveModel('gpt2', ctx), { kind: 'not-downloaded', entry: gpt2, folder: gpt2Folder });
  // A partial download is not a model.
  touch(gpt2Folder, 'config.json', 'model.safetensors.part');
  assert.equal(resolveModel('gpt2', ctx).kind, 'not-downloaded');
  touch(gpt2Folder, 'model.safetensors');
  assert.deepEqual(resolveModel('gpt2', ctx), { kind: 'ready', name: 'gpt2', folder: gpt2Folder });

  const local = path.join(temp(), 'my-model');
  assert.deepEqual(resolveModel(local, ctx), { kind: 'error', message: `Model folder: the folder ${local} does not exist.` });
  touch(local, 'config.json');
  assert.deepEqual(resolveModel(local, ctx), { kind: 'error', message: `Model folder: ${local} has no weights (a model folder holds config.json + model.safetensors, model.safetensors.index.json with its shards, or pytorch_model.bin).` });
  touch(local, 'pytorch_model.bin');
  assert.deepEqual(resolveModel(local, ctx), { kind: 'ready', name: 'my-model', folder: local });
  touch(local, 'model.safetensors');
  assert.deepEqual(resolveModel(local, ctx), { kind: 'ready', name: 'my-model', folder: local });
  assert.deepEqual(resolveModel(path.join(local, 'config.json'), ctx), { kind: 'error', message: `Model folder: ${path.join(local, 'config.json')} is not a folder.` });

  assert.deepEqual(resolveModel('gpt3', ctx), { kind: 'error', message: 'Unknown model "gpt3"; use one of: demo, gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, or an absolute folder path.' });
  assert.deepEqual(resolveModel('./models/x', ctx), {
    kind: 'error',
    message: 'Model "./models/x" is a relative path; use an absolute folder path (holding config.json + model.safetensors) or one of: demo, gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2.',
  });
});

test('listModels marks exactly the complete folders as downloaded', () => {
  const cacheDir = temp();
  touch(path.join(cacheDir, 'distilgpt2'), 'config.json', 'model.safetensors');
  touch(path.join(cacheDir, 'gpt2'), 'config.json');
  const listed = listModels({ extensionRoot: temp(), cacheDir, hfCacheDir: temp() });
  assert.deepEqual(listed.map((m) => [m.entry.name, m.downloaded, m.folder]), [
    ['gpt2', false, path.join(cacheDir, 'gpt2')],
    ['gpt2-medium', false, path.join(cacheDir, 'gpt2-medium')],
    ['gpt2-large', false, path.join(cacheDir, 'gpt2-large')],
    ['gpt2-xl', false, path.join(cacheDir, 'gpt2-xl')],
    ['distilgpt2', true, path.join(cacheDir, 'distilgpt2')],
  ]);
  const entry = loadManifest()[4];
  assert.ok(entry);
  assert.equal(isDownloaded(entry, path.join(cacheDir, 'distilgpt2')), true);
});
