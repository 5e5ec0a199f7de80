/**
 * The trace panel's own share of the first paint (issue 13), without VS Code: the webview bundle
 * (webview/main.ts as the .vsix ships it) in headless Chromium, sent warm 'trace' messages of the
 * GPT-2-small shape (12 layers × 12 heads, 32 tokens, top-10) as the host sends them, each timed by
 * the page itself as in the real panel: renderMs (the message handler's synchronous render) and
 * webviewMs (arrival → the second animation frame, when it posts 'painted'). With --baseline FILE.vsix
 * the same runs, interleaved one trace at a time, on that package's webview bundle in a second tab
 * (a before/after pair on one machine at one time, as the machine is shared).
 *
 * Run alone: node --import tsx bench/panelRender.ts [--baseline .bench/baseline.vsix]   (JSON on stdout)
 */
import { execFileSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { CHROMIUM_PATH } from '../scripts/e2e-setup';
import { WEBVIEW_PROTOCOL_VERSION, type TracePayload } from '../src/protocol/webview';
import { launchBrowser } from '../test/e2e/workbench';
import { stringArg } from './panel';
import { median, printWhenRunAlone, round1 } from './section';

const ROOT = path.resolve(__dirname, '..');
const OUT_DIR = path.join(ROOT, '.bench', 'panel-render');
const L = 12;
const H = 12;
const T = 32;
const K = 10;
const WARMUPS = 3;
const TRACES = 25;

const log = (line: string): void => {
  process.stderr.write(`[bench] panelRender: ${line}\n`);
};

/** A trace payload of the GPT-2-small shape with deterministic values (the page only draws them). */
function payload(traceId: number): TracePayload {
  let seed = traceId * 7919 + 1;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const predIds = Int32Array.from({ length: T * K }, () => Math.floor(rand() * 50257));
  const vocab = [...new Set(predIds)].map((id) => [id, ` tok${id}`] as const);
  return {
    traceId,
    model: 'gpt2-small-random',
    text: 'x'.repeat(T),
    nLayer: L,
    nHead: H,
    tokens: Array.from({ length: T }, (_, i) => ({ id: i === 0 ? 50256 : 1000 + i, text: i === 0 ? '<|endoftext|>' : ` word${i}`, partial: false, special: i === 0 })),
    residNorms: Float32Array.from({ length: (L + 1) * T }, () => 5 + 10 * rand()),
    attnNorms: Float32Array.from({ length: L * T }, () => 3 * rand()),
    mlpNorms: Float32Array.from({ length: L * T }, () => 3 * rand()),
    predK: K,
    predIds,
    predProbs: Float32Array.from({ length: T * K }, () => rand() / K),
    vocab,
    elapsedMs: 100,
  };
}

/** The page: the bundle with a stand-in for VS Code's webview API that records what the page posts. */
function writePage(name: string, bundle: string): string {
  const dir = path.join(OUT_DIR, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(bundle, path.join(dir, 'webview.js'));
  const html = path.join(dir, 'index.html');
  fs.writeFileSync(
    html,
    `<!doctype html><html><head><meta charset="utf-8"><title>${name}</title></head><body data-view="trace"><div id="app"></div>
<script>window.posted = []; let st; window.acquireVsCodeApi = () => ({ postMessage: (m) => window.posted.push(m), getState: () => st, setState: (s) => { st = s; } });</script>
<script src="webview.js"></script></body></html>\n`,
  );
  return html;
}

async function buildCurrent(): Promise<string> {
  const out = path.join(OUT_DIR, 'current-webview.js');
  await esbuild.build({ absWorkingDir: ROOT, entryPoints: [path.join(ROOT, 'webview', 'main.ts')], outfile: out, bundle: true, platform: 'browser', format: 'iife', target: 'es2022', minify: true, logLevel: 'warning', loader: { '.css': 'text' } });
  return out;
}

function fromVsix(vsix: string): string {
  const out = path.join(OUT_DIR, 'baseline-webview.js');
  fs.writeFileSync(out, execFileSync('unzip', ['-p', vsix, 'extension/dist/webview.js'], { maxBuffer: 64 << 20 }));
  return out;
}

/** Posts one trace and waits for the page's 'painted'; returns its times. */
async function traceOnce(page: Page, traceId: number): Promise<{ renderMs: number; webviewMs: number }> {
  const msg = { v: WEBVIEW_PROTOCOL_VERSION, type: 'trace', trace: payload(traceId), selection: { pos: T - 1, layer: 0, head: 0 } };
  type Posted = { type: string; traceId?: number; renderMs?: number; webviewMs?: number };
  // No named functions inside evaluated code: tsx would wrap them in a helper the page lacks.
  const from = await page.evaluate((m) => {
    const w = globalThis as unknown as { posted: Posted[]; postMessage(x: unknown, origin: string): void };
    const n = w.posted.length;
    w.postMessage(m, '*');
    return n;
  }, msg);
  const handle = await page.waitForFunction(
    (a) => (globalThis as unknown as { posted: Posted[] }).posted.slice(a.from).find((x) => x.type === 'painted' && x.traceId === a.id),
    { from, id: msg.trace.traceId },
    { timeout: 10_000, polling: 5 },
  );
  const p = (await handle.jsonValue()) as Posted;
  return { renderMs: p.renderMs ?? NaN, webviewMs: p.webviewMs ?? NaN };
}

async function main(): Promise<Record<string, unknown>> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const arms: Record<string, string> = { current: writePage('current', await buildCurrent()) };
  const baseline = stringArg('--baseline');
  if (baseline) arms.baseline = writePage('baseline', fromVsix(baseline));
  const context = await launchBrowser(CHROMIUM_PATH, path.join(OUT_DIR, 'chromium-profile'));
  const out: Record<string, unknown> = { what: `warm 'trace' messages (${L}×${H}, ${T} tokens, top-${K}) into the trace panel's bundle in headless Chromium; renderMs / webviewMs as the page reports them; ${TRACES} traces after ${WARMUPS} warm-ups per arm, interleaved`, loadAverageBefore: os.loadavg().map(round1) };
  try {
    const pages: Record<string, Page> = {};
    for (const [name, html] of Object.entries(arms)) {
      const page = await context.newPage();
      await page.setViewportSize({ width: 700, height: 900 });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(html).href);
      await page.waitForFunction(() => (globalThis as unknown as { posted: { type: string }[] }).posted.some((m) => m.type === 'ready'), undefined, { timeout: 15_000 }).catch(() => {
        throw new Error(`${name}: the page did not say ready${errors.length ? `: ${errors.join('; ')}` : ''}`);
      });
      pages[name] = page;
    }
    const times: Record<string, { renderMs: number; webviewMs: number }[]> = Object.fromEntries(Object.keys(arms).map((n) => [n, []]));
    for (let i = 0; i < WARMUPS + TRACES; i++) {
      for (const [name, page] of Object.entries(pages)) {
        await page.bringToFront(); // a background tab gets no animation frames
        const t = await traceOnce(page, i + 1);
        if (i >= WARMUPS) times[name].push(t);
      }
    }
    for (const [name, ts] of Object.entries(times)) {
      const fig = (f: (t: { renderMs: number; webviewMs: number }) => number): { median: number; min: number; max: number } => ({ median: round1(median(ts.map(f))), min: round1(Math.min(...ts.map(f))), max: round1(Math.max(...ts.map(f))) });
      out[name] = { renderMs: fig((t) => t.renderMs), webviewMs: fig((t) => t.webviewMs) };
      log(`${name}: render median ${(out[name] as { renderMs: { median: number } }).renderMs.median} ms, page median ${(out[name] as { webviewMs: { median: number } }).webviewMs.median} ms`);
    }
  } finally {
    await context.close().catch(() => undefined);
  }
  out.loadAverageAfter = os.loadavg().map(round1);
  return out;
}

if (require.main === module) {
  printWhenRunAlone(() => main(), { exit: true });
}
