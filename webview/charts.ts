/** chart.js charts: the residual-stream chart of the trace panel and the subspace curves. */
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import { cssRgb } from '../src/viewModels/color';
import type { ResidualChartView } from '../src/viewModels/residual';
import type { Palette } from './theme';

Chart.register(LineController, BarController, LineElement, BarElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend);

function baseOptions(p: Palette) {
  const text = cssRgb(p.foreground);
  return {
    animation: false as const,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { labels: { color: text, font: { family: p.font } } }, tooltip: { enabled: true } },
    scales: {
      x: { ticks: { color: text, font: { family: p.font } }, grid: { color: p.grid } },
      y: { ticks: { color: text, font: { family: p.font } }, grid: { color: p.grid }, beginAtZero: true },
    },
  };
}

export class ResidualChart {
  private chart: Chart | undefined;
  private palette: Palette | undefined;

  constructor(readonly canvas: HTMLCanvasElement) {}

  draw(view: ResidualChartView, p: Palette): void {
    const data = {
      labels: [...view.labels],
      datasets: [
        { type: 'line' as const, label: '‖resid‖ (before the layer)', data: [...view.resid], borderColor: cssRgb(p.foreground), backgroundColor: cssRgb(p.foreground), pointRadius: 3, order: 0 },
        { type: 'bar' as const, label: '‖attention write‖', data: [...view.attn], backgroundColor: cssRgb(p.high), order: 1 },
        { type: 'bar' as const, label: '‖MLP write‖', data: [...view.mlp], backgroundColor: cssRgb(p.orange), order: 1 },
      ],
    };
    if (this.chart) {
      // New options make chart.js resolve every scale and plugin option again (about half of an
      // update, bench/panel.ts pageRender.chart): only when the theme changed.
      // Likewise new dataset objects: the same datasets get new values in place.
      if (p !== this.palette) {
        this.chart.options = baseOptions(p);
        this.chart.data = data;
      } else {
        this.chart.data.labels = data.labels;
        data.datasets.forEach((d, i) => {
          const kept = this.chart?.data.datasets[i];
          if (kept) kept.data = d.data;
        });
      }
      this.palette = p;
      this.chart.update('none');
      return;
    }
    this.palette = p;
    this.chart = new Chart(this.canvas, { type: 'bar', data, options: baseOptions(p) });
  }

  dataUrl(): string {
    return this.chart?.toBase64Image('image/png') ?? this.canvas.toDataURL('image/png');
  }
}

export class CurveChart {
  private chart: Chart | undefined;

  constructor(readonly canvas: HTMLCanvasElement) {}

  /**
   * Curves over 1…n with axis titles. Later curves are dashed and drawn wider underneath, so a
   * curve that lies on top of another (W_pos on W_E) still shows around it.
   */
  draw(curves: readonly { label: string; values: ArrayLike<number> }[], p: Palette, axes: { readonly x: string; readonly y: string }): void {
    const n = Math.max(0, ...curves.map((c) => c.values.length));
    const colors = [p.high, p.orange, p.purple];
    const options = baseOptions(p);
    const title = (text: string) => ({ display: true, text, color: cssRgb(p.foreground), font: { family: p.font } });
    const data = {
      labels: Array.from({ length: n }, (_, i) => String(i + 1)),
      datasets: curves.map((c, i) => ({
        type: 'line' as const,
        label: c.label,
        data: Array.from(c.values),
        borderColor: cssRgb(colors[i % colors.length]),
        backgroundColor: cssRgb(colors[i % colors.length]),
        borderWidth: 2 + 2 * i,
        borderDash: i === 0 ? [] : [8, 5],
        order: -i,
        pointRadius: 0,
      })),
    };
    this.chart?.destroy();
    this.chart = new Chart(this.canvas, {
      type: 'line',
      data,
      options: { ...options, scales: { x: { ...options.scales.x, title: title(axes.x) }, y: { ...options.scales.y, max: 1, title: title(axes.y) } } },
    });
  }

  dataUrl(): string {
    return this.chart?.toBase64Image('image/png') ?? this.canvas.toDataURL('image/png');
  }
}
