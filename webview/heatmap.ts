/**
 * Canvas heatmaps, chosen over chartjs-chart-matrix: chart.js builds one element with resolved
 * options per cell (16k for 128 × 128), here the cells are one ImageData scaled up in a single
 * drawImage (bench/heatmap.ts, headless Chromium: at 128 × 128 about 75× faster to draw and 110× to
 * re-draw). Cells are clickable and keyboard reachable: the canvas takes focus, arrow keys
 * move a cursor cell, Enter / Space picks it.
 */
import type { Rgb } from '../src/viewModels/color';

export interface HeatmapSpec {
  readonly rows: number;
  readonly cols: number;
  /** [rows, cols] row-major. */
  readonly values: ArrayLike<number>;
  readonly color: (value: number) => Rgb;
  readonly rowLabels?: readonly string[];
  readonly colLabels?: readonly string[];
  /** Preferred cell size in CSS pixels (shrunk to fit `maxWidth`, never below 1). */
  readonly cell?: number;
  readonly maxWidth?: number;
  /** Cells are square unless this is taller (narrow views with many columns). */
  readonly minCellHeight?: number;
  /** Row / column to outline (the current selection). */
  readonly mark?: { readonly row?: number; readonly col?: number };
  readonly font: string;
  readonly textColor: string;
  readonly markColor: string;
  /** Tooltip / aria text of one cell. */
  readonly describe: (row: number, col: number, value: number) => string;
  /** Axis titles: under the grid (columns) and left of it, rotated (rows). */
  readonly colTitle?: string;
  readonly rowTitle?: string;
  /** Colour bar under the grid: the colour of each value from min to max, with the end values and the unit. */
  readonly scale?: ColorScale;
}

export interface ColorScale {
  readonly min: number;
  readonly max: number;
  /** What the colours measure, with its unit: "‖resid‖ (L2 norm)", "attention weight". */
  readonly unit: string;
  /** How the end values are printed; default 2 decimals with a real minus sign. */
  readonly format?: (value: number) => string;
}

/** Height of the colour bar, its labels and the gaps around it. */
const BAR_PX = 8;
const TITLE_GAP = 4;

const LABEL_FONT_PX = 11;

export class Heatmap {
  readonly canvas: HTMLCanvasElement;
  private spec: HeatmapSpec | undefined;
  private layout = { left: 0, top: 0, cw: 1, ch: 1 };
  private cursor = { row: 0, col: 0 };

  constructor(testId: string, label: string, private readonly onPick: (row: number, col: number) => void) {
    this.canvas = document.createElement('canvas');
    this.canvas.dataset.testid = testId;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', label);
    this.canvas.tabIndex = 0;
    this.canvas.addEventListener('click', (e) => {
      const hit = this.hit(e.offsetX, e.offsetY);
      if (hit) {
        this.cursor = hit;
        this.onPick(hit.row, hit.col);
      }
    });
    this.canvas.addEventListener('mousemove', (e) => {
      const hit = this.hit(e.offsetX, e.offsetY);
      this.canvas.title = hit && this.spec ? this.spec.describe(hit.row, hit.col, this.spec.values[hit.row * this.spec.cols + hit.col]) : '';
    });
    this.canvas.addEventListener('keydown', (e) => this.key(e));
  }

  /** Cell under CSS-pixel offset (x, y), or undefined outside the grid. */
  hit(x: number, y: number): { row: number; col: number } | undefined {
    const s = this.spec;
    if (!s) return undefined;
    const col = Math.floor((x - this.layout.left) / this.layout.cw);
    const row = Math.floor((y - this.layout.top) / this.layout.ch);
    return row >= 0 && row < s.rows && col >= 0 && col < s.cols ? { row, col } : undefined;
  }

  private key(e: KeyboardEvent): void {
    const s = this.spec;
    if (!s) return;
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const m = moves[e.key];
    if (m) {
      this.cursor = { row: Math.max(0, Math.min(s.rows - 1, this.cursor.row + m[0])), col: Math.max(0, Math.min(s.cols - 1, this.cursor.col + m[1])) };
      this.canvas.setAttribute('aria-label', s.describe(this.cursor.row, this.cursor.col, s.values[this.cursor.row * s.cols + this.cursor.col]));
      this.draw(s);
      e.preventDefault();
    } else if (e.key === 'Enter' || e.key === ' ') {
      this.onPick(this.cursor.row, this.cursor.col);
      e.preventDefault();
    }
  }

  draw(spec: HeatmapSpec): void {
    this.spec = spec;
    const { rows, cols } = spec;
    if (this.cursor.row >= rows || this.cursor.col >= cols) this.cursor = { row: 0, col: 0 };
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.font = `${LABEL_FONT_PX}px ${spec.font}`;
    const labelWidth = (labels: readonly string[] | undefined): number => (labels ? Math.min(90, Math.max(0, ...labels.map((l) => ctx.measureText(l).width)) + 6) : 0);
    const titleBand = LABEL_FONT_PX + TITLE_GAP;
    const rowTitleWidth = spec.rowTitle ? titleBand : 0;
    const left = rowTitleWidth + labelWidth(spec.rowLabels);
    const top = spec.colLabels ? Math.min(90, labelWidth(spec.colLabels)) : 0;
    const want = spec.cell ?? 14;
    const room = spec.maxWidth ? Math.max(1, (spec.maxWidth - left) / Math.max(1, cols)) : want;
    const cw = Math.max(1, Math.min(want, room));
    const ch = Math.max(cw, spec.minCellHeight ?? 0);
    this.layout = { left, top, cw, ch };
    // Where the cells are inside the canvas (labels, titles and the colour bar around them), for tests and tools.
    this.canvas.dataset.grid = [left, top, cw * cols, ch * rows].map((v) => v.toFixed(1)).join(',');
    const gridBottom = top + ch * rows;
    const colTitleTop = gridBottom + TITLE_GAP;
    const barTop = colTitleTop + (spec.colTitle ? titleBand : 0) + (spec.scale ? TITLE_GAP : 0);
    const width = Math.ceil(Math.max(left + cw * cols, spec.scale ? Math.min(spec.maxWidth ?? 240, 240) : 0));
    const height = Math.ceil(spec.scale ? barTop + BAR_PX + titleBand + 2 : spec.colTitle ? colTitleTop + titleBand : gridBottom);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(width * dpr));
    this.canvas.height = Math.max(1, Math.round(height * dpr));
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    // Cells: one pixel each in an ImageData, scaled up without smoothing (a 1024 × 1024 pattern
    // is a million cells; one fillRect per cell would take seconds).
    const cells = cellImage(spec.values, rows, cols, spec.color);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, left, top, cw * cols, ch * rows);
    ctx.fillStyle = spec.textColor;
    ctx.font = `${LABEL_FONT_PX}px ${spec.font}`;
    ctx.textBaseline = 'middle';
    if (spec.rowLabels && ch >= LABEL_FONT_PX - 2) {
      ctx.textAlign = 'right';
      spec.rowLabels.forEach((l, r) => ctx.fillText(l, left - 3, top + (r + 0.5) * ch, left - 4));
    }
    if (spec.colLabels && cw >= LABEL_FONT_PX - 2) {
      ctx.save();
      ctx.textAlign = 'left';
      spec.colLabels.forEach((l, c) => {
        ctx.save();
        ctx.translate(left + (c + 0.5) * cw, top - 3);
        ctx.rotate(-Math.PI / 2);
        ctx.fillText(l, 0, 0, top - 4);
        ctx.restore();
      });
      ctx.restore();
    }
    if (spec.rowTitle) {
      ctx.save();
      ctx.textAlign = 'center';
      ctx.translate(LABEL_FONT_PX / 2 + 1, top + (ch * rows) / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(spec.rowTitle, 0, 0, Math.max(ch * rows, 40));
      ctx.restore();
    }
    if (spec.colTitle) {
      ctx.textAlign = 'center';
      ctx.fillText(spec.colTitle, Math.max(left + (cw * cols) / 2, ctx.measureText(spec.colTitle).width / 2), colTitleTop + LABEL_FONT_PX / 2, width);
    }
    if (spec.scale) drawColorBar(ctx, spec.scale, spec.color, barTop, width, LABEL_FONT_PX);
    ctx.strokeStyle = spec.markColor;
    ctx.lineWidth = 1.5;
    if (spec.mark?.row !== undefined) ctx.strokeRect(left + 0.75, top + spec.mark.row * ch + 0.75, cw * cols - 1.5, ch - 1.5);
    if (spec.mark?.col !== undefined) ctx.strokeRect(left + spec.mark.col * cw + 0.75, top + 0.75, cw - 1.5, ch * rows - 1.5);
    if (document.activeElement === this.canvas) {
      ctx.setLineDash([2, 2]);
      ctx.strokeRect(left + this.cursor.col * cw + 0.5, top + this.cursor.row * ch + 0.5, cw - 1, ch - 1);
      ctx.setLineDash([]);
    }
  }
}

const MINUS = '\u2212';

function defaultFormat(v: number): string {
  const text = Math.abs(v).toFixed(2);
  return v < 0 && Number(text) !== 0 ? `${MINUS}${text}` : text;
}

/** A horizontal bar from scale.min to scale.max in the heatmap's own colours, labelled "min  unit  max". */
function drawColorBar(ctx: CanvasRenderingContext2D, scale: ColorScale, color: (v: number) => Rgb, top: number, width: number, fontPx: number): void {
  const steps = Math.max(2, Math.floor(width));
  const img = ctx.createImageData(steps, 1);
  for (let i = 0; i < steps; i++) {
    const rgb = color(scale.min + ((scale.max - scale.min) * i) / (steps - 1));
    img.data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  }
  const strip = document.createElement('canvas');
  strip.width = steps;
  strip.height = 1;
  strip.getContext('2d')?.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(strip, 0, top, width, BAR_PX);
  ctx.strokeStyle = ctx.fillStyle;
  ctx.lineWidth = 1;
  ctx.strokeRect(0.5, top + 0.5, width - 1, BAR_PX - 1);
  const fmt = scale.format ?? defaultFormat;
  const y = top + BAR_PX + 2 + fontPx / 2;
  ctx.textAlign = 'left';
  ctx.fillText(fmt(scale.min), 0, y);
  ctx.textAlign = 'right';
  ctx.fillText(fmt(scale.max), width, y);
  ctx.textAlign = 'center';
  const room = width - ctx.measureText(fmt(scale.min)).width - ctx.measureText(fmt(scale.max)).width - 12;
  if (room > 20) ctx.fillText(scale.unit, width / 2, y, room);
}

/** rows × cols canvas with one pixel per cell. */
function cellImage(values: ArrayLike<number>, rows: number, cols: number, color: (v: number) => Rgb): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, cols);
  canvas.height = Math.max(1, rows);
  const ctx = canvas.getContext('2d');
  if (!ctx) return canvas;
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < rows * cols; i++) {
    const rgb = color(values[i]);
    img.data[i * 4] = rgb[0];
    img.data[i * 4 + 1] = rgb[1];
    img.data[i * 4 + 2] = rgb[2];
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** A small unlabeled heatmap for a thumbnail (drawn once, no interaction of its own). */
export function drawThumbnail(canvas: HTMLCanvasElement, values: ArrayLike<number>, rows: number, cols: number, size: number, color: (v: number) => Rgb): void {
  const dpr = window.devicePixelRatio || 1;
  const px = Math.max(1, Math.round(size * dpr));
  canvas.width = px;
  canvas.height = px;
  canvas.style.width = `${size}px`;
  canvas.style.height = `${size}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(px, px);
  for (let y = 0; y < px; y++) {
    const r = Math.min(rows - 1, Math.floor((y * rows) / px));
    for (let x = 0; x < px; x++) {
      const c = Math.min(cols - 1, Math.floor((x * cols) / px));
      const rgb = color(values[r * cols + c]);
      const o = (y * px + x) * 4;
      img.data[o] = rgb[0];
      img.data[o + 1] = rgb[1];
      img.data[o + 2] = rgb[2];
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}
