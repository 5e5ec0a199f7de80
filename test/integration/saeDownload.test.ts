/**
 * SAE releases through the verified, resumable downloader against the hub-shaped server on
 * 127.0.0.1 (test/helpers/hubServer.ts): the picked layers' cfg.json and weights land in
 * <cache>/saes/<release>/<layer>/ and load; a cancelled weights download resumes from its .part;
 * the manifest is validated and lists sizes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadSaes, loadSaeManifest, parseSaeManifest, saeDownloadEntry, saeFolderByName, type SaeRelease } from '../../src/models/sae/hub';
import { DownloadError } from '../../src/models/download';
import { openSae } from '../../src/models/sae/load';
import { HubServer } from '../helpers/hubServer';
import { writeRandomSae } from '../helpers/saeWriter';

const REPO = 'test-org/tiny-saes';
const RELEASE: SaeRelease = {
  name: 'tiny-res', displayName: 'Tiny', repo: REPO, revision: 'main', model: 'tiny',
  saes: [0, 1].map((l) => ({ id: `blocks.${l}.hook_resid_pre`, path: `blocks.${l}.hook_resid_pre`, sizeBytes: 1000 })),
};
let hub: HubServer;
let work: string;
const files = new Map<string, Buffer>();

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-sae-download-'));
  for (const l of [0, 1]) {
    const folder = path.join(work, 'src', `blocks.${l}.hook_resid_pre`);
    writeRandomSae(folder, { seed: l, dIn: 64, dSae: 4096, hookName: `blocks.${l}.hook_resid_pre` });
    for (const f of ['cfg.json', 'sae_weights.safetensors']) files.set(`blocks.${l}.hook_resid_pre/${f}`, fs.readFileSync(path.join(folder, f)));
  }
  hub = new HubServer();
  await hub.start();
  for (const [file, content] of files) hub.setFile(REPO, file, { content, lfs: file.endsWith('.safetensors') });
});
after(async () => {
  await hub.close();
  fs.rmSync(work, { recursive: true, force: true });
});

test('the bundled manifest lists gpt2-small-res-jb with 13 SAEs of about 151 MB', () => {
  const jb = loadSaeManifest().find((r) => r.name === 'gpt2-small-res-jb');
  assert.ok(jb);
  assert.equal(jb.repo, 'jbloom/GPT2-Small-SAEs-Reformatted');
  assert.equal(jb.saes.length, 13);
  assert.ok(jb.saes.every((s) => Math.abs(s.sizeBytes - 151e6) < 1e6));
  assert.equal(saeDownloadEntry(jb, ['blocks.8.hook_resid_pre', 'blocks.9.hook_resid_pre']).sizeBytes, 2 * jb.saes[8].sizeBytes);
  assert.throws(() => saeDownloadEntry(jb, ['blocks.12.hook_resid_pre']), /has no SAE "blocks\.12\.hook_resid_pre"/);
  assert.throws(() => parseSaeManifest({ releases: [{ ...jb, saes: [{ id: 'x', path: '../x', sizeBytes: 1 }] }] }), /saes\[0\]\.path is "\.\.\/x"/);
});

test('picked layers download verified into saes/<release>/<layer>/, and load', async () => {
  const cacheDir = path.join(work, 'cache1');
  const [folder] = await downloadSaes(RELEASE, ['blocks.1.hook_resid_pre'], { endpoint: hub.url, cacheDir });
  assert.equal(folder, path.join(cacheDir, 'saes', 'tiny-res', 'blocks.1.hook_resid_pre'));
  assert.ok(fs.readFileSync(path.join(folder, 'sae_weights.safetensors')).equals(files.get('blocks.1.hook_resid_pre/sae_weights.safetensors') as Buffer));
  assert.equal(openSae(folder).config.hookName, 'blocks.1.hook_resid_pre');
  assert.equal(saeFolderByName('tiny-res/blocks.1.hook_resid_pre', cacheDir, [RELEASE]), folder);
  assert.equal(saeFolderByName('tiny-res/blocks.9.hook_resid_pre', cacheDir, [RELEASE]), undefined);
  assert.equal(saeFolderByName('/abs/folder', cacheDir, [RELEASE]), undefined);
  assert.equal(fs.existsSync(path.join(cacheDir, 'saes', 'tiny-res', 'blocks.0.hook_resid_pre')), false);
});

test('a cancelled download resumes from its .part', async () => {
  const cacheDir = path.join(work, 'cache2');
  const file = 'blocks.0.hook_resid_pre/sae_weights.safetensors';
  hub.plan(file, { kind: 'stall-after', bytes: 256 * 1024 });
  const abort = new AbortController();
  await assert.rejects(
    downloadSaes(RELEASE, ['blocks.0.hook_resid_pre'], { endpoint: hub.url, cacheDir, signal: abort.signal, onProgress: (p) => { if (p.file.endsWith('.safetensors') && p.bytesDone >= 256 * 1024) abort.abort(); } }),
    (err: unknown) => err instanceof DownloadError && err.code === 'cancelled',
  );
  const part = path.join(cacheDir, 'saes', 'tiny-res', `${file}.part`);
  assert.equal(fs.statSync(part).size, 256 * 1024);
  const [folder] = await downloadSaes(RELEASE, ['blocks.0.hook_resid_pre'], { endpoint: hub.url, cacheDir });
  assert.ok(fs.readFileSync(path.join(folder, 'sae_weights.safetensors')).equals(files.get(file) as Buffer));
  assert.equal(hub.bytesServed(file), (files.get(file) as Buffer).length);
});
