/** Light, dark and high-contrast themes: measured contrast of text, heatmaps and lens cells. */
import type { Frame } from 'playwright-core';
import { contrast, parseCssColor, type Rgb } from '../../../src/viewModels/color';
import type { DomCanvas, DomWindow } from '../browserTypes';
import { waitFor } from '../workbench';
import { paintedPixels, sleep, traceSentence, type Scenario } from '../scenarioKit';

export const themesScenarios: readonly Scenario[] = [
  {
    id: 10,
    name: 'themes: light, dark and high-contrast heatmaps and lens cells read',
    async run(ctx) {
      const { frame } = await traceSentence(ctx, 'The Eiffel Tower', 'palette, before switching themes');
      await waitFor('the attention heatmap to be drawn', async () => ((await paintedPixels(frame, 'canvas[data-testid="attention-heatmap"]').catch(() => 0)) > 0 ? true : undefined), 15_000).catch(() => ctx.problem('attention heatmap: blank before the theme switches'));
      try {
        for (const theme of THEMES) {
          ctx.setWorkspaceSettings({ 'workbench.colorTheme': theme.name });
          const kind = await waitFor(`the trace panel to take the theme "${theme.name}"`, async () => {
            const k = await frame.evaluate(() => (globalThis as unknown as DomWindow).document.body.dataset.vscodeThemeKind ?? '');
            return k === theme.kind ? k : undefined;
          }, 20_000).catch(() => undefined);
          if (kind === undefined) {
            ctx.problem(`${theme.name}: the trace panel's body never got data-vscode-theme-kind="${theme.kind}"`);
            continue;
          }
          await sleep(600); // the panel redraws on the body's class change
          const look = await themeLook(frame);
          await ctx.wb.screenshot(`10-theme-${theme.kind}`);
          const bg = parseCssColor(look.background);
          const fg = parseCssColor(look.foreground);
          const high = parseCssColor(look.high);
          const negative = parseCssColor(look.negative);
          if (!bg || !fg || !high || !negative) {
            ctx.problem(`${theme.name}: theme colours not readable in the webview: ${JSON.stringify(look)}`);
            continue;
          }
          const figures: string[] = [];
          const need = (what: string, value: number, min: number): void => {
            figures.push(`${what} ${value.toFixed(1)}`);
            if (value < min) ctx.problem(`${theme.name}: ${what} contrast ${value.toFixed(2)}:1 (< ${min}:1)`);
          };
          need('text/background', contrast(fg, bg), 4.5);
          need('heatmap max/background', contrast(high, bg), 3);
          need('heatmap negative/background', contrast(negative, bg), 3);
          // What was drawn, not only what the variables say: the attention heatmap's strongest cell.
          const strongest = look.heatmapStrongest ? parseCssColor(look.heatmapStrongest) : undefined;
          if (!strongest) ctx.problem(`${theme.name}: attention heatmap has no painted cell`);
          else need('drawn attention max/background', contrast(strongest, bg), 3);
          // Every lens cell's text on its own cell colour.
          if (look.lensCells.length === 0) ctx.problem(`${theme.name}: no lens table cells`);
          const worst = Math.min(...look.lensCells.map(([c, b]) => contrastOf(c, b)));
          need('lens cell text (worst cell)', worst, 4.5);
          ctx.figures.set(`theme ${theme.kind}`, figures.join(', '));
        }
      } finally {
        ctx.resetWorkspaceSettings();
      }
    },
  },
];

/** The themes every palette must read in, with the kind VS Code writes on a webview's body. */
const THEMES = [
  { name: 'Default Light Modern', kind: 'vscode-light' },
  { name: 'Default High Contrast', kind: 'vscode-high-contrast' },
  { name: 'Default High Contrast Light', kind: 'vscode-high-contrast-light' },
  { name: 'Default Dark Modern', kind: 'vscode-dark' },
] as const;

function contrastOf(a: string, b: string): number {
  const x: Rgb | undefined = parseCssColor(a);
  const y: Rgb | undefined = parseCssColor(b);
  return x && y ? contrast(x, y) : 0;
}

/** The trace panel's theme colours, the attention heatmap's strongest drawn cell, and every lens cell's text/background. */
async function themeLook(frame: Frame): Promise<{ background: string; foreground: string; high: string; negative: string; heatmapStrongest: string | undefined; lensCells: [string, string][] }> {
  return frame.evaluate(() => {
    const win = globalThis as unknown as DomWindow;
    const doc = win.document;
    const style = win.getComputedStyle(doc.body);
    // (No named functions in here: the page has no __name helper that tsx's transform would call.)
    const background = style.getPropertyValue('--vscode-editor-background').trim();
    // The canvas normalises any CSS colour to #rrggbb.
    const probe = doc.createElement('canvas').getContext('2d');
    const rgbOf = [background, style.getPropertyValue('--vscode-charts-blue').trim()].map((c) => {
      if (!probe) return [];
      probe.fillStyle = '#000000';
      probe.fillStyle = c;
      return (probe.fillStyle.match(/[0-9a-f]{2}/gi) ?? []).slice(0, 3).map((x) => parseInt(x, 16));
    });
    const bg = rgbOf[0] ?? [];
    const hi = rgbOf[1] ?? [];
    // The heatmap's cells lie on the line background → charts-blue (labels do not): the strongest
    // drawn cell is the pixel on that line farthest along it.
    let heatmapStrongest: string | undefined;
    const canvas = doc.body.querySelector('canvas[data-testid="attention-heatmap"]') as DomCanvas | null;
    const g = canvas && canvas.width > 0 ? canvas.getContext('2d') : null;
    if (canvas && g && bg.length === 3 && hi.length === 3) {
      // Only the cells (data-grid, CSS px): the colour bar under them runs to the scale's end colour.
      const grid = (canvas.getAttribute('data-grid') ?? '').split(',').map(Number);
      const px = canvas.width / Math.max(1, canvas.getBoundingClientRect().width);
      const [gx, gy, gw, gh] = grid.length === 4 && grid.every(Number.isFinite) ? grid.map((v: number) => Math.round(v * px)) : [0, 0, canvas.width, canvas.height];
      const data = g.getImageData(gx!, gy!, Math.max(1, gw!), Math.max(1, gh!)).data;
      const dir = [0, 1, 2].map((k) => (hi[k] ?? 0) - (bg[k] ?? 0));
      const len2 = dir.reduce((sum, d) => sum + d * d, 0);
      let best = -1;
      for (let i = 0; i < data.length && len2 > 0; i += 4) {
        if ((data[i + 3] ?? 0) < 255) continue;
        const off = [0, 1, 2].map((k) => (data[i + k] ?? 0) - (bg[k] ?? 0));
        const t = (off[0]! * dir[0]! + off[1]! * dir[1]! + off[2]! * dir[2]!) / len2;
        const off3 = [0, 1, 2].map((k) => Math.abs(off[k]! - t * dir[k]!));
        if (Math.max(...off3) > 4 || t <= best) continue;
        best = t;
        heatmapStrongest = `rgb(${data[i]}, ${data[i + 1]}, ${data[i + 2]})`;
      }
    }
    const cells = doc.body.querySelectorAll('table[data-testid="lens-table"] tbody td');
    const lensCells: [string, string][] = [];
    for (let i = 0; i < cells.length; i++) {
      const cs = win.getComputedStyle(cells[i]);
      lensCells.push([cs.color, cs.backgroundColor]);
    }
    return {
      background,
      foreground: style.getPropertyValue('--vscode-editor-foreground').trim(),
      high: style.getPropertyValue('--vscode-charts-blue').trim(),
      negative: style.getPropertyValue('--vscode-charts-red').trim(),
      heatmapStrongest,
      lensCells,
    };
  });
}
