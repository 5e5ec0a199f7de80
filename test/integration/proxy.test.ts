/**
 * Downloads through a proxy from the environment (the CLI's HTTPS_PROXY / HTTP_PROXY / NO_PROXY):
 * which URLs are proxied, and a real proxy on 127.0.0.1 that forwards absolute-form GETs and
 * answers CONNECT, in front of the hub-shaped server.
 */
import { test, before, after, beforeEach, describe } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DownloadError, downloadModel } from '../../src/models/download';
import { bypassesProxy, envProxyAgents, proxyFor } from '../../src/models/proxy';
import type { ManifestEntry } from '../../src/models/registry';
import { ForwardProxy } from '../helpers/forwardProxy';
import { HubServer } from '../helpers/hubServer';

describe('proxy from the environment', () => {
  const u = (s: string): URL => new URL(s);

  test('HTTPS_PROXY for https, HTTP_PROXY for http; lower-case names first; scheme optional', () => {
    const env = { HTTPS_PROXY: 'http://secure.proxy:3128', HTTP_PROXY: 'plain.proxy:8080' };
    assert.equal(proxyFor(u('https://huggingface.co/x'), env)?.href, 'http://secure.proxy:3128/');
    assert.equal(proxyFor(u('http://127.0.0.1:9/x'), env)?.href, 'http://plain.proxy:8080/');
    assert.equal(proxyFor(u('https://huggingface.co/x'), { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' })?.host, 'lower:1');
    assert.equal(proxyFor(u('https://huggingface.co/x'), {}), undefined);
    assert.equal(proxyFor(u('https://huggingface.co/x'), { HTTPS_PROXY: '  ' }), undefined);
  });

  test('NO_PROXY: names cover their subdomains, leading dots and *. too, ports must match, * exempts all', () => {
    const hf = u('https://cdn-lfs.huggingface.co/file');
    assert.equal(bypassesProxy(hf, 'huggingface.co'), true);
    assert.equal(bypassesProxy(hf, '.huggingface.co'), true);
    assert.equal(bypassesProxy(hf, '*.huggingface.co'), true);
    assert.equal(bypassesProxy(hf, 'gingface.co'), false, 'a suffix that is not a whole label');
    assert.equal(bypassesProxy(hf, 'example.com, huggingface.co:443'), true);
    assert.equal(bypassesProxy(hf, 'huggingface.co:8443'), false);
    assert.equal(bypassesProxy(u('http://127.0.0.1:5000/'), '127.0.0.1'), true);
    assert.equal(bypassesProxy(u('http://[::1]:5000/'), '::1'), true);
    assert.equal(bypassesProxy(u('http://[::1]:5000/'), '[::1]:5000'), true);
    assert.equal(bypassesProxy(u('http://[::1]:5000/'), '[::1]:6000'), false);
    assert.equal(bypassesProxy(hf, '*'), true);
    assert.equal(bypassesProxy(hf, ''), false);
    assert.equal(proxyFor(hf, { HTTPS_PROXY: 'http://p:1', no_proxy: 'huggingface.co' }), undefined);
  });

  test('a proxy value that is not an http(s) URL is a clear error naming the variable', () => {
    assert.throws(() => proxyFor(u('https://huggingface.co/'), { HTTPS_PROXY: 'socks5://p:1080' }), /HTTPS_PROXY="socks5:\/\/p:1080" is not a usable http\(s\) URL/);
    assert.throws(() => proxyFor(u('http://127.0.0.1/'), { HTTP_PROXY: 'http://[bad' }), /HTTP_PROXY=/);
  });
});

describe('downloads through a proxy on 127.0.0.1', () => {
  const REPO = 'test-org/proxied';
  const CONFIG = Buffer.from('{"model_type":"gpt2","n_layer":1,"n_head":1,"n_embd":8,"n_positions":16,"vocab_size":50257}\n');
  const WEIGHTS = randomBytes(256 * 1024 + 17);
  const ENTRY: ManifestEntry = { name: 'proxied', displayName: 'Proxied', repo: REPO, revision: 'main', files: [{ path: 'config.json' }, { path: 'model.safetensors' }] };
  let hub: HubServer;
  let proxy: ForwardProxy;
  let cacheDir: string;

  before(async () => {
    hub = new HubServer();
    await hub.start();
    proxy = new ForwardProxy();
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
    await hub.close();
  });
  beforeEach(() => {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-proxy-'));
    hub.reset();
    hub.setFile(REPO, 'config.json', { content: CONFIG, lfs: false });
    hub.setFile(REPO, 'model.safetensors', { content: WEIGHTS, lfs: true });
    proxy.forwarded.length = 0;
    proxy.connects.length = 0;
  });

  test('HTTP_PROXY: every request, redirects included, goes through the proxy, and the files verify', async () => {
    const folder = await downloadModel(ENTRY, { endpoint: hub.url, cacheDir, agentFor: envProxyAgents({ HTTP_PROXY: proxy.url }) });
    assert.ok(fs.readFileSync(path.join(folder, 'model.safetensors')).equals(WEIGHTS));
    assert.ok(fs.readFileSync(path.join(folder, 'config.json')).equals(CONFIG));
    // config.json (one GET), model.safetensors (resolve → 302 → CDN): every hop the hub saw came through the proxy.
    assert.equal(proxy.forwarded.length, hub.requests.length);
    assert.ok(proxy.forwarded.length >= 3, JSON.stringify(proxy.forwarded));
    assert.ok(proxy.forwarded.some((p) => p.includes('/cdn/')), 'the CDN redirect target was fetched through the proxy too');
  });

  test('NO_PROXY covering the hub: the proxy sees nothing', async () => {
    await downloadModel(ENTRY, { endpoint: hub.url, cacheDir, agentFor: envProxyAgents({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }) });
    assert.equal(proxy.forwarded.length, 0);
    assert.ok(hub.requests.length >= 3);
  });

  test('HTTPS_PROXY: an https hub is reached with CONNECT host:443; a refusing proxy is named in the error', async () => {
    const err = await downloadModel(ENTRY, { endpoint: 'https://huggingface.co', cacheDir, agentFor: envProxyAgents({ HTTPS_PROXY: proxy.url }), idleTimeoutMs: 10_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DownloadError, String(err));
    // The proxy's 403 to CONNECT reaches us as the response (https-proxy-agent replays it).
    assert.equal(err.code, 'http');
    assert.match(err.message, new RegExp(`config\\.json was not found at huggingface\\.co through the proxy 127\\.0\\.0\\.1:\\d+ \\(HTTP 403\\).*and that the proxy lets it through`));
    assert.deepEqual(proxy.connects, ['huggingface.co:443']);
    const left = fs.existsSync(path.join(cacheDir, 'proxied')) ? fs.readdirSync(path.join(cacheDir, 'proxied')) : [];
    assert.deepEqual(left.filter((f) => f === 'config.json' || f === 'model.safetensors'), [], `no model file in place: ${left.join(', ')}`);
  });

  test('a bad proxy setting fails at once with its message, before any file is written', async () => {
    const err = await downloadModel(ENTRY, { endpoint: hub.url, cacheDir, agentFor: envProxyAgents({ HTTP_PROXY: 'ftp://p:21' }) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof DownloadError, String(err));
    assert.match(err.message, /HTTP_PROXY="ftp:\/\/p:21" is not a usable http\(s\) URL/);
    assert.equal(hub.requests.length, 0);
  });
});
