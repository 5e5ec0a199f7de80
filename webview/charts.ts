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
      this.chart.data = data;
      this.chart.options = baseOptions(p);
      this.chart.update('none');
      return;
    }
    this.chart = new Chart(this.canvas, { type: 'bar', data, options: baseOptions(p) });
  }

  dataUrl(): string {
    return this.chart?.toBase64Image('image/png') ?? this.canvas.toDataURL('image/png');
  }
}

export class CurveChart {
  private chart: Chart | undefined;

  constructor(readonly canvas: HTMLCanvasElement) {}

  draw(curves: readonly { label: string; values: ArrayLike<number> }[], p: Palette): void {
    const n = Math.max(0, ...curves.map((c) => c.values.length));
    const colors = [p.high, p.orange, p.purple];
    const options = baseOptions(p);
    const data = {
      labels: Array.from({ length: n }, (_, i) => String(i + 1)),
      datasets: curves.map((c, i) => ({ type: 'line' as const, label: c.label, data: Array.from(c.values), borderColor: cssRgb(colors[i % colors.length]), pointRadius: 0 })),
    };
    this.chart?.destroy();
    this.chart = new Chart(this.canvas, { type: 'line', data, options: { ...options, scales: { ...options.scales, y: { ...options.scales.y, max: 1 } } } });
  }

  dataUrl(): string {
    return this.chart?.toBase64Image('image/png') ?? this.canvas.toDataURL('image/png');
  }
}
