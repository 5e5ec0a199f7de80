/**
 * What bench/heatmap.ts (Node) and bench/heatmapPage.ts (the page) exchange through
 * playwright's evaluate: plain JSON shapes, no DOM, so both TypeScript projects can read them.
 */
export type Renderer = 'canvas' | 'chartjs-chart-matrix';

export interface CaseOptions {
  readonly renderer: Renderer;
  readonly rows: number;
  readonly cols: number;
  readonly warmups: number;
  readonly reps: number;
  /** Heatmap's preferred cell and available width, CSS pixels (the chart gets the canvas size Heatmap picks). */
  readonly cell: number;
  readonly maxWidth: number;
  /** A sample shorter than this repeats the operation (timer resolution is 0.1 ms in a page that is not cross-origin isolated). */
  readonly minSampleMs: number;
}

export interface Timing {
  /** The first draw (or re-draw) of the case, before the warm-ups (not part of min / median / max). */
  readonly coldMs: number;
  readonly minMs: number;
  readonly medianMs: number;
  readonly maxMs: number;
  /** Operations per sample (each sample's time is divided by it). */
  readonly perSample: number;
}

export interface CaseResult {
  readonly renderer: Renderer;
  readonly rows: number;
  readonly cols: number;
  /** Canvas size in CSS pixels and in device pixels. */
  readonly css: string;
  readonly device: string;
  readonly firstDraw: Timing;
  readonly redraw: Timing;
  /** The centres of three cells, read back after a first draw and after the last re-draw, have the colour function's colour (±2 per channel). */
  readonly colorsMatch: boolean;
  readonly colorMismatches?: readonly string[];
}

export interface HeatmapBench {
  runCase(options: CaseOptions): CaseResult;
  readonly userAgent: string;
  readonly devicePixelRatio: number;
}

