/**
 * Heatmap renderer figures: webview/heatmap.ts's canvas Heatmap (one ImageData scaled up by one
 * drawImage) against chart.js 4 + chartjs-chart-matrix (one element with resolved options per
 * cell), drawing the same values with the same colour function on a canvas of the same size, in
 * headless Chromium (playwright-core, test/e2e/workbench.ts's launchBrowser). This is the
 * comparison behind the choice of canvas (README "Heatmaps on plain canvas", the comment atop
 * webview/heatmap.ts), kept so it can be re-run.
 *
 * Grids: 12 × 12 (layers × heads), 32 × 32 and 128 × 128 (attention pattern / residual norms at
 * 128 tokens). Per grid and renderer: first draw (create + draw + one pixel read back, then
 * disposed) and re-draw with new values (what selecting another position or head does), each
 * timed in the page with performance.now() over REPS samples after WARMUPS warm-ups; sub-ms
 * operations repeat within a sample (the page timer has 0.1 ms resolution). No labels, no marks:
 * the cells only. Chromium runs with --disable-gpu, so both canvases are software-rastered.
 *
 * The page code is bench/heatmapPage.ts, bundled with esbuild (as scripts/build.ts bundles the
 * webview) into .bench/heatmap/.
 * Never installs Chromium (skipped when /usr/bin/chromium is missing: scripts/e2e-setup.ts installs it).
 *
 * Run alone: node --import tsx bench/heatmap.ts   (JSON on stdout, progress on stderr)
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHROMIUM_PATH } from '../scripts/e2e-setup';
import type { BrowserContext } from 'playwright-core';
import { launchBrowser } from '../test/e2e/workbench';
import type { CaseOptions, CaseResult, HeatmapBench, Renderer } from './heatmapTypes';
import { guardedSection, printWhenRunAlone, round1 } from './section';

const ROOT = path.resolve(__dirname, '..');
const OUT_DIR = path.join(ROOT, '.bench', 'heatmap');
const SIZES = [12, 32, 128] as const;
const RENDERERS: readonly Renderer[] = ['canvas', 'chartjs-chart-matrix'];
const WARMUPS = 2;
const REPS = 15;
/** Heatmap's preferred cell size and the width it may use (a side view of ~520 px): 14 px cells up to 36 columns, 4 px at 128. */
const CELL = 14;
const MAX_WIDTH = 512;
const MIN_SAMPLE_MS = 5;
const RUN_TIMEOUT_MS = 3 * 60_000;

const log = (line: string): void => {
  process.stderr.write(`[bench] heatmap: ${line}\n`);
};
/** The browser of the run in progress, closed by benchHeatmap also when the run times out. */
let browser: BrowserContext | undefined;

/** The page bundle: bench/heatmapPage.ts with webview/heatmap.ts, built like scripts/build.ts builds the webview for the .vsix. */
async function buildPage(): Promise<{ html: string; bundleKb: number }> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const bundle = path.join(OUT_DIR, 'page.js');
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [path.join(__dirname, 'heatmapPage.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true, // as `npm run package` builds it
    logLevel: 'warning',
  });
  const html = path.join(OUT_DIR, 'index.html');
  fs.writeFileSync(html, '<!doctype html>\n<html><head><meta charset="utf-8"><title>heatmap bench</title></head>\n<body style="margin:0"><script src="page.js"></script></body></html>\n');
  return { html, bundleKb: round1(fs.statSync(bundle).size / 1024) };
}

function ratio(chart: number, canvas: number): number {
  return canvas > 0 ? round1(chart / canvas) : NaN;
}

async function measure(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {
    what: `canvas Heatmap (webview/heatmap.ts) vs chart.js + chartjs-chart-matrix, same values / colour function / canvas size (cells only, no labels), headless Chromium --disable-gpu; first draw = create + draw + 1-pixel read-back (then disposed), re-draw = new values into the existing heatmap / chart.update('none'); min / median / max of ${REPS} after ${WARMUPS} warm-ups, ms per draw, timed in the page`,
    loadAverageBefore: os.loadavg().map(round1),
  };
  const t0 = Date.now();
  const page = await buildPage();
  out.bundleKb = page.bundleKb;
  log(`bundle built (${page.bundleKb} KB); launching ${CHROMIUM_PATH}`);
  const context = await launchBrowser(CHROMIUM_PATH, path.join(OUT_DIR, 'chromium-profile'));
  browser = context;
  try {
    const tab = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    tab.on('pageerror', (err) => pageErrors.push(err.message));
    await tab.goto(pathToFileURL(page.html).href);
    const info = await tab.evaluate(() => {
      const bench = (globalThis as unknown as { heatmapBench?: HeatmapBench }).heatmapBench;
      return bench ? { userAgent: bench.userAgent, devicePixelRatio: bench.devicePixelRatio } : undefined;
    });
    if (!info) throw new Error(`the bench page did not start${pageErrors.length ? `: ${pageErrors.join('; ')}` : ''}`);
    out.chromium = /(?:Headless)?Chrome\/([\d.]+)/.exec(info.userAgent)?.[1] ?? info.userAgent;
    out.devicePixelRatio = info.devicePixelRatio;
    out.warmups = WARMUPS;
    out.reps = REPS;
    const sizes: Record<string, unknown> = {};
    for (const n of SIZES) {
      const results: Partial<Record<Renderer, CaseResult>> = {};
      for (const renderer of RENDERERS) {
        const options: CaseOptions = { renderer, rows: n, cols: n, warmups: WARMUPS, reps: REPS, cell: CELL, maxWidth: MAX_WIDTH, minSampleMs: MIN_SAMPLE_MS };
        const r = await tab.evaluate((o) => {
          const bench = (globalThis as unknown as { heatmapBench: HeatmapBench }).heatmapBench;
          return bench.runCase(o);
        }, options);
        results[renderer] = r;
        log(`${n}×${n} ${renderer}: first draw median ${r.firstDraw.medianMs} ms, re-draw median ${r.redraw.medianMs} ms${r.colorsMatch ? '' : ' (colours do not match!)'}`);
      }
      const canvas = results.canvas;
      const chart = results['chartjs-chart-matrix'];
      if (!canvas || !chart) throw new Error(`missing results for ${n}×${n}`);
      const strip = (r: CaseResult): Record<string, unknown> => {
        const { renderer: _r, rows: _rows, cols: _cols, ...rest } = r;
        return rest;
      };
      sizes[`${n}x${n}`] = {
        canvas: strip(canvas),
        chartjsMatrix: strip(chart),
        'ratio chartjs-chart-matrix / canvas (medians)': {
          firstDraw: ratio(chart.firstDraw.medianMs, canvas.firstDraw.medianMs),
          redraw: ratio(chart.redraw.medianMs, canvas.redraw.medianMs),
        },
      };
    }
    out.sizes = sizes;
    if (pageErrors.length) out.pageErrors = pageErrors;
  } finally {
    await context.close().catch(() => undefined);
  }
  out.totalSeconds = round1((Date.now() - t0) / 1000);
  // 2 shared cores: other work on the machine shows here and inflates the figures.
  out.loadAverageAfter = os.loadavg().map(round1);
  return out;
}

/** The `heatmap` section of `npm run bench`; never throws (a failure becomes an `error` entry). */
export async function benchHeatmap(): Promise<Record<string, unknown>> {
  if (!fs.existsSync(CHROMIUM_PATH)) return { skipped: `Chromium not found at ${CHROMIUM_PATH} (scripts/e2e-setup.ts installs it)` };
  const cleanup = async (): Promise<void> => {
    await browser?.close().catch(() => undefined);
    browser = undefined;
  };
  return guardedSection({ timeoutMs: RUN_TIMEOUT_MS, log, cleanup }, measure);
}

if (require.main === module) {
  printWhenRunAlone(() => benchHeatmap(), { exit: true });
}
