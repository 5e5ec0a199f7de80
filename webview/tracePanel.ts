/**
 * The trace panel: token chips, residual-stream chart, logit lens table, direct logit
 * attribution (sorted list + layer × head grid) and attention (one head with token labels,
 * thumbnails of the layer's heads). The host owns the selection; clicks post 'select' and the
 * echo repaints every view the same way.
 */
import { MAX_TOKEN_TEXT_CHARS, type HeadSourcesPayload, type HostToWebview, type RenderPart } from '../src/protocol/webview';
import type { InterventionsPayload } from '../src/protocol/patchingView';
import { dlaItems } from '../src/viewModels/attribution';
import { cssRgb, divergingColor, maxAbs, sequentialColor } from '../src/viewModels/color';
import { formatProb, formatSigned, headName, visibleToken, vocabLookup } from '../src/viewModels/format';
import { lensTableView } from '../src/viewModels/lens';
import { headPattern, residualChartView } from '../src/viewModels/residual';
import { tokenChips } from '../src/viewModels/tokens';
import { getState, onHostMessage, post, setState } from './api';
import { ResidualChart } from './charts';
import { button, clear, h, section, select } from './dom';
import { drawThumbnail, Heatmap } from './heatmap';
import { createInterventionsView } from './interventionsView';
import { readPalette, watchTheme, type Palette } from './theme';
import { sourcesKey, TraceState } from './traceState';

/** How long the attention hover waits for one sources answer before it asks for the next. */
const SOURCES_WAIT_MS = 5000;

const THUMB_PX = 72;
/** An undrawn thumbnail at its drawn size (CSSOM, not a style attribute: the CSP has no 'unsafe-inline'). */
function placeholderCanvas(px: number): HTMLCanvasElement {
  const c = h('canvas', { 'aria-hidden': 'true', width: px, height: px });
  c.style.width = `${px}px`;
  c.style.height = `${px}px`;
  return c;
}
/** Thumbnail size in CSS px: smaller when there are many heads. */
const thumbPx = (nLayer: number, nHead: number): number => (nLayer * nHead > 48 ? 40 : THUMB_PX);

export function startTracePanel(app: HTMLElement): void {
  const state = new TraceState();
  let palette: Palette = readPalette();

  const status = h('div', { class: 'status', 'data-testid': 'trace-status', role: 'status' });
  const tools = h('div', { class: 'tools' });
  tools.append(
    button('Copy lens CSV', () => post({ type: 'exportLens', format: 'csv' }), { 'data-testid': 'export-csv' }),
    button('Copy lens Markdown', () => post({ type: 'exportLens', format: 'markdown' }), { 'data-testid': 'export-markdown' }),
    button('Trace again', () => post({ type: 'retrace' }), { 'data-testid': 'retrace' }),
    button('Save trace as JSON', () => post({ type: 'exportTrace' }), { 'data-testid': 'export-json', title: 'The same JSON as residual-lens trace --json (schema 1)' }),
  );
  const tokens = section('tokens', 'Tokens');
  const chips = h('div', { class: 'chips', role: 'listbox', 'aria-label': 'Tokens; arrow keys move the selected position', 'aria-orientation': 'horizontal' });
  tokens.body.append(chips);

  const residual = section('residual', 'Residual stream');
  const residCanvas = h('canvas', { 'data-testid': 'resid-chart', role: 'img', 'aria-label': 'Residual norm per layer and the norm of each attention and MLP write at the selected position' });
  residual.body.append(h('div', { class: 'chart-box' }, residCanvas));
  const residChart = new ResidualChart(residCanvas);
  residual.tools.append(button('Save PNG', () => post({ type: 'savePng', name: 'residual-stream', dataUrl: residChart.dataUrl() })));

  const lensSection = section('lens', 'Logit lens');
  const lensBox = h('div', { class: 'table-scroll' });
  lensSection.body.append(lensBox);

  const dla = section('dla', 'Direct logit attribution');
  const dlaHeader = h('div', { class: 'dla-header' });
  const targetBox = h('span', { class: 'target' });
  const dlaList = h('ol', { 'data-testid': 'dla-list', class: 'dla-list', 'aria-label': 'Components sorted by the size of their contribution' });
  const dlaGrid = new Heatmap('dla-grid', 'Direct logit attribution of every head (layers × heads)', (row, col) => pick(state.selection.pos, row, col, false));
  // A double click on a head cell opens that head in the circuits panel.
  dlaGrid.canvas.addEventListener('dblclick', (e) => {
    const hit = dlaGrid.hit(e.offsetX, e.offsetY);
    if (hit) post({ type: 'openHead', layer: hit.row, head: hit.col });
  });
  // Keyboard path: arrows + Enter pick a head cell, then this button opens it (double-click does both).
  dla.tools.append(
    button('Save PNG', () => post({ type: 'savePng', name: 'dla-heads', dataUrl: dlaGrid.canvas.toDataURL('image/png') })),
    button('Head in circuits', () => post({ type: 'openHead', layer: state.selection.layer, head: state.selection.head }), { 'data-testid': 'dla-open-head-circuits' }),
  );
  // Ablate the head picked in the grid (click a cell, or arrows + Enter): the trace re-runs with it.
  const ablateZero = button('Zero-ablate head', () => post({ type: 'ablate', layer: state.selection.layer, head: state.selection.head, mode: 'zero' }), { 'data-testid': 'dla-ablate-zero' });
  const ablateMean = button('Mean-ablate head', () => post({ type: 'ablate', layer: state.selection.layer, head: state.selection.head, mode: 'mean' }), { 'data-testid': 'dla-ablate-mean' });
  dla.tools.append(ablateZero, ablateMean);
  const interventions = createInterventionsView();
  let interventionsShown: InterventionsPayload | undefined;
  dla.body.append(dlaHeader, targetBox, h('div', { class: 'dla-columns' }, dlaList, h('div', { class: 'grid-box' }, dlaGrid.canvas)));

  const attention = section('attention', 'Attention');
  const attControls = h('div', { class: 'controls' });
  // Pooled patterns (T > S): block `row` starts at position ⌊row·T/S⌋.
  const attHeat = new Heatmap('attention-heatmap', 'Attention pattern of the chosen head (query rows × key columns)', (row) => {
    const S = state.layerPattern?.size ?? state.positions;
    pick(Math.floor((row * state.positions) / S), state.selection.layer, state.selection.head, true);
  });
  /** The model shape the head thumbnail buttons were built for. */
  let thumbsShape: string | undefined;
  /** The attention section's layer and head selects, for the model shape they were built for. */
  let attSelects: { readonly shape: string; readonly layer: HTMLElement & { value: string }; readonly head: HTMLElement & { value: string } } | undefined;
  const thumbs = h('div', { class: 'thumb-grid', role: 'group', 'aria-label': 'Every head (layers × heads); click one to open it' });
  attention.tools.append(
    button('Save PNG', () => post({ type: 'savePng', name: `attention-${headName(state.selection.layer, state.selection.head)}`, dataUrl: attHeat.canvas.toDataURL('image/png') })),
    button('Head in circuits', () => post({ type: 'openHead', layer: state.selection.layer, head: state.selection.head }), { 'data-testid': 'open-head-circuits' }),
  );
  // Which sources fed the chosen head's write at the selected position (engine headSources).
  const sourcesBox = h('div', { class: 'sources', 'data-testid': 'head-sources' });
  // One request in flight at a time, the latest wish next: sweeping the mouse over 256 rows must
  // not queue 256 requests in the worker ahead of the lens or a new trace.
  const asked = new Set<string>();
  let inFlight: string | undefined;
  let next: { layer: number; head: number; pos: number } | undefined;
  const send = (layer: number, head: number, pos: number): void => {
    const key = sourcesKey(layer, head, pos);
    asked.add(key);
    inFlight = key;
    post({ type: 'headSources', layer, head, pos });
    // The host answers only with a result (an error goes to its output): do not wait for ever.
    setTimeout(() => {
      if (inFlight === key) sourcesSettled();
    }, SOURCES_WAIT_MS);
  };
  const askSources = (layer: number, head: number, pos: number): HeadSourcesPayload | undefined => {
    const key = sourcesKey(layer, head, pos);
    const known = state.sources.get(key);
    if (!known && !asked.has(key)) {
      if (inFlight === undefined) send(layer, head, pos);
      else next = { layer, head, pos };
    }
    return known;
  };
  /** An answer arrived (or the trace changed): send the latest wish, if still unanswered. */
  const sourcesSettled = (): void => {
    inFlight = undefined;
    const wish = next;
    next = undefined;
    if (wish && !state.sources.has(sourcesKey(wish.layer, wish.head, wish.pos)) && !asked.has(sourcesKey(wish.layer, wish.head, wish.pos))) send(wish.layer, wish.head, wish.pos);
  };
  attention.body.append(attControls, h('div', { class: 'grid-box' }, attHeat.canvas), sourcesBox, thumbs);

  // SAE features (when an SAE is in use): the trace's strongest features × positions; a cell selects its position.
  const featuresSection = section('features', 'SAE features');
  const featuresInfo = h('p', { class: 'muted', 'data-testid': 'features-info' });
  const featuresSplice = h('p', { class: 'muted', 'data-testid': 'features-splice', hidden: true });
  const featuresHeat = new Heatmap('features-heatmap', 'SAE features (rows, strongest first) at each position (columns); Enter selects the position', (row, col) => {
    pick(col, state.selection.layer, state.selection.head, true);
    const id = state.features?.ids[row];
    if (id !== undefined) post({ type: 'featureCard', feature: id, pos: col });
  });
  const cardBox = h('div', { class: 'feature-card', 'data-testid': 'feature-card', hidden: true });
  const cardActivations = new Heatmap('feature-activations', 'Activation of the card’s feature at each position', (_row, col) => pick(col, state.selection.layer, state.selection.head, true));
  featuresSection.tools.append(button('Save PNG', () => post({ type: 'savePng', name: 'sae-features', dataUrl: featuresHeat.canvas.toDataURL('image/png') })));
  featuresSection.body.append(featuresInfo, featuresSplice, h('div', { class: 'grid-box' }, featuresHeat.canvas), cardBox);
  featuresSection.root.hidden = true;

  const empty = h('p', { class: 'empty', text: 'Select text in an editor and run “Residual Lens: Trace Residual Stream” (Ctrl+Alt+T).' });
  const content = h('div', { class: 'content', hidden: true }, interventions.root, tokens.root, residual.root, lensSection.root, dla.root, attention.root, featuresSection.root);
  // Shown while the trace on screen is not the latest one asked for (a newer one failed or was refused).
  const staleBanner = h('div', { class: 'stale-banner', 'data-testid': 'stale-banner', role: 'alert', hidden: true });
  app.append(h('header', { class: 'top' }, status, tools), staleBanner, empty, content);

  function pick(pos: number, layer: number, head: number, reveal: boolean): void {
    if (!state.trace || pos >= state.positions) return;
    state.selection = { pos, layer, head };
    renderSelection();
    post({ type: 'select', pos, layer, head, reveal });
  }

  function renderStatus(): void {
    const t = state.trace;
    const base = t ? `${t.model} · ${t.tokens.length} tokens · ${Math.round(t.elapsedMs)} ms` : '';
    const stale = t !== undefined && state.stale !== undefined;
    // A stale trace's reason is in the banner below; the status line says it only once.
    const extra = state.status && !(stale && state.status.text === state.stale) ? state.status.text : '';
    status.textContent = extra ? (base ? `${base} — ${extra}` : extra) : base;
    status.classList.toggle('busy', state.status?.busy === true);
    staleBanner.hidden = !stale;
    staleBanner.textContent = stale ? `Not the latest trace: this is the previous one (${t.model}, ${t.tokens.length} tokens). ${state.stale}` : '';
    content.classList.toggle('stale', stale);
  }

  function renderTokens(): void {
    const t = state.trace;
    if (!t) return;
    clear(chips);
    for (const chip of tokenChips(t.tokens)) {
      const b = h('button', {
        class: `chip${chip.bos ? ' bos' : ''}${chip.partial ? ' partial' : ''}${chip.special ? ' special' : ''}`,
        role: 'option',
        'data-testid': 'token-chip',
        'data-pos': chip.pos,
        'data-token-id': chip.id,
        title: chip.title,
        'aria-selected': 'false',
        tabindex: -1,
        text: chip.label,
      });
      b.addEventListener('click', () => pick(chip.pos, state.selection.layer, state.selection.head, true));
      chips.append(b);
    }
  }

  chips.addEventListener('keydown', (e) => {
    const T = state.positions;
    if (!T) return;
    const step: Record<string, number> = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 };
    let pos: number | undefined;
    if (e.key in step) pos = Math.max(0, Math.min(T - 1, state.selection.pos + step[e.key]));
    else if (e.key === 'Home') pos = 0;
    else if (e.key === 'End') pos = T - 1;
    if (pos === undefined) return;
    e.preventDefault();
    pick(pos, state.selection.layer, state.selection.head, true);
    (chips.children[pos] as HTMLElement | undefined)?.focus();
  });

  function renderChipSelection(): void {
    const pos = state.selection.pos;
    Array.from(chips.children).forEach((el, i) => {
      el.setAttribute('aria-selected', i === pos ? 'true' : 'false');
      el.setAttribute('tabindex', i === pos ? '0' : '-1');
    });
  }

  function renderResidual(): void {
    const t = state.trace;
    if (!t) return;
    residChart.draw(residualChartView(t.residNorms, t.attnNorms, t.mlpNorms, t.nLayer, t.tokens.length, state.selection.pos), palette);
  }

  function renderLens(): void {
    const t = state.trace;
    clear(lensBox);
    if (!t) return;
    if (!state.lens) {
      lensBox.append(h('p', { class: 'muted', text: 'Computing the logit lens…' }));
      return;
    }
    const view = lensTableView(state.lens, t.tokens, vocabLookup(state.lens.vocab, t.vocab), t.nLayer);
    const table = h('table', { 'data-testid': 'lens-table', class: 'lens' });
    const headRow = h('tr', {}, h('th', { scope: 'col', text: 'layer' }));
    for (const c of view.columns) headRow.append(h('th', { scope: 'col', 'data-pos': c.pos, class: 'token-head', text: c.label }));
    const tbody = h('tbody');
    for (const row of view.rows) {
      const tr = h('tr', { 'data-layer': row.layer }, h('th', { scope: 'row', text: row.label }));
      for (const c of row.cells) {
        const bg = sequentialColor(c.prob, 0, 1, palette.background, palette.high);
        const td = h('td', { 'data-pos': c.pos, title: c.title, class: c.isNext ? 'next' : undefined, 'data-next': c.isNext ? 'true' : undefined }, h('span', { class: 'tok', text: c.top1Text }), h('span', { class: 'p', text: formatProb(c.prob) }));
        td.style.backgroundColor = cssRgb(bg);
        td.style.color = palette.textOn(bg);
        td.addEventListener('click', () => pick(c.pos, state.selection.layer, state.selection.head, true));
        tr.append(td);
      }
      tbody.append(tr);
    }
    const rank = h('tr', { 'data-testid': 'rank-row' }, h('th', { scope: 'row', text: 'next-token rank' }));
    for (const r of view.rank) rank.append(h('td', { 'data-pos': r.pos, title: r.title, text: r.text }));
    table.append(h('thead', {}, headRow), tbody, h('tfoot', {}, rank));
    lensBox.append(table);
    renderLensSelection();
  }

  function renderLensSelection(): void {
    const pos = String(state.selection.pos);
    lensBox.querySelectorAll<HTMLElement>('[data-pos]').forEach((el) => el.classList.toggle('selected-col', el.dataset.pos === pos));
  }

  function renderDla(): void {
    const t = state.trace;
    const a = state.attribution;
    clear(dlaList);
    clear(dlaHeader);
    clear(targetBox);
    if (!t) return;
    const pos = state.selection.pos;
    const k = t.predK;
    const decode = vocabLookup(t.vocab);
    const options = [];
    for (let j = 0; j < k; j++) {
      const id = t.predIds[pos * k + j];
      options.push({ value: String(id), label: `${visibleToken(decode(id))} (${formatProb(t.predProbs[pos * k + j])})` });
    }
    const current = a && a.pos === pos ? String(a.tokenId) : String(t.predIds[pos * k]);
    // A typed token outside the top-k is listed too, so the select shows what is attributed.
    if (a && a.pos === pos && !options.some((o) => o.value === current)) options.push({ value: current, label: `${visibleToken(a.tokenText)} (typed)` });
    const typed = h('input', { type: 'text', class: 'token-input', placeholder: 'or type a token, e.g. " Paris", or #id', 'aria-label': 'Attribute the logit of a token you type: one GPT-2 token (mind the leading space) or #id', 'data-testid': 'dla-token-input' });
    typed.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && typed.value.length > 0) post({ type: 'pickTokenText', pos, text: typed.value.slice(0, MAX_TOKEN_TEXT_CHARS) });
    });
    targetBox.append(
      h('span', { class: 'control' }, h('label', { text: 'Attribute the logit of' }), select('Token whose logit is attributed', options, current, (v) => post({ type: 'pickToken', pos, tokenId: Number(v) }), { 'data-testid': 'dla-target' })),
      typed,
    );
    dlaGrid.canvas.hidden = !a || a.pos !== pos;
    if (!a || a.pos !== pos) {
      dlaHeader.append(h('p', { class: 'muted', text: 'Computing the attribution…' }));
      return;
    }
    dlaHeader.append(
      h('p', {}, `Logit of ${JSON.stringify(a.tokenText)} at pos ${pos}: ${a.logit.toFixed(2)} = Σ components + final LayerNorm bias ${formatSigned(a.lnBiasTerm, 2)} (final LayerNorm scale applied).`),
    );
    const items = dlaItems(a);
    const scale = maxAbs(a.values);
    for (const it of items) {
      const color = divergingColor(it.value, scale, palette.negative, palette.background, palette.positive);
      const bar = h('span', { class: 'bar' });
      bar.style.width = `${scale > 0 ? (50 * Math.abs(it.value)) / scale : 0}%`;
      bar.style.backgroundColor = cssRgb(color);
      const li = h('li', { 'data-kind': it.kind, 'data-value': it.value.toFixed(4), title: `${it.name}: ${it.value.toFixed(4)}` }, h('span', { class: 'name', text: it.name }), h('span', { class: 'value', text: formatSigned(it.value, 2) }), bar);
      if (it.kind === 'head') {
        li.classList.add('clickable');
        li.tabIndex = 0;
        const choose = (): void => pick(pos, it.layer, it.head, false);
        li.addEventListener('click', choose);
        li.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') choose();
        });
      }
      dlaList.append(li);
    }
    renderDlaGrid();
  }

  function renderDlaGrid(): void {
    const t = state.trace;
    const a = state.attribution;
    if (!t || !a) return;
    const scale = maxAbs(a.headGrid);
    dlaGrid.draw({
      rows: t.nLayer,
      cols: t.nHead,
      values: a.headGrid,
      color: (v) => divergingColor(v, scale, palette.negative, palette.background, palette.positive),
      rowLabels: Array.from({ length: t.nLayer }, (_, l) => `L${l}`),
      colLabels: Array.from({ length: t.nHead }, (_, hd) => `H${hd}`),
      rowTitle: 'layer',
      colTitle: 'head',
      scale: { min: -scale, max: scale, unit: `DLA to ${visibleToken(a.tokenText)} (logit)` },
      cell: 22,
      maxWidth: 420,
      mark: undefined,
      font: palette.font,
      textColor: cssRgb(palette.foreground),
      markColor: palette.focus,
      describe: (l, hd, v) => `${headName(l, hd)} ${formatSigned(v, 2)}`,
    });
  }

  function renderAttention(): void {
    const t = state.trace;
    if (!t) return;
    const { layer, head } = state.selection;
    const T = t.tokens.length;
    renderThumbSelection();
    // The layer and head selects are built once per model shape: a new vscode-single-select lays
    // out its dropdown when it first renders (getBoundingClientRect, a forced layout), measured at
    // about a quarter of a warm trace's script time in the trace panel (issue 13, bench/panelRender.ts).
    const shape = `${t.nLayer}×${t.nHead}`;
    if (attSelects?.shape !== shape) {
      const layerSelect = select('Layer', Array.from({ length: t.nLayer }, (_, l) => ({ value: String(l), label: `L${l}` })), String(layer), (v) => pick(state.selection.pos, Number(v), state.selection.head, false), { 'data-testid': 'layer-select' });
      const headSelect = select('Head', Array.from({ length: t.nHead }, (_, hd) => ({ value: String(hd), label: `H${hd}` })), String(head), (v) => pick(state.selection.pos, state.selection.layer, Number(v), false), { 'data-testid': 'head-select' });
      attSelects = { shape, layer: layerSelect as HTMLElement & { value: string }, head: headSelect as HTMLElement & { value: string } };
      clear(attControls);
      // Each label stays on its dropdown's line (a pair never wraps apart).
      attControls.append(h('span', { class: 'control' }, h('label', { text: 'Layer' }), layerSelect), h('span', { class: 'control' }, h('label', { text: 'Head' }), headSelect));
    } else {
      if (attSelects.layer.value !== String(layer)) attSelects.layer.value = String(layer);
      if (attSelects.head.value !== String(head)) attSelects.head.value = String(head);
    }
    const labels = t.tokens.map((tok, i) => (i === 0 && tok.special ? 'BOS' : visibleToken(tok.text)));
    const layerPattern = state.layerPattern;
    attHeat.canvas.hidden = !layerPattern;
    if (!layerPattern) return;
    const S = layerPattern.size;
    const pooled = S < T;
    const first = (block: number): number => Math.floor((block * T) / S);
    attHeat.draw({
      rows: S,
      cols: S,
      values: headPattern(layerPattern.values, t.nHead, S, 0, head),
      color: (v) => sequentialColor(v, 0, 1, palette.background, palette.high),
      rowTitle: pooled ? `query positions (blocks of ${(T / S).toFixed(1)})` : 'query position (row attends from)',
      colTitle: pooled ? 'key positions (max over each block)' : 'key position (attended to)',
      scale: { min: 0, max: 1, unit: `${headName(layer, head)} attention weight`, format: (v) => `${Math.round(v * 100)}%` },
      rowLabels: pooled ? undefined : labels,
      colLabels: pooled ? undefined : labels,
      cell: 18,
      maxWidth: Math.max(240, app.clientWidth - 40),
      mark: { row: Math.floor((state.selection.pos * S) / T) },
      font: palette.editorFont,
      textColor: cssRgb(palette.foreground),
      markColor: palette.focus,
      describe: (q, kk, v) => {
        if (pooled) return `${headName(layer, head)}: positions ${first(q)}–${first(q + 1) - 1} → ${first(kk)}–${first(kk + 1) - 1}, max ${(v * 100).toFixed(1)}%`;
        const base = `${headName(layer, head)}: ${JSON.stringify(labels[q])} → ${JSON.stringify(labels[kk])} (query ${q}, key ${kk}): attention ${(v * 100).toFixed(1)}%`;
        const src = kk <= q ? askSources(layer, head, q) : undefined;
        return src ? `${base}\n${sourceLine(src, kk)}` : base;
      },
    });
    renderSources();
  }

  /** "‖A·f‖ 3.2 (41 % of the write) · DLA to ·Paris +1.05": source s of a headSources answer. */
  function sourceLine(src: HeadSourcesPayload, s: number): string {
    const total = src.norm.reduce((a, b) => a + b, 0);
    const n = src.norm[s] ?? 0;
    return `value-weighted ‖A·f(s)‖ ${n.toFixed(2)} (${total > 0 ? Math.round((100 * n) / total) : 0} % of the sources' total) · DLA to ${visibleToken(src.tokenText)} ${formatSigned(src.dla[s] ?? 0, 2)}`;
  }

  /** The chosen head's sources at the selected position: the five largest writes by norm. */
  function renderSources(): void {
    clear(sourcesBox);
    const t = state.trace;
    const lp = state.layerPattern;
    if (!t || !lp || lp.size < t.tokens.length) return;
    const { layer, head, pos } = state.selection;
    const src = askSources(layer, head, pos);
    if (!src) {
      sourcesBox.append(h('p', { class: 'muted', text: `Sources of ${headName(layer, head)}'s write at pos ${pos}: computing…` }));
      return;
    }
    const label = (i: number): string => (i === 0 && t.tokens[0]?.special ? 'BOS' : visibleToken(t.tokens[i]?.text ?? ''));
    const order = src.norm.map((n, s) => ({ n, s })).sort((a, b) => b.n - a.n).slice(0, 5);
    const sum = src.dla.reduce((a, b) => a + b, 0);
    sourcesBox.append(
      h('p', { text: `What ${headName(layer, head)} wrote at pos ${pos} ${JSON.stringify(label(pos))}, by source (attention × OV-mapped value; DLA to ${visibleToken(src.tokenText)}, total ${formatSigned(sum, 2)}). Hover a cell for any source.` }),
      h(
        'ol',
        {},
        ...order.map(({ s }) => h('li', { 'data-source': s, text: `pos ${s} ${JSON.stringify(label(s))}: attention ${((src.attention[s] ?? 0) * 100).toFixed(1)}% · ${sourceLine(src, s)}` })),
      ),
    );
  }

  /** One button per head (L × H), drawn when the thumbnails arrive. */
  function renderThumbs(): void {
    const t = state.trace;
    if (!t) {
      clear(thumbs);
      thumbsShape = undefined;
      return;
    }
    // Undrawn canvases take their drawn size, not the default 300 × 150 (a 3600 px wide grid to lay out in the first paint).
    const px = thumbPx(t.nLayer, t.nHead);
    const shape = `${t.nLayer}×${t.nHead}`;
    if (thumbsShape === shape) {
      // Same model shape: the buttons stay, their canvases are blanked until the new thumbnails arrive.
      thumbs.querySelectorAll<HTMLCanvasElement>('[data-testid="head-thumb"] canvas').forEach((c) => {
        c.width = px;
        c.height = px;
        c.style.width = `${px}px`;
        c.style.height = `${px}px`;
      });
      drawThumbs();
      return;
    }
    clear(thumbs);
    thumbsShape = shape;
    thumbs.style.gridTemplateColumns = `max-content repeat(${t.nHead}, max-content)`;
    for (let l = 0; l < t.nLayer; l++) {
      thumbs.append(h('span', { class: 'row-label', text: `L${l}` }));
      for (let hd = 0; hd < t.nHead; hd++) {
        const thumb = h('button', { class: 'thumb', 'data-testid': 'head-thumb', 'data-layer': l, 'data-head': hd, 'aria-pressed': 'false', title: `${headName(l, hd)}: click to open, double-click for its circuits`, 'aria-label': headName(l, hd) }, placeholderCanvas(px));
        thumb.addEventListener('click', () => pick(state.selection.pos, l, hd, false));
        thumb.addEventListener('dblclick', () => post({ type: 'openHead', layer: l, head: hd }));
        thumbs.append(thumb);
      }
    }
    drawThumbs();
  }

  function drawThumbs(): void {
    const t = state.trace;
    const th = state.thumbs;
    if (!t || !th) return;
    const S = th.size;
    const px = thumbPx(t.nLayer, t.nHead);
    thumbs.querySelectorAll<HTMLElement>('[data-testid="head-thumb"]').forEach((el) => {
      const l = Number(el.dataset.layer);
      const hd = Number(el.dataset.head);
      const canvas = el.querySelector('canvas');
      if (canvas) drawThumbnail(canvas, th.values.subarray((l * t.nHead + hd) * S * S, (l * t.nHead + hd + 1) * S * S), S, S, px, (v) => sequentialColor(v, 0, 1, palette.background, palette.high));
    });
  }

  function renderThumbSelection(): void {
    const { layer, head } = state.selection;
    thumbs.querySelectorAll<HTMLElement>('[data-testid="head-thumb"]').forEach((el) => {
      el.setAttribute('aria-pressed', Number(el.dataset.layer) === layer && Number(el.dataset.head) === head ? 'true' : 'false');
    });
  }

  type Timed = (part: RenderPart, render: () => void) => void;
  const untimed: Timed = (_part, render) => render();

  function renderSelection(timed: Timed = untimed): void {
    const head = headName(state.selection.layer, state.selection.head);
    ablateZero.textContent = `Zero-ablate ${head}`;
    ablateMean.textContent = `Mean-ablate ${head}`;
    renderChipSelection();
    timed('chart', renderResidual);
    renderLensSelection();
    timed('dla', renderDla);
    timed('attention', renderAttention);
    timed('features', () => {
      renderFeatures();
      renderCard();
    });
    saveState();
  }

  function renderCard(): void {
    const c = state.featureCard;
    cardBox.hidden = !c || !state.trace;
    if (!c || !state.trace) return;
    clear(cardBox);
    const labelInput = h('input', { type: 'text', value: c.label, 'aria-label': `Label of feature ${c.feature}`, 'data-testid': 'feature-label', maxlength: '500' });
    const list = (title: string, items: readonly { text: string; value: number }[], testid: string): HTMLElement =>
      h('div', {}, h('h4', { text: title }), h('ol', { 'data-testid': testid }, ...items.map((e) => h('li', { text: `${visibleToken(e.text)}  ${formatSigned(e.value, 3)}` }))));
    cardBox.append(
      h('h3', { text: `Feature #${c.feature}${c.label ? ` — ${c.label}` : ''}` }),
      h('div', { class: 'controls' }, labelInput, button('Save label', () => post({ type: 'labelFeature', feature: c.feature, label: labelInput.value }), { 'data-testid': 'feature-label-save' })),
      h('p', { class: 'muted', text: c.dla ? `At position ${c.dla.pos}: activation ${c.dla.activation.toFixed(3)}, direct logit attribution to ${visibleToken(c.dla.token)} ${formatSigned(c.dla.value, 3)} (final LayerNorm scale frozen).` : 'Not active at the selected position.' }),
      h('div', { class: 'grid-box' }, cardActivations.canvas),
      h('div', { class: 'dla-columns' },
        list('Promoted tokens (decoder row · γ · W_U)', c.promoted, 'feature-promoted'),
        list('Suppressed tokens', c.suppressed, 'feature-suppressed'),
        list('Tokens whose embeddings excite it', c.embeddingTokens, 'feature-embedding-tokens')),
    );
    let max = 0;
    for (const v of c.activations) if (v > max) max = v;
    const tokensText = state.trace.tokens.map((t) => visibleToken(t.text));
    cardActivations.draw({
      rows: 1, cols: c.activations.length, values: c.activations,
      color: (v) => sequentialColor(v, 0, max, palette.background, palette.high),
      rowLabels: [`#${c.feature}`], colLabels: tokensText, cell: 14, maxWidth: 900, mark: { col: Math.min(state.selection.pos, c.activations.length - 1) },
      font: palette.font, textColor: cssRgb(palette.foreground), markColor: palette.focus,
      describe: (_r, col, v) => `${tokensText[col] ?? ''} at ${col}: ${v.toFixed(3)}`,
    });
  }

  function renderFeatures(): void {
    const f = state.features;
    featuresSection.root.hidden = !f || !state.trace;
    if (!f || !state.trace) return;
    const pos = Math.min(state.selection.pos, f.positions - 1);
    const ve = f.varianceExplained[pos];
    featuresInfo.textContent = `${f.sae} · input: ${f.input} · position ${pos}: L0 ${f.l0[pos]}, variance explained ${ve === null ? '–' : ve.toFixed(3)}${f.ids.length === 0 ? ' · no feature is active in this trace' : ''}`;
    featuresSplice.textContent = f.splice ?? '';
    featuresSplice.hidden = !f.splice;
    if (f.ids.length === 0) return;
    let max = 0;
    for (const v of f.values) if (v > max) max = v;
    const tokensText = state.trace.tokens.map((t) => visibleToken(t.text));
    featuresHeat.draw({
      rows: f.ids.length,
      cols: f.positions,
      values: f.values,
      color: (v) => sequentialColor(v, 0, max, palette.background, palette.high),
      rowLabels: f.ids.map((id, r) => `#${id}${f.labels[r] ? ` ${f.labels[r].length > 22 ? `${f.labels[r].slice(0, 21)}…` : f.labels[r]}` : ''}`),
      colLabels: tokensText,
      cell: 14,
      maxWidth: 900,
      mark: { col: pos },
      font: palette.font,
      textColor: cssRgb(palette.foreground),
      markColor: palette.focus,
      describe: (r, c, v) => `#${f.ids[r]}${f.labels[r] ? ` (${f.labels[r]})` : ''} at ${c} ${tokensText[c] ?? ''}: ${v.toFixed(2)}`,
    });
  }

  function afterThisFrame(run: () => void): void {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      run();
    };
    channel.port2.postMessage(undefined);
  }

  function saveState(): void {
    const t = state.trace;
    if (t) setState({ text: t.text, model: t.model, selection: state.selection, ...(t.source ? { source: t.source } : {}) });
  }

  /** Renders everything; returns each part's time (the bench reports where a first paint goes). */
  function renderAll(): Partial<Record<RenderPart, number>> {
    empty.hidden = state.trace !== undefined;
    content.hidden = state.trace === undefined;
    const parts: Partial<Record<RenderPart, number>> = {};
    const timed = (part: RenderPart, render: () => void): void => {
      const t0 = performance.now();
      render();
      parts[part] = performance.now() - t0;
    };
    timed('status', renderStatus);
    timed('tokens', renderTokens);
    timed('thumbs', renderThumbs);
    timed('lens', renderLens);
    renderSelection(timed);
    return parts;
  }

  onHostMessage((msg: HostToWebview) => {
    if (msg.type === 'interventions') {
      interventionsShown = msg.interventions;
      interventions.render(interventionsShown, state.trace?.traceId);
      return;
    }
    const before = state.selection;
    const changed = state.apply(msg);
    switch (changed) {
      case 'trace': {
        asked.clear();
        inFlight = undefined;
        next = undefined;
        const traceId = state.trace?.traceId;
        // Which trace is on show, for the end-to-end tests (a re-trace of the same text looks the same).
        document.body.dataset.traceId = traceId === undefined ? '' : String(traceId);
        const arrived = performance.now();
        const renderParts = renderAll();
        const t0 = performance.now();
        interventions.render(interventionsShown, traceId);
        renderParts.interventions = performance.now() - t0;
        const renderMs = performance.now() - arrived;
        // After the next paint: a task queued from a frame's rAF callback runs once that frame's
        // style, layout and paint are done (a second rAF would wait a whole extra frame).
        requestAnimationFrame(() => afterThisFrame(() => traceId !== undefined && post({ type: 'painted', traceId, renderMs, renderParts, webviewMs: performance.now() - arrived, paintedAtMs: performance.timeOrigin + performance.now() })));
        break;
      }
      case 'predictions':
        // The header's time and the DLA's token picker (the rest of the panel has no predictions).
        renderStatus();
        renderDla();
        break;
      case 'lens':
        renderLens();
        break;
      case 'pattern':
        renderAttention();
        break;
      case 'sources':
        sourcesSettled();
        renderSources();
        break;
      case 'thumbs':
        drawThumbs();
        break;
      case 'attribution':
        // The sources' DLA is to the token the DLA section shows: ask again for the new one.
        state.sources.clear();
        asked.clear();
        inFlight = undefined;
        next = undefined;
        renderSources();
        renderDla();
        break;
      case 'features':
        renderFeatures();
        break;
      case 'featureCard':
        renderCard();
        break;
      case 'select':
        if (before.pos !== state.selection.pos || before.layer !== state.selection.layer || before.head !== state.selection.head) renderSelection();
        break;
      case 'status':
        renderStatus();
        break;
    }
  });

  watchTheme(() => {
    palette = readPalette();
    if (state.trace) renderAll();
  });

  const saved = getState() as { text?: unknown } | undefined;
  if (saved && typeof saved.text === 'string') empty.textContent = 'Restoring the trace…';
  renderStatus();
  post({ type: 'ready', view: 'trace' });
}
