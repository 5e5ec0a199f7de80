/**
 * Page side of bench/heatmap.ts: times webview/heatmap.ts's canvas Heatmap against a chart.js 4
 * `matrix` chart (chartjs-chart-matrix) drawing the same values with the same colour function.
 * bench/heatmap.ts bundles this file with esbuild and loads it in headless Chromium; it installs
 * `globalThis.heatmapBench`. Type-checked with the webview project (DOM types), not the root one.
 */
import { Chart, LinearScale, type ScriptableContext } from 'chart.js';
import { MatrixController, MatrixElement, type MatrixDataPoint } from 'chartjs-chart-matrix';
import { cssRgb, sequentialColor, type Rgb } from '../src/viewModels/color';
import { Heatmap, type HeatmapSpec } from '../webview/heatmap';
import { mulberry32 } from '../src/analysis/random';
import type { CaseOptions, CaseResult, HeatmapBench, Timing } from './heatmapTypes';
import { median } from './section';

/** Dark Modern's editor background and a chart blue, as a sequential scale over [0, 1]. */
const BACKGROUND: Rgb = [31, 31, 31];
const HIGH: Rgb = [55, 148, 255];
const color = (v: number): Rgb => sequentialColor(v, 0, 1, BACKGROUND, HIGH);

interface Drawn {
  readonly canvas: HTMLCanvasElement;
  redraw(values: Float32Array): void;
  dispose(): void;
}

/** Reads one pixel back, so the draw has really happened before the clock stops. */
function flush(canvas: HTMLCanvasElement): void {
  canvas.getContext('2d')?.getImageData(0, 0, 1, 1);
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Deterministic values in [0, 1), so every run draws the same matrices. */
function randomValues(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, next);
}

function installHeatmapBench(): void {
  const doc = document;
  Chart.register(MatrixController, MatrixElement, LinearScale);

  const spec = (o: CaseOptions, values: Float32Array): HeatmapSpec => ({
    rows: o.rows,
    cols: o.cols,
    values,
    color,
    cell: o.cell,
    maxWidth: o.maxWidth,
    font: 'sans-serif',
    textColor: 'rgb(204, 204, 204)',
    markColor: 'rgb(0, 120, 212)',
    describe: (r, c, v) => `${r}, ${c}: ${v.toFixed(3)}`,
  });

  const canvasHeatmap = (o: CaseOptions, values: Float32Array): Drawn => {
    const hm = new Heatmap('bench-heatmap', 'bench heatmap', () => undefined);
    doc.body.append(hm.canvas);
    hm.draw(spec(o, values));
    return { canvas: hm.canvas, redraw: (v) => hm.draw(spec(o, v)), dispose: () => hm.canvas.remove() };
  };

  /** CSS size Heatmap gives this grid, for the chart's canvas. */
  const heatmapSize = (o: CaseOptions): { width: number; height: number } => {
    const d = canvasHeatmap(o, new Float32Array(o.rows * o.cols));
    const size = { width: parseFloat(d.canvas.style.width), height: parseFloat(d.canvas.style.height) };
    d.dispose();
    return size;
  };

  const points = (o: CaseOptions, values: Float32Array): MatrixDataPoint[] => {
    const out: MatrixDataPoint[] = new Array(o.rows * o.cols);
    for (let r = 0; r < o.rows; r++) for (let c = 0; c < o.cols; c++) out[r * o.cols + c] = { x: c, y: r, v: values[r * o.cols + c] };
    return out;
  };

  const matrixChart = (o: CaseOptions, size: { width: number; height: number }, values: Float32Array): Drawn => {
    const canvas = doc.createElement('canvas');
    canvas.width = size.width;
    canvas.height = size.height;
    canvas.style.width = `${size.width}px`;
    canvas.style.height = `${size.height}px`;
    doc.body.append(canvas);
    const chart = new Chart(canvas, {
      type: 'matrix',
      data: {
        datasets: [
          {
            data: points(o, values),
            backgroundColor: (ctx: ScriptableContext<'matrix'>) => cssRgb(color((ctx.raw as MatrixDataPoint).v ?? 0)),
            borderWidth: 0,
            width: ({ chart: c }) => c.chartArea.width / o.cols,
            height: ({ chart: c }) => c.chartArea.height / o.rows,
          },
        ],
      },
      options: {
        animation: false,
        responsive: false,
        maintainAspectRatio: false,
        layout: { padding: 0 },
        scales: {
          x: { type: 'linear', display: false, offset: false, min: -0.5, max: o.cols - 0.5 },
          y: { type: 'linear', display: false, offset: false, reverse: true, min: -0.5, max: o.rows - 0.5 },
        },
      },
    });
    return {
      canvas,
      redraw: (v) => {
        chart.data.datasets[0].data = points(o, v);
        chart.update('none'); // synchronous: no animation
      },
      dispose: () => {
        chart.destroy();
        canvas.remove();
      },
    };
  };

  /** Cells whose centre pixel does not have the colour function's colour of its value. */
  const checkColors = (o: CaseOptions, canvas: HTMLCanvasElement, values: Float32Array): string[] => {
    const ctx = canvas.getContext('2d');
    if (!ctx) return ['no 2d context'];
    const bad: string[] = [];
    const cellW = canvas.width / o.cols;
    const cellH = canvas.height / o.rows;
    for (const [r, c] of [
      [0, 0],
      [o.rows >> 1, o.cols >> 1],
      [o.rows - 1, o.cols - 1],
    ] as const) {
      const px = ctx.getImageData(Math.floor((c + 0.5) * cellW), Math.floor((r + 0.5) * cellH), 1, 1).data;
      const want = color(values[r * o.cols + c]);
      if ([0, 1, 2].some((i) => Math.abs(px[i] - want[i]) > 2)) bad.push(`cell ${r},${c}: rgb(${px[0]}, ${px[1]}, ${px[2]}) ≠ ${cssRgb(want)}`);
    }
    return bad;
  };

  /** warmups + reps samples of `op`; an op under minSampleMs (judged on the fastest warm-up) is repeated within each sample. */
  const time = (o: CaseOptions, coldMs: number, op: (i: number) => void): Timing => {
    const ms: number[] = [];
    let perSample = 1;
    let i = 0;
    for (let s = 0; s < o.warmups + o.reps; s++) {
      const t0 = performance.now();
      for (let k = 0; k < perSample; k++) op(i++);
      ms.push((performance.now() - t0) / perSample);
      if (s < o.warmups) perSample = Math.max(perSample, Math.min(200, Math.ceil(o.minSampleMs / Math.max(Math.min(...ms), 0.005))));
    }
    const kept = ms.slice(o.warmups);
    return { coldMs: round3(coldMs), minMs: round3(Math.min(...kept)), medianMs: round3(median(kept)), maxMs: round3(Math.max(...kept)), perSample };
  };

  const runCase = (o: CaseOptions): CaseResult => {
    const n = o.rows * o.cols;
    const data = Array.from({ length: 4 }, (_, i) => randomValues(n, 0x5eed + 97 * i + n));
    // The chart gets the canvas size Heatmap picks; the canvas case reads it off its own first draw.
    let size = o.renderer === 'canvas' ? undefined : heatmapSize(o);
    const create = (values: Float32Array): Drawn => (size && o.renderer !== 'canvas' ? matrixChart(o, size, values) : canvasHeatmap(o, values));
    const mismatches: string[] = [];

    let t0 = performance.now();
    const first = create(data[0]);
    flush(first.canvas);
    const firstColdMs = performance.now() - t0;
    size ??= { width: parseFloat(first.canvas.style.width), height: parseFloat(first.canvas.style.height) };
    const css = `${size.width}×${size.height}`;
    const device = `${first.canvas.width}×${first.canvas.height}`;
    mismatches.push(...checkColors(o, first.canvas, data[0]).map((m) => `first draw: ${m}`));
    first.dispose();

    const firstDraw = time(o, firstColdMs, (i) => {
      const d = create(data[i % data.length]);
      flush(d.canvas);
      d.dispose();
    });

    const drawn = create(data[0]);
    flush(drawn.canvas);
    let last = data[1];
    t0 = performance.now();
    drawn.redraw(last);
    flush(drawn.canvas);
    const redrawColdMs = performance.now() - t0;
    const redraw = time(o, redrawColdMs, (i) => {
      last = data[1 + ((i + 1) % (data.length - 1))];
      drawn.redraw(last);
      flush(drawn.canvas);
    });
    mismatches.push(...checkColors(o, drawn.canvas, last).map((m) => `re-draw: ${m}`));
    drawn.dispose();

    return { renderer: o.renderer, rows: o.rows, cols: o.cols, css, device, firstDraw, redraw, colorsMatch: mismatches.length === 0, ...(mismatches.length ? { colorMismatches: mismatches } : {}) };
  };

  const bench: HeatmapBench = { runCase, userAgent: navigator.userAgent, devicePixelRatio: window.devicePixelRatio };
  (globalThis as { heatmapBench?: HeatmapBench }).heatmapBench = bench;
}

installHeatmapBench();
