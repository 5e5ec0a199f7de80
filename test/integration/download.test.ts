/**
 * downloadModel against a real HTTP server on 127.0.0.1 shaped like the hub (test/helpers/hubServer.ts).
 * After every failure the model folder must hold, under the final names, either the complete
 * verified file or nothing.
 */
import { test, before, after, beforeEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DownloadError, downloadModel, readRevisionRecord, type DownloadOptions, type DownloadProgress } from '../../src/models/download';
import { isDownloaded, type ManifestEntry } from '../../src/models/registry';
import { HubServer, HUB_COMMIT, gitBlobSha1, sha256Hex } from '../helpers/hubServer';

const REPO = 'test-org/tiny-gpt2';
const CONFIG = Buffer.from(`${JSON.stringify({ model_type: 'gpt2', n_layer: 1, n_head: 1, n_embd: 8, n_positions: 16, vocab_size: 50257 }, null, 2)}\n`);
const WEIGHTS = randomBytes(3 * 1024 * 1024 + 12345);
const ENTRY: ManifestEntry = {
  name: 'tiny', displayName: 'Tiny', repo: REPO, revision: 'main',
  files: [{ path: 'config.json' }, { path: 'model.safetensors' }],
};

let hub: HubServer;
let cacheDir: string;
const folder = (): string => path.join(cacheDir, 'tiny');
const options = (extra: Partial<DownloadOptions> = {}): DownloadOptions => ({ endpoint: hub.url, cacheDir, ...extra });

/** The folder holds each model file complete and verified, or not at all (never a wrong file under its name). */
function assertCompleteOrAbsent(): void {
  const expected: Record<string, Buffer> = { 'config.json': CONFIG, 'model.safetensors': WEIGHTS };
  for (const [name, content] of Object.entries(expected)) {
    const p = path.join(folder(), name);
    if (fs.existsSync(p)) assert.ok(fs.readFileSync(p).equals(content), `${name} is on disk but differs`);
  }
}

async function rejectsWith(promise: Promise<unknown>, code: DownloadError['code'], message: RegExp): Promise<DownloadError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DownloadError, `expected a DownloadError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return err;
  }
  throw new assert.AssertionError({ message: 'expected the download to fail' });
}

before(async () => {
  hub = new HubServer();
  await hub.start();
});
after(async () => {
  await hub.close();
});
beforeEach(() => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-download-'));
  hub.reset();
  hub.setFile(REPO, 'config.json', { content: CONFIG, lfs: false });
  hub.setFile(REPO, 'model.safetensors', { content: WEIGHTS, lfs: true });
});

test('success: both files verified, revision.json records the commit, later files pinned to it', async () => {
  const progress: DownloadProgress[] = [];
  const result = await downloadModel(ENTRY, options({ onProgress: (p) => progress.push(p) }));
  assert.equal(result, folder());
  assert.ok(fs.readFileSync(path.join(folder(), 'config.json')).equals(CONFIG));
  assert.ok(fs.readFileSync(path.join(folder(), 'model.safetensors')).equals(WEIGHTS));
  assert.deepEqual(fs.readdirSync(folder()).sort(), ['config.json', 'model.safetensors', 'revision.json']);
  assert.equal(isDownloaded(ENTRY, folder()), true);
  const record = readRevisionRecord(folder());
  assert.equal(record?.commit, HUB_COMMIT);
  assert.equal(record?.revision, 'main');
  assert.deepEqual(record?.files, [
    { path: 'config.json', size: CONFIG.length, sha256: sha256Hex(CONFIG), gitBlobSha1: gitBlobSha1(CONFIG) },
    { path: 'model.safetensors', size: WEIGHTS.length, sha256: sha256Hex(WEIGHTS) },
  ]);
  // config.json asked at main; the weights at the commit main resolved to, via the CDN redirect.
  assert.deepEqual(hub.requests.map((r) => `${r.status} ${r.path}`), [
    `200 /${REPO}/resolve/main/config.json`,
    `302 /${REPO}/resolve/${HUB_COMMIT}/model.safetensors`,
    `200 /cdn/${sha256Hex(WEIGHTS)}/model.safetensors`,
  ]);
  assert.equal(hub.bytesServed('model.safetensors'), WEIGHTS.length);
  const last = progress.filter((p) => p.file === 'model.safetensors').at(-1);
  assert.deepEqual([last?.bytesDone, last?.bytesTotal], [WEIGHTS.length, WEIGHTS.length]);

  // Already there: nothing is fetched again.
  hub.requests.length = 0;
  await downloadModel(ENTRY, options());
  assert.equal(hub.requests.length, 0);
});

test('git files behind a 307 to /api/resolve-cache/ (as huggingface.co answers now) verify by their ETag', async () => {
  hub.resolveCache = true;
  await downloadModel(ENTRY, options());
  assert.ok(fs.readFileSync(path.join(folder(), 'config.json')).equals(CONFIG));
  assert.deepEqual(hub.requests.slice(0, 2).map((r) => `${r.status} ${r.path.split('?')[0]}`), [
    `307 /${REPO}/resolve/main/config.json`,
    `200 /api/resolve-cache/models/${REPO}/${HUB_COMMIT}/config.json`,
  ]);
  assert.equal(readRevisionRecord(folder())?.files[0]?.gitBlobSha1, gitBlobSha1(CONFIG));
});

test('cancel, then resume: the bytes on disk are not fetched again', async () => {
  const stallAt = 1024 * 1024;
  hub.plan('model.safetensors', { kind: 'stall-after', bytes: stallAt });
  const abort = new AbortController();
  await rejectsWith(
    downloadModel(ENTRY, options({ signal: abort.signal, onProgress: (p) => { if (p.file === 'model.safetensors' && p.bytesDone >= stallAt) abort.abort(); } })),
    'cancelled', /^Download of test-org\/tiny-gpt2\/model\.safetensors cancelled \(1\.0 MB of 3\.2 MB kept\); run it again to resume\.$/,
  );
  assertCompleteOrAbsent();
  assert.equal(fs.existsSync(path.join(folder(), 'model.safetensors')), false);
  assert.equal(fs.statSync(path.join(folder(), 'model.safetensors.part')).size, stallAt);

  hub.requests.length = 0;
  await downloadModel(ENTRY, options());
  assert.ok(fs.readFileSync(path.join(folder(), 'model.safetensors')).equals(WEIGHTS));
  const resumed = hub.requests.find((r) => r.path.startsWith('/cdn/'));
  assert.deepEqual([resumed?.status, resumed?.range], [206, `bytes=${stallAt}-`]);
  // Counted server-side: the first response sent stallAt bytes, the second exactly the rest.
  assert.equal(hub.bytesServed('model.safetensors'), WEIGHTS.length);
  assert.equal(fs.existsSync(path.join(folder(), 'model.safetensors.part')), false);
  assert.equal(fs.existsSync(path.join(folder(), 'model.safetensors.part.json')), false);
});

test('server error mid-body, then an HTTP 503, then resume', async () => {
  hub.plan('model.safetensors', { kind: 'reset-after', bytes: 2 * 1024 * 1024 }, { kind: 'status', status: 503 });
  await rejectsWith(downloadModel(ENTRY, options()), 'network', /^test-org\/tiny-gpt2\/model\.safetensors: the connection failed after \d\.\d MB of 3\.2 MB \(.*\); run the download again to resume\.$/);
  assertCompleteOrAbsent();
  // Bytes still in flight when the server died are lost; what reached the disk is kept.
  const kept = fs.statSync(path.join(folder(), 'model.safetensors.part')).size;
  assert.ok(kept > 0 && kept <= 2 * 1024 * 1024, `kept ${kept}`);
  await rejectsWith(downloadModel(ENTRY, options()), 'http', /^test-org\/tiny-gpt2\/model\.safetensors: the hub answered HTTP 503 \(server error; try again later, the download resumes\)\.$/);
  assertCompleteOrAbsent();
  assert.equal(fs.statSync(path.join(folder(), 'model.safetensors.part')).size, kept);
  await downloadModel(ENTRY, options());
  assert.ok(fs.readFileSync(path.join(folder(), 'model.safetensors')).equals(WEIGHTS));
  const last = hub.requests.filter((r) => r.path.startsWith('/cdn/')).at(-1);
  assert.deepEqual([last?.status, last?.range, last?.bytes], [206, `bytes=${kept}-`, WEIGHTS.length - kept]);
});

test('truncated body: refused as incomplete, resumed on the next run', async () => {
  hub.plan('model.safetensors', { kind: 'short', bytes: 100_000 });
  await rejectsWith(downloadModel(ENTRY, options()), 'network', /^test-org\/tiny-gpt2\/model\.safetensors: the connection ended after 0\.1 MB of 3\.2 MB; run the download again to resume\.$/);
  assertCompleteOrAbsent();
  assert.equal(fs.existsSync(path.join(folder(), 'model.safetensors')), false);
  await downloadModel(ENTRY, options());
  assert.ok(fs.readFileSync(path.join(folder(), 'model.safetensors')).equals(WEIGHTS));
  assert.equal(hub.requests.filter((r) => r.path.startsWith('/cdn/')).at(-1)?.range, 'bytes=100000-');
});

test('wrong sha256: refused, nothing renamed, the partial file deleted', async () => {
  hub.setFile(REPO, 'model.safetensors', { content: WEIGHTS, lfs: true, advertisedHash: 'ab'.repeat(32) });
  await rejectsWith(
    downloadModel(ENTRY, options()), 'integrity',
    new RegExp(`^test-org/tiny-gpt2/model\\.safetensors: sha256 mismatch \\(expected ${'ab'.repeat(32)}, got ${sha256Hex(WEIGHTS)}\\); the download was deleted and nothing was installed\\.$`),
  );
  assertCompleteOrAbsent();
  assert.deepEqual(fs.readdirSync(folder()).sort(), ['config.json']);
  assert.equal(isDownloaded(ENTRY, folder()), false);
});

test('wrong git blob id of config.json: refused the same way', async () => {
  hub.setFile(REPO, 'config.json', { content: CONFIG, lfs: false, advertisedHash: 'ef'.repeat(20) });
  await rejectsWith(
    downloadModel(ENTRY, options()), 'integrity',
    new RegExp(`^test-org/tiny-gpt2/config\\.json: git blob id mismatch \\(expected ${'ef'.repeat(20)}, got ${gitBlobSha1(CONFIG)}\\); the download was deleted and nothing was installed\\.$`),
  );
  assert.deepEqual(fs.readdirSync(folder()), []);
});

test('a sha256 pinned in the manifest must match the file', async () => {
  const entry: ManifestEntry = { ...ENTRY, files: [{ path: 'config.json', sha256: 'cd'.repeat(32) }] };
  await rejectsWith(downloadModel(entry, options()), 'integrity', new RegExp(`^test-org/tiny-gpt2/config\\.json: sha256 mismatch \\(expected ${'cd'.repeat(32)}, got ${sha256Hex(CONFIG)}\\)`));
  assert.deepEqual(fs.readdirSync(folder()), []);
});

test('404: the message names the repo and the file', async () => {
  const entry: ManifestEntry = { ...ENTRY, files: [{ path: 'config.json' }, { path: 'pytorch_model.safetensors' }] };
  await rejectsWith(
    downloadModel(entry, options()), 'http',
    /^test-org\/tiny-gpt2\/pytorch_model\.safetensors was not found at 127\.0\.0\.1:\d+ \(HTTP 404\) for revision "0123456789abcdef0123456789abcdef01234567"; check the model name, the revision and the hub endpoint\.$/,
  );
  assertCompleteOrAbsent();
  await rejectsWith(downloadModel({ ...ENTRY, name: 'nothing', repo: 'nobody/nothing' }, options()), 'http', /^nobody\/nothing\/config\.json was not found .*HTTP 404/);
});

test('redirect loop: a clear message, nothing written', async () => {
  hub.loopingRepos.add(REPO);
  await rejectsWith(downloadModel(ENTRY, options()), 'http', /^test-org\/tiny-gpt2\/config\.json: redirect loop \(http:\/\/127\.0\.0\.1:\d+\/loop\/a was reached twice\); check the hub endpoint\.$/);
  assert.deepEqual(fs.readdirSync(folder()), []);
});

test('disk full: too little free space is refused before writing; ENOSPC while writing keeps a resumable part', async () => {
  await rejectsWith(
    downloadModel(ENTRY, options({ io: { freeBytes: async () => 1024 } })), 'disk',
    /^Not enough free space in .*tiny for test-org\/tiny-gpt2\/config\.json: it needs 0\.0 MB more and 0\.0 MB is free\.$/,
  );
  assert.deepEqual(fs.readdirSync(folder()), []);

  let written = 0;
  const fullAfter = 1024 * 1024;
  await rejectsWith(
    downloadModel(ENTRY, options({
      io: {
        write: async (fh, chunk) => {
          if (written + chunk.length > fullAfter) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          written += chunk.length;
          await fh.write(chunk);
        },
      },
    })),
    'disk', /^The disk is full while writing .*model\.safetensors\.part \(test-org\/tiny-gpt2\/model\.safetensors\); free some space and run the download again to resume\.$/,
  );
  assertCompleteOrAbsent();
  assert.equal(fs.existsSync(path.join(folder(), 'model.safetensors')), false);
  await downloadModel(ENTRY, options());
  assert.ok(fs.readFileSync(path.join(folder(), 'model.safetensors')).equals(WEIGHTS));
});

test('the hub file changed between sessions: the stale part is discarded, not mixed in', async () => {
  hub.plan('model.safetensors', { kind: 'short', bytes: 500_000 });
  await rejectsWith(downloadModel(ENTRY, options()), 'network', /connection ended/);
  const updated = randomBytes(WEIGHTS.length);
  hub.setFile(REPO, 'model.safetensors', { content: updated, lfs: true });
  await downloadModel(ENTRY, options());
  assert.ok(fs.readFileSync(path.join(folder(), 'model.safetensors')).equals(updated));
});

test('a server that ignores Range: the download starts over and still verifies', async () => {
  hub.plan('model.safetensors', { kind: 'short', bytes: 300_000 }, { kind: 'ignore-range' });
  await rejectsWith(downloadModel(ENTRY, options()), 'network', /connection ended/);
  await downloadModel(ENTRY, options());
  assert.ok(fs.readFileSync(path.join(folder(), 'model.safetensors')).equals(WEIGHTS));
});

test('endpoints: only https, http only to loopback; bad URLs refused before any request', async () => {
  await rejectsWith(downloadModel(ENTRY, options({ endpoint: 'http://example.com' })), 'bad-endpoint', /^Hub endpoint http:\/\/example\.com uses http; only https is allowed \(http only to 127\.0\.0\.1, localhost or ::1\)\.$/);
  await rejectsWith(downloadModel(ENTRY, options({ endpoint: 'ftp://127.0.0.1' })), 'bad-endpoint', /uses ftp; only https/);
  await rejectsWith(downloadModel(ENTRY, options({ endpoint: 'not a url' })), 'bad-endpoint', /^Hub endpoint "not a url" is not a URL/);
  assert.equal(hub.requests.length, 0);
  // Loopback under its other names is fine (localhost → the same server).
  await downloadModel(ENTRY, options({ endpoint: hub.url.replace('127.0.0.1', 'localhost') + '/' }));
  assert.equal(isDownloaded(ENTRY, folder()), true);
});
