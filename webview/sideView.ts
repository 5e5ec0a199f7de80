/**
 * The side view: residual norm heatmap (layers × positions), DLA heatmap (layers × heads) at the
 * selected position, the selected layer's head grid and, once circuits were computed, the
 * K-composition heatmap. Clicks select in the trace panel and reveal the token in the editor.
 */
import type { CircuitsPayload, HostToWebview } from '../src/protocol/webview';
import { compositionCell } from '../src/viewModels/circuits';
import { cssRgb, divergingColor, finiteRange, maxAbs, sequentialColor } from '../src/viewModels/color';
import { formatSigned, headName, lensRowLabel, visibleToken } from '../src/viewModels/format';
import { onHostMessage, post } from './api';
import { clear, h } from './dom';
import { drawThumbnail, Heatmap } from './heatmap';
import { readPalette, watchTheme, type Palette } from './theme';
import { TraceState } from './traceState';

export function startSideView(app: HTMLElement): void {
  const state = new TraceState();
  let circuits: CircuitsPayload | undefined;
  let palette: Palette = readPalette();

  const select = (pos: number, layer?: number, head?: number): void => {
    if (!state.trace || pos >= state.positions) return;
    post({ type: 'select', pos, layer, head, reveal: true });
  };
  const resid = new Heatmap('side-resid-heatmap', 'Residual norm, layers × positions; click a column to select that position', (_row, col) => select(col));
  const dla = new Heatmap('side-dla-heatmap', 'Direct logit attribution at the selected position, layers × heads', (row, col) => select(state.selection.pos, row, col));
  const grid = h('div', { class: 'thumb-grid', 'data-testid': 'side-head-grid', role: 'group', 'aria-label': 'Every head (layers × heads)' });
  const comp = new Heatmap('side-composition-heatmap', 'K-composition scores, earlier head rows × later head columns', (row, col) => {
    const r = circuits?.report;
    const cell = r && compositionCell(r.nLayer, r.nHead, row, col);
    if (cell) post({ type: 'headPair', ...cell, kind: 'k' });
  });
  const feats = new Heatmap('side-features-heatmap', 'SAE features (rows, strongest first) at each position; click a column to select that position', (_row, col) => select(col));
  const featsBox = h('div', { hidden: true }, h('h2', { text: 'SAE features' }), feats.canvas);
  const status = h('p', { class: 'muted', text: 'Trace some text to see its heatmaps.' });
  const compBox = h('div', { hidden: true }, h('h2', { text: 'K-composition' }), comp.canvas);
  app.append(
    status,
    h('h2', { text: 'Residual norm' }),
    resid.canvas,
    h('h2', { text: 'Direct logit attribution (heads)' }),
    dla.canvas,
    h('h2', { text: 'Attention heads' }),
    grid,
    featsBox,
    compBox,
  );

  function tokenLabel(tok: { text: string; special: boolean }, i: number): string {
    return i === 0 && tok.special ? 'BOS' : visibleToken(tok.text);
  }

  function width(): number {
    return Math.max(120, app.clientWidth - 8);
  }

  function draw(): void {
    const t = state.trace;
    const text = cssRgb(palette.foreground);
    if (t) {
      const T = t.tokens.length;
      const { min, max } = finiteRange(t.residNorms);
      status.textContent = `${state.stale ? 'Not the latest trace (the newer one was not traced) — ' : ''}${t.model} · ${T} tokens · pos ${state.selection.pos} ${JSON.stringify(visibleToken(t.tokens[state.selection.pos]?.text ?? ''))}`;
      status.classList.toggle('stale-note', state.stale !== undefined);
      app.classList.toggle('stale', state.stale !== undefined);
      resid.draw({
        rows: t.nLayer + 1,
        cols: T,
        values: t.residNorms,
        color: (v) => sequentialColor(v, min, max, palette.background, palette.high),
        rowLabels: Array.from({ length: t.nLayer + 1 }, (_, r) => lensRowLabel(r, t.nLayer)),
        // Token labels when they fit (14 px a column); otherwise on hover.
        colLabels: width() / T >= 14 ? t.tokens.map(tokenLabel) : undefined,
        rowTitle: 'residual',
        colTitle: width() / T >= 14 ? 'position' : `positions 0–${T - 1} (hover for tokens)`,
        scale: { min, max, unit: '‖resid‖ (L2 norm)' },
        cell: 14,
        maxWidth: width(),
        minCellHeight: 18,
        mark: { col: state.selection.pos },
        font: palette.font,
        textColor: text,
        markColor: palette.focus,
        describe: (r, p, v) => `${lensRowLabel(r, t.nLayer)} · pos ${p} ${JSON.stringify(tokenLabel(t.tokens[p]!, p))}: ‖resid‖ ${v.toFixed(2)}`,
      });
      const a = state.attribution;
      if (a && a.pos === state.selection.pos) {
        const scale = maxAbs(a.headGrid);
        dla.draw({
          rows: t.nLayer,
          cols: t.nHead,
          values: a.headGrid,
          color: (v) => divergingColor(v, scale, palette.negative, palette.background, palette.positive),
          rowLabels: Array.from({ length: t.nLayer }, (_, l) => `L${l}`),
          colLabels: Array.from({ length: t.nHead }, (_, hd) => `H${hd}`),
          rowTitle: 'layer',
          colTitle: 'head',
          scale: { min: -scale, max: scale, unit: `DLA to ${visibleToken(a.tokenText)} (logit)` },
          cell: 28,
          maxWidth: width(),
          mark: undefined,
          font: palette.font,
          textColor: text,
          markColor: palette.focus,
          describe: (l, hd, v) => `${headName(l, hd)}: direct logit attribution to ${JSON.stringify(visibleToken(a.tokenText))} ${formatSigned(v, 2)}`,
        });
      }
      clear(grid);
      const { layer, head } = state.selection;
      const th = state.thumbs;
      // Named rows and columns (L0…, H0…), as the trace panel's thumbnails.
      grid.style.gridTemplateColumns = `max-content repeat(${t.nHead}, max-content)`;
      const px = Math.max(12, Math.min(40, Math.floor((width() - 28) / t.nHead) - 6));
      grid.append(h('span', { class: 'row-label', 'aria-hidden': 'true' }));
      for (let hd = 0; hd < t.nHead; hd++) grid.append(h('span', { class: 'row-label', 'aria-hidden': 'true', text: `H${hd}` }));
      for (let l = 0; l < t.nLayer; l++) {
        grid.append(h('span', { class: 'row-label', 'aria-hidden': 'true', text: `L${l}` }));
        for (let hd = 0; hd < t.nHead; hd++) {
          const canvas = h('canvas', { 'aria-hidden': 'true' });
          const S = th?.size ?? 0;
          if (th) drawThumbnail(canvas, th.values.subarray((l * t.nHead + hd) * S * S, (l * t.nHead + hd + 1) * S * S), S, S, px, (v) => sequentialColor(v, 0, 1, palette.background, palette.high));
          const b = h('button', { class: 'thumb', 'data-layer': l, 'data-head': hd, 'aria-pressed': l === layer && hd === head ? 'true' : 'false', title: headName(l, hd), 'aria-label': headName(l, hd) }, canvas);
          b.addEventListener('click', () => select(state.selection.pos, l, hd));
          grid.append(b);
        }
      }
    }
    const f = state.features;
    featsBox.hidden = !f || f.ids.length === 0 || !t;
    if (f && f.ids.length > 0 && t) {
      let fmax = 0;
      for (const v of f.values) if (v > fmax) fmax = v;
      feats.draw({
        rows: f.ids.length,
        cols: f.positions,
        values: f.values,
        color: (v) => sequentialColor(v, 0, fmax, palette.background, palette.high),
        rowLabels: f.ids.map((id) => `#${id}`),
        cell: 10,
        maxWidth: width(),
        mark: { col: Math.min(state.selection.pos, f.positions - 1) },
        font: palette.font,
        textColor: text,
        markColor: palette.focus,
        describe: (row, col, v) => `#${f.ids[row]}${f.labels[row] ? ` (${f.labels[row]})` : ''} at ${col}: ${v.toFixed(2)}`,
      });
    }
    if (circuits) {
      const r = circuits.report;
      const n = r.nLayer * r.nHead;
      const { max } = finiteRange(r.composition.k);
      compBox.hidden = false;
      const names = Array.from({ length: n }, (_, i) => headName(Math.floor(i / r.nHead), i % r.nHead));
      const fits = width() / n >= 12;
      comp.draw({
        rows: n,
        cols: n,
        values: r.composition.k,
        color: (v) => sequentialColor(v, 0, max, palette.background, palette.high),
        rowLabels: fits ? names : undefined,
        colLabels: fits ? names : undefined,
        rowTitle: 'writing head (earlier)',
        colTitle: 'reading head (later), through its keys',
        scale: { min: 0, max, unit: 'K-composition score' },
        cell: 14,
        maxWidth: width(),
        font: palette.font,
        textColor: text,
        markColor: palette.focus,
        describe: (row, col, v) => `${headName(Math.floor(row / r.nHead), row % r.nHead)} → ${headName(Math.floor(col / r.nHead), col % r.nHead)} K ${v.toFixed(3)}`,
      });
    }
  }

  onHostMessage((msg: HostToWebview) => {
    if (msg.type === 'circuits') {
      circuits = msg.circuits;
      draw();
      return;
    }
    const changed = state.apply(msg);
    // Predictions arriving after the trace change nothing the side view draws.
    if (changed && changed !== 'predictions') draw();
  });
  watchTheme(() => {
    palette = readPalette();
    draw();
  });
  let lastWidth = 0;
  new ResizeObserver(() => {
    if (app.clientWidth === lastWidth) return; // redraw on width changes only (drawing changes the height)
    lastWidth = app.clientWidth;
    draw();
  }).observe(app);
  post({ type: 'ready', view: 'side' });
}
