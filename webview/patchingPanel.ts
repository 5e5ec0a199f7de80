/**
 * The patching panel (Residual Lens: Compare Prompts): the two prompts' tokens side by side, each
 * run's metric and top-k, then one heatmap per patching map (resid_pre / attn_out / mlp_out:
 * layer × position; heads: layer × head; heads by position) painting row by row as the sweep
 * streams them, with its best cells listed. Clicking a cell asks the host for that patched run's
 * top-k (and reveals the position in the editor). Same look as the trace panel: theme colours,
 * canvas heatmaps, vscode-elements buttons.
 */
import type { PatchAttributionPayload, PatchCellPayload, PatchSessionPayload, RunTopK } from '../src/protocol/patchingView';
import type { HostToWebview } from '../src/protocol/webview';
import { cssRgb, divergingColor, maxAbs } from '../src/viewModels/color';
import { formatProb, formatSigned, visibleToken, vocabLookup, type VocabLookup } from '../src/viewModels/format';
import { compareTokenizations, describePatchCell, formatScore, PATCH_MAP_TITLES, patchCellName, patchCellRef, patchCells, patchLabels, patchScale, topPatchCells, type PatchLayout } from '../src/viewModels/patching';
import { attributedTotal, attributionChanges, headGridOf } from '../src/viewModels/logitDiffAttribution';
import { onHostMessage, post, setState } from './api';
import { button, clear, h, section } from './dom';
import { Heatmap } from './heatmap';
import { readPalette, watchTheme, type Palette } from './theme';

/** Best cells listed under each map. */
const TOP_CELLS = 5;

interface MapView extends PatchLayout {
  /** [rows, cols] patched metric, NaN until its row arrives. */
  readonly metric: Float32Array;
  readonly heat: Heatmap;
  readonly top: HTMLElement;
  readonly root: HTMLElement;
}

export function startPatchingPanel(app: HTMLElement): void {
  let palette: Palette = readPalette();
  let session: PatchSessionPayload | undefined;
  let maps: MapView[] = [];
  let stale: string | undefined;
  let progress: { text: string; running: boolean; done: number; total: number } | undefined;
  let cell: PatchCellPayload | undefined;
  let attribution: PatchAttributionPayload | undefined;

  const status = h('div', { class: 'status', 'data-testid': 'patch-status', role: 'status' });
  const cancel = button('Cancel', () => session && post({ type: 'patchCancel', sessionId: session.sessionId }), { 'data-testid': 'patch-cancel' });
  const tools = h('div', { class: 'tools' }, cancel, button('Copy CSV', () => session && post({ type: 'patchExportCsv', sessionId: session.sessionId }), { 'data-testid': 'patch-export-csv' }));
  const notes = h('div', { class: 'notes', 'data-testid': 'patch-notes' });

  const runs = section('patch-runs', 'Clean and corrupted runs');
  const prompts = section('patch-tokens', 'Tokens');
  const attr = section('patch-attribution', 'Logit-difference attribution');
  const attrText = h('p', { class: 'muted' });
  const attrTable = h('div', { class: 'table-scroll' });
  const attrHeats = ['clean', 'corrupted'].map((run) => new Heatmap(`patch-attribution-${run}`, `Direct logit-difference attribution of every head in the ${run} run (layers × heads)`, () => undefined));
  attr.tools.append(button('Save PNG', () => post({ type: 'savePng', name: 'patching-attribution-clean', dataUrl: attrHeats[0].canvas.toDataURL('image/png') })));
  attr.body.append(attrText, h('div', { class: 'dla-columns' }, attrTable, ...attrHeats.map((m, i) => h('div', {}, h('h3', { text: i === 0 ? 'Clean heads' : 'Corrupted heads' }), h('div', { class: 'grid-box' }, m.canvas)))));
  attr.root.hidden = true;
  const picked = section('patch-cell', 'Patched run');
  picked.root.hidden = true;
  const mapsBox = h('div', { class: 'patch-maps' });
  const empty = h('p', { class: 'empty', text: 'Select a prompt in an editor and run “Residual Lens: Compare Prompts”.' });
  const content = h('div', { class: 'content', hidden: true }, notes, runs.root, attr.root, prompts.root, mapsBox, picked.root);
  app.append(h('header', { class: 'top' }, status, tools), empty, content);

  const decode = (): VocabLookup => vocabLookup(session?.vocab ?? [], cell?.vocab ?? []);

  function renderStatus(): void {
    const s = session;
    const parts: string[] = [];
    if (s) parts.push(`${s.model} · ${s.metricLabel}`);
    if (progress) parts.push(progress.total > 0 ? `${progress.text} (${progress.done}/${progress.total})` : progress.text);
    status.textContent = parts.join(' — ');
    status.classList.toggle('busy', progress?.running === true);
    cancel.hidden = progress?.running !== true;
  }

  function renderNotes(): void {
    clear(notes);
    const s = session;
    if (!s) return;
    const scale = patchScale(s.clean.metric, s.corrupted.metric);
    if (stale) notes.append(h('p', { class: 'stale', 'data-testid': 'patch-stale', role: 'alert', text: `Stale: ${stale}` }));
    if (scale.note) notes.append(h('p', { class: 'muted', 'data-testid': 'patch-scale-note', text: scale.note }));
    content.classList.toggle('is-stale', stale !== undefined);
  }

  function topList(top: RunTopK, testId: string): HTMLElement {
    const d = decode();
    const list = h('ol', { class: 'topk', 'data-testid': testId });
    for (let j = 0; j < top.ids.length; j++) list.append(h('li', {}, h('span', { class: 'tok', text: visibleToken(d(top.ids[j])) }), h('span', { class: 'p', text: formatProb(top.probs[j]) })));
    return list;
  }

  function renderRuns(): void {
    clear(runs.body);
    const s = session;
    if (!s) return;
    const metric = (m: number): string => (Number.isFinite(m) ? formatSigned(m, 3) : 'not computed');
    runs.body.append(
      h(
        'div',
        { class: 'run-columns' },
        h('div', { 'data-testid': 'patch-clean' }, h('h3', { text: `Clean: ${metric(s.clean.metric)}` }), topList(s.clean.top, 'patch-clean-top')),
        h('div', { 'data-testid': 'patch-corrupted' }, h('h3', { text: `Corrupted: ${metric(s.corrupted.metric)}` }), topList(s.corrupted.top, 'patch-corrupted-top')),
      ),
      h('p', { class: 'muted', text: `Top tokens at pos ${s.pos}. Cells show (patched − corrupted) / (clean − corrupted): 1 = patching that activation from the clean run restores the clean metric.` }),
    );
  }

  function renderTokens(): void {
    clear(prompts.body);
    const s = session;
    if (!s) return;
    const cmp = compareTokenizations(s.clean.tokens, s.corrupted.tokens);
    prompts.body.append(h('p', { 'data-testid': 'patch-token-message', class: cmp.sameLength ? undefined : 'warning', text: cmp.message }));
    const table = h('table', { class: 'data token-pairs', 'data-testid': 'patch-token-table' });
    table.append(h('thead', {}, h('tr', {}, h('th', { text: 'pos' }), h('th', { text: 'clean' }), h('th', { text: 'corrupted' }))));
    const body = h('tbody');
    for (const r of cmp.rows) body.append(h('tr', { class: r.differs ? 'differs' : undefined }, h('td', { class: 'num', text: String(r.pos) }), h('td', { class: 'tok', text: r.clean ?? '' }), h('td', { class: 'tok', text: r.corrupted ?? '' })));
    table.append(body);
    // Open when the lengths differ (that is the point then); one click away otherwise.
    prompts.body.append(h('details', { open: !cmp.sameLength, 'data-testid': 'patch-token-details' }, h('summary', { text: 'Both tokenizations side by side' }), h('div', { class: 'table-scroll' }, table)));
  }

  function buildMaps(): void {
    clear(mapsBox);
    maps = [];
    const s = session;
    if (!s) return;
    for (const spec of s.maps) {
      const sec = section(`patch-${spec.kind}`, PATCH_MAP_TITLES[spec.kind]);
      const heat = new Heatmap(`patch-map-${spec.kind}`, `${PATCH_MAP_TITLES[spec.kind]}: patching scores`, (row, col) => {
        if (session) post({ type: 'patchPick', sessionId: session.sessionId, kind: spec.kind, row, col });
      });
      const top = h('ol', { class: 'patch-top', 'data-testid': `patch-top-${spec.kind}`, 'aria-label': 'Cells with the largest scores' });
      sec.tools.append(button('Save PNG', () => post({ type: 'savePng', name: `patching-${spec.kind}`, dataUrl: heat.canvas.toDataURL('image/png') })));
      sec.body.append(h('div', { class: 'dla-columns' }, h('div', { class: 'grid-box' }, heat.canvas), top));
      mapsBox.append(sec.root);
      maps.push({ ...spec, metric: new Float32Array(spec.rows * spec.cols).fill(NaN), heat, top, root: sec.root });
    }
  }

  function drawMap(m: MapView): void {
    const s = session;
    if (!s) return;
    const cells = patchCells(m, s.clean.metric, s.corrupted.metric);
    const scale = patchScale(s.clean.metric, s.corrupted.metric);
    const range = scale.kind === 'normalised' ? Math.max(1, maxAbs(cells)) : maxAbs(cells);
    const labels = patchLabels(m, s.nLayer, s.nHead, s.corrupted.tokens);
    m.heat.draw({
      rows: m.rows,
      cols: m.cols,
      values: cells,
      color: (v) => divergingColor(v, range, palette.negative, palette.background, palette.positive),
      rowLabels: labels.rows,
      colLabels: labels.cols,
      cell: m.kind === 'heads_by_pos' ? 12 : 20,
      maxWidth: Math.max(240, app.clientWidth - 300),
      mark: cell && cell.kind === m.kind ? { row: cell.row, col: cell.col } : undefined,
      font: palette.editorFont,
      textColor: cssRgb(palette.foreground),
      markColor: palette.focus,
      describe: (row, col, v) => describePatchCell(patchCellRef(m, row, col), s.corrupted.tokens, v, scale),
    });
    clear(m.top);
    // Cells that round to 0 say nothing: listed only when they move the metric.
    const best = topPatchCells(m, cells, TOP_CELLS).filter((c) => formatScore(Math.abs(c.score), scale) !== formatScore(0, scale));
    if (best.length === 0 && cells.some(Number.isFinite)) m.top.append(h('li', { class: 'muted', text: 'no cell moves the metric (so far)' }));
    for (const c of best) {
      const li = h('li', { class: 'clickable', tabindex: 0, 'data-name': c.name, 'data-score': c.score.toFixed(4) }, h('span', { class: 'name', text: c.name }), h('span', { class: 'value', text: formatScore(c.score, scale) }));
      const choose = (): void => {
        if (session) post({ type: 'patchPick', sessionId: session.sessionId, kind: m.kind, row: c.row, col: c.col });
      };
      li.addEventListener('click', choose);
      li.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') choose();
      });
      m.top.append(li);
    }
  }

  function renderCell(): void {
    const s = session;
    const c = cell;
    picked.root.hidden = !s || !c;
    clear(picked.body);
    if (!s || !c) return;
    const layout = maps.find((m) => m.kind === c.kind);
    if (!layout) return;
    const ref = patchCellRef(layout, c.row, c.col);
    const scale = patchScale(s.clean.metric, s.corrupted.metric);
    const score = patchCells({ kind: c.kind, rows: 1, cols: 1, metric: Float32Array.of(c.metric) }, s.clean.metric, s.corrupted.metric)[0];
    picked.body.append(
      h('p', { 'data-testid': 'patch-cell-title', text: `${PATCH_MAP_TITLES[c.kind]}, ${patchCellName(ref)}: metric ${Number.isFinite(c.metric) ? formatSigned(c.metric, 3) : 'not computed'} · ${describePatchCell(ref, s.corrupted.tokens, score, scale).split(': ').slice(1).join(': ')}` }),
      topList(c.top, 'patch-cell-top'),
    );
    // A head picked in a head map can be swept over every position too (the by-position map grows a row).
    const byPos = maps.find((m) => m.kind === 'heads_by_pos');
    const { layer, head } = ref;
    if (byPos && head !== undefined && ref.pos === undefined && !byPos.heads?.some((x) => x.layer === layer && x.head === head)) {
      const name = patchCellName({ layer, head });
      picked.body.append(button(`Sweep ${name} by position`, () => post({ type: 'patchAddHead', sessionId: s.sessionId, layer, head }), { 'data-testid': 'patch-add-head' }));
    }
  }

  /** Each component's share of the logit difference in both runs, the biggest changes first, and both head grids. */
  function renderAttribution(): void {
    const s = session;
    const a = attribution;
    attr.root.hidden = !s || !a || a.sessionId !== s.sessionId;
    clear(attrTable);
    if (!s || !a || a.sessionId !== s.sessionId) return;
    attrText.textContent = `Each component's direct contribution to ${s.metricLabel.replace(/ at pos \d+$/, '')} at the last position (final LayerNorm scale frozen). Σ components + LayerNorm bias: clean ${formatSigned(attributedTotal(a.clean, a.cleanBias), 3)}, corrupted ${formatSigned(attributedTotal(a.corrupted, a.corruptedBias), 3)}.`;
    const table = h('table', { class: 'data', 'data-testid': 'patch-attribution-table' });
    table.append(h('thead', {}, h('tr', {}, h('th', { text: 'component' }), h('th', { text: 'clean' }), h('th', { text: 'corrupted' }), h('th', { text: 'change' }))));
    const body = h('tbody');
    // Components that contribute nothing in either run (unused heads) are left out.
    const shown = attributionChanges(a.components, a.clean, a.corrupted, 12).filter((r) => [r.clean, r.corrupted, r.change].some((x) => Math.abs(x) >= 0.005));
    for (const r of shown) {
      body.append(h('tr', { 'data-name': r.name }, h('th', { scope: 'row', text: r.name }), h('td', { class: 'num', text: formatSigned(r.clean, 2) }), h('td', { class: 'num', text: formatSigned(r.corrupted, 2) }), h('td', { class: 'num', text: formatSigned(r.change, 2) })));
    }
    table.append(body);
    attrTable.append(table);
    const grids = [headGridOf(a.components, a.clean, s.nLayer, s.nHead), headGridOf(a.components, a.corrupted, s.nLayer, s.nHead)];
    const range = Math.max(maxAbs(grids[0]), maxAbs(grids[1]));
    grids.forEach((values, i) =>
      attrHeats[i].draw({
        rows: s.nLayer,
        cols: s.nHead,
        values,
        color: (v) => divergingColor(v, range, palette.negative, palette.background, palette.positive),
        rowLabels: Array.from({ length: s.nLayer }, (_, l) => `L${l}`),
        colLabels: Array.from({ length: s.nHead }, (_, hd) => `H${hd}`),
        cell: 18,
        maxWidth: 320,
        font: palette.font,
        textColor: cssRgb(palette.foreground),
        markColor: palette.focus,
        describe: (l, hd, val) => `L${l}H${hd} ${i === 0 ? 'clean' : 'corrupted'} ${formatSigned(val, 2)}`,
      }),
    );
  }

  function renderAll(): void {
    empty.hidden = session !== undefined;
    content.hidden = session === undefined;
    renderStatus();
    renderNotes();
    renderRuns();
    renderTokens();
    renderAttribution();
    buildMaps();
    for (const m of maps) drawMap(m);
    renderCell();
  }

  onHostMessage((msg: HostToWebview) => {
    switch (msg.type) {
      case 'patchSession':
        session = msg.session;
        // A reloaded window gives this back to the panel's serializer, which compares the prompts again.
        setState(msg.session.state);
        stale = undefined;
        progress = undefined;
        cell = undefined;
        attribution = undefined;
        renderAll();
        break;
      case 'patchRows': {
        if (msg.sessionId !== session?.sessionId) return;
        const m = maps.find((x) => x.kind === msg.kind);
        if (!m || msg.metric.length % m.cols !== 0 || msg.row0 * m.cols + msg.metric.length > m.metric.length) return;
        m.metric.set(msg.metric, msg.row0 * m.cols);
        drawMap(m);
        break;
      }
      case 'patchStatus':
        if (msg.sessionId !== session?.sessionId) return;
        progress = { text: msg.text, running: msg.running, done: msg.done, total: msg.total };
        renderStatus();
        break;
      case 'patchStale':
        if (msg.sessionId !== session?.sessionId) return;
        stale = msg.reason;
        renderNotes();
        break;
      case 'patchAttribution':
        attribution = msg.attribution;
        renderAttribution();
        break;
      case 'patchCell':
        if (msg.cell.sessionId !== session?.sessionId) return;
        cell = msg.cell;
        renderCell();
        picked.root.scrollIntoView({ block: 'nearest' });
        for (const m of maps) drawMap(m);
        break;
    }
  });

  watchTheme(() => {
    palette = readPalette();
    renderAttribution();
    for (const m of maps) drawMap(m);
  });

  renderStatus();
  post({ type: 'ready', view: 'patching' });
}
