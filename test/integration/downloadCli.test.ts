/**
 * The `download` and `models` CLI commands, as a user runs them (a child process), against the
 * hub-shaped test server serving a fake openai-community/gpt2.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ForwardProxy } from '../helpers/forwardProxy';
import { HubServer, HUB_COMMIT } from '../helpers/hubServer';

const ROOT = path.resolve(__dirname, '../..');
const WEIGHTS = randomBytes(2 * 1024 * 1024);
const CONFIG = Buffer.from('{"model_type": "gpt2"}\n');
let hub: HubServer;
let dir: string;

/** No proxy from the test's own environment unless a test sets one. */
const NO_PROXY_ENV = { HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '', NO_PROXY: '', no_proxy: '' };

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliWithEnv({}, ...args);
}

function cliWithEnv(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), ...args], { cwd: ROOT, env: { ...process.env, HF_ENDPOINT: '', ...NO_PROXY_ENV, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  hub = new HubServer();
  await hub.start();
  hub.setFile('openai-community/gpt2', 'config.json', { content: CONFIG, lfs: false });
  hub.setFile('openai-community/gpt2', 'model.safetensors', { content: WEIGHTS, lfs: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-cli-'));
});
after(async () => {
  await hub.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('download gpt2 --hub --dir: progress on stderr, the folder on stdout; models lists it', async () => {
  const before = await cli('models', '--dir', dir, '--json');
  assert.equal(before.code, 0, before.stderr);
  const listed = JSON.parse(before.stdout) as { models: { name: string; downloaded: boolean }[] };
  assert.deepEqual(listed.models.map((m) => [m.name, m.downloaded]), [
    ['demo', fs.existsSync(path.join(ROOT, 'models/demo/model.safetensors'))], ['gpt2', false], ['gpt2-medium', false], ['gpt2-large', false], ['gpt2-xl', false], ['distilgpt2', false],
  ]);

  const run = await cli('download', 'gpt2', '--hub', hub.url, '--dir', dir);
  assert.equal(run.code, 0, run.stderr);
  const folder = path.join(dir, 'gpt2');
  assert.equal(run.stdout, `gpt2 is ready in ${folder} (commit ${HUB_COMMIT})\n`);
  assert.match(run.stderr, new RegExp(`^Downloading openai-community/gpt2@main from ${hub.url} into ${dir}\\n`));
  // Not a terminal: one line per 10 %, ending at 100 %.
  assert.match(run.stderr, /\[#{24}\] 100% {2}2\.1 \/ 2\.1 MB .* model\.safetensors\n$/);
  assert.ok(fs.readFileSync(path.join(folder, 'model.safetensors')).equals(WEIGHTS));

  const after = await cli('models', '--dir', dir);
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout, new RegExp(`gpt2 +GPT-2 small \\(124M\\) +548 MB +downloaded +${folder}\\n`));
  const json = JSON.parse((await cli('models', '--dir', dir, '--json')).stdout) as { models: { name: string; commit: string | null }[] };
  assert.equal(json.models.find((m) => m.name === 'gpt2')?.commit, HUB_COMMIT);
});

test('download: unknown names, the demo, bad hubs and 404s are one-line errors', async () => {
  const unknown = await cli('download', 'gpt5', '--dir', dir);
  assert.deepEqual([unknown.code, unknown.stderr], [2, "residual-lens: unknown model 'gpt5'; known: gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2\n"]);
  const demo = await cli('download', 'demo', '--dir', dir);
  assert.deepEqual([demo.code, demo.stderr], [2, 'residual-lens: the demo model is built locally (npm install), not downloaded\n']);
  const insecure = await cli('download', 'distilgpt2', '--hub', 'http://example.com', '--dir', dir);
  assert.deepEqual([insecure.code, insecure.stderr], [1, 'residual-lens: Hub endpoint http://example.com uses http; only https is allowed (http only to 127.0.0.1, localhost or ::1).\n']);
  const missing = await cli('download', 'distilgpt2', '--hub', hub.url, '--dir', dir);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\nresidual-lens: distilbert\/distilgpt2\/config\.json was not found at 127\.0\.0\.1:\d+ \(HTTP 404\) for revision "main"; check the model name, the revision and the hub endpoint\.\n$/);
});

test('download reads HTTP_PROXY (and NO_PROXY) from the environment', async () => {
  const proxy = new ForwardProxy();
  await proxy.start();
  try {
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-cli-proxy-'));
    const run = await cliWithEnv({ HTTP_PROXY: proxy.url }, 'download', 'gpt2', '--hub', hub.url, '--dir', target);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(fs.readFileSync(path.join(target, 'gpt2', 'model.safetensors')).equals(WEIGHTS));
    assert.ok(proxy.forwarded.some((u) => u.includes('/openai-community/gpt2/resolve/') && u.endsWith('/model.safetensors')), JSON.stringify(proxy.forwarded));
    const seen = proxy.forwarded.length;
    const direct = await cliWithEnv({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }, 'download', 'gpt2', '--hub', hub.url, '--dir', fs.mkdtempSync(path.join(os.tmpdir(), 'rl-cli-proxy-')));
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(proxy.forwarded.length, seen, 'NO_PROXY=127.0.0.1: nothing more through the proxy');
  } finally {
    await proxy.close();
  }
});
