/**
 * The circuits panel: composition (L·H × L·H heatmap, Q/K/V switch, top-N table against the
 * random baseline), MLP virtual weights (L × L heatmap → neuron-pair drill-down), heads
 * (detector and copying scores, positional QK thumbnails, sortable) and subspaces (curves).
 * Clicking a pair asks the host for its virtual weights.
 */
import type { CircuitsPayload, CompositionKind, HeadPairPayload, HostToWebview, MlpPairPayload } from '../src/protocol/webview';
import { compositionCell, compositionTop, curvesCoincide, headRole, isNegligibleVirtualWeight as isNegligible, relativeScore, ROLE_THRESHOLD, sortHeads, type HeadSortKey } from '../src/viewModels/circuits';
import { cssRgb, divergingColor, finiteRange, maxAbs, sequentialColor } from '../src/viewModels/color';
import { formatSigned, headName, signedPrecision, visibleToken, vocabLookup } from '../src/viewModels/format';
import { onHostMessage, post } from './api';
import { CurveChart } from './charts';
import { button, clear, h, select } from './dom';
import { drawThumbnail, Heatmap } from './heatmap';
import { readPalette, watchTheme, type Palette } from './theme';

const TOP_N = 20;

export function startCircuitsPanel(app: HTMLElement): void {
  let circuits: CircuitsPayload | undefined;
  let headPair: HeadPairPayload | undefined;
  let mlpPair: MlpPairPayload | undefined;
  let focus: { layer: number; head: number } | undefined;
  let kind: CompositionKind = 'k';
  let sortKey: HeadSortKey = 'head';
  let palette: Palette = readPalette();

  const status = h('div', { class: 'status', 'data-testid': 'circuits-status', role: 'status', text: 'Computing the circuits…' });
  const tabs = h('vscode-tabs', { 'data-testid': 'circuits-tabs' }) as HTMLElement & { selectedIndex: number };
  const panels: HTMLElement[] = [];
  for (const [id, title] of [
    ['composition', 'Composition'],
    ['mlp', 'MLP virtual weights'],
    ['heads', 'Heads'],
    ['subspaces', 'Subspaces'],
  ] as const) {
    tabs.append(h('vscode-tab-header', { slot: 'header', id: `tab-${id}` }, title));
    const panel = h('vscode-tab-panel', { id: `panel-${id}` });
    panels.push(panel);
    tabs.append(panel);
  }
  const [compPanel, mlpPanel, headsPanel, subPanel] = panels;
  app.append(h('header', { class: 'top' }, status, h('div', { class: 'tools' }, button('Recompute', () => post({ type: 'computeCircuits' })))), tabs);

  // Composition tab
  const compControls = h('div', { class: 'controls' });
  const compHeat = new Heatmap('composition-heatmap', 'Composition scores, earlier head rows × later head columns', (row, col) => {
    const r = circuits?.report;
    const cell = r && compositionCell(r.nLayer, r.nHead, row, col);
    if (cell) post({ type: 'headPair', ...cell, kind });
  });
  const compTable = h('div', { class: 'table-scroll' });
  const pairBox = h('div', { class: 'pair', 'data-testid': 'head-pair' });
  compPanel.append(compControls, h('div', { class: 'dla-columns' }, h('div', { class: 'grid-box' }, compHeat.canvas), compTable), pairBox);

  // MLP tab
  const mlpHeat = new Heatmap('mlp-heatmap', 'MLP to MLP virtual weight norms, reading layer rows × writing layer columns', (row, col) => {
    if (col < row) post({ type: 'mlpPair', writer: col, reader: row });
  });
  const mlpBox = h('div', { class: 'pair', 'data-testid': 'mlp-pair' });
  const mlpEmpty = h('p', { class: 'muted', 'data-testid': 'mlp-empty', hidden: true });
  const headToMlpEmpty = h('p', { class: 'muted', 'data-testid': 'head-to-mlp-empty', hidden: true });
  const mlpToHeadEmpty = h('p', { class: 'muted', 'data-testid': 'mlp-to-head-empty', hidden: true });
  const headToMlp = new Heatmap('head-to-mlp-heatmap', 'Head to MLP virtual weight norms, head rows × reading MLP columns', () => undefined);
  const mlpToHead = new Heatmap('mlp-to-head-heatmap', 'MLP to head virtual weight norms, writing MLP rows × reading head columns', () => undefined);
  mlpPanel.append(
    h('p', { class: 'muted', text: '‖W_in(j)ᵀ W_out(i)‖_F: row = reading MLP j, column = writing MLP i. Click a cell below the diagonal for its strongest neuron pairs.' }),
    mlpEmpty,
    mlpHeat.canvas,
    mlpBox,
    h('h3', { text: 'Head → MLP' }),
    h('p', { class: 'muted', text: '‖W_in(j)ᵀ W_OV(h)‖_F: row = head, column = the MLP that reads it.' }),
    headToMlpEmpty,
    headToMlp.canvas,
    h('h3', { text: 'MLP → head' }),
    h('p', { class: 'muted', text: 'How strongly a later head reads MLP i through its query, key and value: row = MLP, column = head.' }),
    mlpToHeadEmpty,
    mlpToHead.canvas,
  );

  // Heads tab: the focused head's connections (from a trace-panel head cell or a table row), then the table
  const focusBox = h('div', { class: 'pair', 'data-testid': 'head-focus' });
  const headsBox = h('div', { class: 'table-scroll' });
  const headsNote = h('p', { class: 'muted', 'data-testid': 'heads-note' });
  headsPanel.append(focusBox, headsBox, headsNote);

  // Subspaces tab
  const subCanvas = h('canvas', { 'data-testid': 'subspace-chart', role: 'img', 'aria-label': 'Cumulative explained variance of W_E and W_pos' });
  const subChart = new CurveChart(subCanvas);
  const subText = h('div');
  const overlapBox = h('div', { class: 'table-scroll', 'data-testid': 'subspace-overlap' });
  subPanel.append(subText, h('div', { class: 'chart-box' }, subCanvas), button('Save PNG', () => post({ type: 'savePng', name: 'subspaces', dataUrl: subChart.dataUrl() })), overlapBox);

  function renderComposition(): void {
    const r = circuits?.report;
    clear(compControls);
    clear(compTable);
    if (!r) return;
    compControls.append(
      h('label', { text: 'Composition ' }),
      select(
        'Composition kind',
        [
          { value: 'q', label: 'Q-composition' },
          { value: 'k', label: 'K-composition' },
          { value: 'v', label: 'V-composition' },
        ],
        kind,
        (v) => {
          kind = v === 'q' || v === 'v' ? v : 'k';
          renderComposition();
        },
        { 'data-testid': 'composition-kind' },
      ),
      h('span', { class: 'muted', text: ` Random pairs of the same shapes score ≈ ${r.compositionBaseline.toFixed(3)}.` }),
      button('Save PNG', () => post({ type: 'savePng', name: `composition-${kind}`, dataUrl: compHeat.canvas.toDataURL('image/png') })),
    );
    const values = r.composition[kind];
    const { max } = finiteRange(values);
    const n = r.nLayer * r.nHead;
    const labels = Array.from({ length: n }, (_, i) => headName(Math.floor(i / r.nHead), i % r.nHead));
    compHeat.draw({
      rows: n,
      cols: n,
      values,
      color: (v) => sequentialColor(v, 0, max, palette.background, palette.high),
      rowLabels: labels,
      colLabels: labels,
      rowTitle: 'writing head (earlier)',
      colTitle: `reading head (later), through its ${kind === 'q' ? 'queries' : kind === 'k' ? 'keys' : 'values'}`,
      scale: { min: 0, max, unit: `${kind.toUpperCase()}-composition score` },
      cell: 14,
      maxWidth: Math.max(300, Math.min(900, app.clientWidth * 0.6)),
      font: palette.font,
      textColor: cssRgb(palette.foreground),
      markColor: palette.focus,
      describe: (row, col, v) => `${labels[row]} → ${labels[col]} ${kind.toUpperCase()} ${v.toFixed(3)}`,
    });
    const table = h('table', { 'data-testid': 'composition-top', class: 'data' });
    table.append(h('thead', {}, h('tr', {}, h('th', { text: 'Pair' }), h('th', { text: `${kind.toUpperCase()} score` }), h('th', { text: '× baseline' }))));
    const body = h('tbody');
    for (const p of compositionTop(r, kind, TOP_N)) {
      const tr = h('tr', { tabindex: 0, class: 'clickable', title: 'Show the virtual weights of this pair' }, h('td', { text: p.label }), h('td', { class: 'num', text: p.score.toFixed(3) }), h('td', { class: 'num', text: r.compositionBaseline > 0 ? (p.score / r.compositionBaseline).toFixed(1) : '–' }));
      const open = (): void => post({ type: 'headPair', layer1: p.layer1, head1: p.head1, layer2: p.layer2, head2: p.head2, kind });
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') open();
      });
      body.append(tr);
    }
    table.append(body);
    compTable.append(table);
  }

  function renderHeadPair(): void {
    clear(pairBox);
    if (!headPair) return;
    const p = headPair.report;
    const decode = vocabLookup(headPair.vocab);
    const name = `${headName(p.layer1, p.head1)} → ${headName(p.layer2, p.head2)}`;
    pairBox.append(
      h('h3', { text: `${name}: W_${p.kind.toUpperCase()}(${headName(p.layer2, p.head2)})ᵀ W_OV(${headName(p.layer1, p.head1)})` }),
      h('p', { text: `‖W_virtual‖_F = ${p.norm.toFixed(3)} · composition score ${p.score.toFixed(3)} · top singular values ${Array.from(p.singularValues.slice(0, 8), (s) => s.toFixed(2)).join(', ')}` }),
    );
    // A zero virtual weight has no directions, only rounding noise (±1e-8) that would read as tokens.
    if (isNegligible(p.norm, p.singularValues)) {
      pairBox.append(h('p', { class: 'muted', 'data-testid': 'head-pair-empty', text: `This virtual weight is zero (‖W_virtual‖_F = ${p.norm.toExponential(1)}): ${headName(p.layer2, p.head2)} does not read what ${headName(p.layer1, p.head1)} writes through its ${p.kind.toUpperCase()} side, so there are no directions to show.` }));
      return;
    }
    const list = h('ol');
    for (const d of p.directions) list.append(h('li', { text: `σ ${d.singularValue.toFixed(2)}: ${d.topTokens.map((t) => `${visibleToken(decode(t.id))} (${signedPrecision(t.value)})`).join(', ')}` }));
    pairBox.append(h('p', { class: 'muted', text: 'Top residual directions, read back as tokens through the unembedding:' }), list);
  }

  function renderMlp(): void {
    const r = circuits?.report;
    if (!r) return;
    const { max } = finiteRange(r.mlpVirtualNorms);
    mlpEmpty.hidden = max > 0;
    mlpEmpty.textContent = max > 0 ? '' : 'Every MLP → MLP virtual weight is zero: this model\'s MLPs write nothing a later MLP reads (in the demo model the MLPs are zero on purpose).';
    mlpHeat.draw({
      rows: r.nLayer,
      cols: r.nLayer,
      values: r.mlpVirtualNorms,
      color: (v) => sequentialColor(v, 0, max, palette.background, palette.high),
      rowLabels: Array.from({ length: r.nLayer }, (_, l) => `MLP ${l}`),
      colLabels: Array.from({ length: r.nLayer }, (_, l) => `MLP ${l}`),
      rowTitle: 'reading MLP j',
      colTitle: 'writing MLP i',
      scale: { min: 0, max, unit: '‖W_in(j)ᵀ W_out(i)‖_F' },
      cell: 26,
      maxWidth: 600,
      font: palette.font,
      textColor: cssRgb(palette.foreground),
      markColor: palette.focus,
      describe: (j, i, v) => (i < j ? `MLP ${i} → MLP ${j}: ${v.toFixed(3)}` : 'no connection (the reader must come after the writer)'),
    });
  }

  function renderHeadMlp(): void {
    const r = circuits?.report;
    if (!r) return;
    const heads = Array.from({ length: r.nLayer * r.nHead }, (_, i) => headName(Math.floor(i / r.nHead), i % r.nHead));
    const mlps = Array.from({ length: r.nLayer }, (_, l) => `MLP ${l}`);
    const common = { font: palette.font, textColor: cssRgb(palette.foreground), markColor: palette.focus, cell: 14, maxWidth: Math.max(300, app.clientWidth - 40) };
    const hm = finiteRange(r.headToMlp).max;
    const mh = finiteRange(r.mlpToHead).max;
    headToMlpEmpty.hidden = hm > 0;
    headToMlpEmpty.textContent = hm > 0 ? '' : 'All zero: no MLP reads what any head writes (the MLPs\' input weights are zero).';
    mlpToHeadEmpty.hidden = mh > 0;
    mlpToHeadEmpty.textContent = mh > 0 ? '' : 'All zero: no MLP writes anything a head could read (the MLPs\' output weights are zero).';
    // [L, H, L] read as (L·H) rows × L columns.
    headToMlp.draw({ ...common, rows: r.nLayer * r.nHead, cols: r.nLayer, values: r.headToMlp, rowLabels: heads, colLabels: mlps, rowTitle: 'writing head', colTitle: 'reading MLP', scale: { min: 0, max: hm, unit: '‖W_in(j)ᵀ W_OV(h)‖_F' }, color: (v) => sequentialColor(v, 0, hm, palette.background, palette.high), describe: (row, j, v) => `${heads[row]} → MLP ${j}: ${v.toFixed(3)}` });
    // [L, L, H] read as L rows (MLP i) × (L·H) columns (head l, h).
    mlpToHead.draw({ ...common, rows: r.nLayer, cols: r.nLayer * r.nHead, values: r.mlpToHead, rowLabels: mlps, colLabels: heads, rowTitle: 'writing MLP', colTitle: 'reading head (Q, K and V together)', scale: { min: 0, max: mh, unit: 'read strength (Frobenius norm)' }, color: (v) => sequentialColor(v, 0, mh, palette.background, palette.high), describe: (i, col, v) => `MLP ${i} → ${heads[col]}: ${v.toFixed(3)}` });
  }

  function renderMlpPair(): void {
    clear(mlpBox);
    if (!mlpPair) return;
    const p = mlpPair.report;
    mlpBox.append(h('h3', { text: `MLP ${p.writer} → MLP ${p.reader}: ‖W_virtual‖_F = ${p.norm.toFixed(3)}` }));
    const table = h('table', { class: 'data' }, h('thead', {}, h('tr', {}, h('th', { text: 'reader neuron' }), h('th', { text: 'writer neuron' }), h('th', { text: 'W_virtual' }))));
    const body = h('tbody');
    for (const q of p.pairs) body.append(h('tr', {}, h('td', { class: 'num', text: String(q.readerNeuron) }), h('td', { class: 'num', text: String(q.writerNeuron) }), h('td', { class: 'num', text: formatSigned(q.value, 4) })));
    table.append(body);
    mlpBox.append(table);
  }

  function renderHeads(): void {
    const r = circuits?.report;
    clear(headsBox);
    if (!r) return;
    const cols: { key: HeadSortKey; label: string }[] = [
      { key: 'head', label: 'Head' },
      { key: 'previousToken', label: 'Previous token' },
      { key: 'duplicateToken', label: 'Duplicate token' },
      { key: 'induction', label: 'Induction' },
      { key: 'copying', label: 'OV copying' },
      { key: 'writeEffectiveRank', label: 'Write eff. rank' },
    ];
    const headRow = h('tr');
    for (const c of cols) {
      const b = h('button', { class: 'sort', 'aria-sort': c.key === sortKey ? (c.key === 'head' ? 'ascending' : 'descending') : undefined, text: c.label });
      b.addEventListener('click', () => {
        sortKey = c.key;
        renderHeads();
      });
      headRow.append(h('th', { scope: 'col' }, b));
      // Role right after the head's name: visible without scrolling the wide table sideways.
      if (c.key === 'head') headRow.append(h('th', { text: 'Role' }));
    }
    headRow.append(h('th', { text: 'Positional QK' }), h('th', { text: 'Ablate in the trace' }));
    const body = h('tbody');
    const P = r.positionalQkSize;
    const copyScale = 1;
    const ceilings = r.detectorCeilings;
    for (const s of sortHeads(r.heads, sortKey)) {
      const canvas = h('canvas', { 'aria-label': `positional QK of ${headName(s.layer, s.head)}` });
      const start = (s.layer * r.nHead + s.head) * P * P;
      const qk = r.positionalQk.subarray(start, start + P * P);
      const scale = maxAbs(qk);
      drawThumbnail(canvas, qk, P, P, 48, (v) => divergingColor(v, scale, palette.negative, palette.background, palette.positive));
      const cell = (v: number, diverging = false, ceiling = 1): HTMLElement => {
        const td = h('td', { class: 'num', text: v.toFixed(3) });
        if (!diverging && ceiling < 1) td.title = `${v.toFixed(3)} of at most ${ceiling.toFixed(3)} on these sequences: ${Math.round(relativeScore(v, ceiling) * 100)} % of a perfect head`;
        const bg = diverging ? divergingColor(v, copyScale, palette.negative, palette.background, palette.positive) : sequentialColor(v, 0, ceiling, palette.background, palette.high);
        td.style.backgroundColor = cssRgb(bg);
        td.style.color = palette.textOn(bg);
        return td;
      };
      const tr = h(
        'tr',
        { 'data-layer': s.layer, 'data-head': s.head, class: focus && focus.layer === s.layer && focus.head === s.head ? 'focused' : undefined },
        h('th', { scope: 'row', text: headName(s.layer, s.head) }),
        h('td', { 'data-testid': 'head-role', text: headRole(s, ceilings) ?? '' }),
        cell(s.previousToken, false, ceilings.previousToken),
        cell(s.duplicateToken, false, ceilings.duplicateToken),
        cell(s.induction, false, ceilings.induction),
        cell(s.copying, true),
        h('td', { class: 'num', text: s.writeEffectiveRank.toFixed(1) }),
        h('td', {}, canvas),
        h('td', {}, ablateButton(s.layer, s.head, 'zero'), ablateButton(s.layer, s.head, 'mean')),
      );
      // a row shows that head's connections above the table
      const choose = (): void => {
        focus = { layer: s.layer, head: s.head };
        renderHeads();
        renderFocusDetails();
      };
      tr.tabIndex = 0;
      tr.classList.add('clickable');
      tr.addEventListener('click', choose);
      tr.addEventListener('keydown', (e) => {
        if (e.target === tr && (e.key === 'Enter' || e.key === ' ')) {
          choose();
          e.preventDefault();
        }
      });
      body.append(tr);
    }
    headsBox.append(h('table', { class: 'data', 'data-testid': 'heads-table' }, h('thead', {}, headRow), body));
    // Under the scrolled table, not inside it, so it is never clipped.
    headsNote.textContent =
      `Detector scores are TransformerLens's detect_head ("mul") on repeated random sequences. A perfect head reaches at most ` +
      `${ceilings.previousToken.toFixed(3)} (previous token), ${ceilings.duplicateToken.toFixed(3)} (duplicate token) and ${ceilings.induction.toFixed(3)} (induction) there: ` +
      `only the second half repeats. Colours and Role are relative to that maximum; Role names the best detector at ${Math.round(ROLE_THRESHOLD * 100)} % or more of it.`;
  }

  /** Re-runs the current trace with this head ablated (the trace panel shows the change). */
  function ablateButton(layer: number, head: number, mode: 'zero' | 'mean'): HTMLElement {
    const b = h('button', { class: 'link-button', 'data-testid': `ablate-${mode}`, title: `${mode === 'zero' ? 'Zero' : 'Mean'}-ablate ${headName(layer, head)} in the current trace`, text: mode });
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      post({ type: 'ablate', layer, head, mode });
    });
    b.addEventListener('keydown', (e) => e.stopPropagation());
    return b;
  }

  function renderSubspaces(): void {
    const r = circuits?.report;
    clear(subText);
    if (!r) return;
    const { embedding: e, positional: p } = r.subspaces;
    subText.append(
      h('p', { text: `W_E: ${e.at50} / ${e.at80} / ${e.at90} principal directions explain 50 / 80 / 90 % of the variance.` }),
      h('p', { text: `W_pos: ${p.at50} / ${p.at80} / ${p.at90} directions explain 50 / 80 / 90 %.` }),
    );
    if (curvesCoincide(e.cumulative, p.cumulative)) {
      subText.append(h('p', { class: 'muted', 'data-testid': 'subspace-same', text: 'The two curves coincide (within 0.001): W_pos (dashed) lies on W_E.' }));
    }
    clear(overlapBox);
    const overlap = r.subspaces.headOverlap;
    if (overlap) {
      const top = (['k', 'q', 'v'] as const).flatMap((k) => compositionTop({ nLayer: r.nLayer, nHead: r.nHead, composition: overlap }, k, 5).map((p) => ({ ...p, k })));
      overlapBox.append(
        h('h3', { text: 'Write → read subspace overlap' }),
        h('p', {
          class: 'muted',
          text: `Mean squared cosine of the principal angles between a head's write subspace (W_O) and a later head's query / key / value read subspace; random subspaces ≈ ${overlap.baseline.toFixed(3)}. Click a row for the pair's virtual weights.`,
        }),
        h(
          'table',
          { class: 'data' },
          h('thead', {}, h('tr', {}, ...['Pair', 'Read', 'Overlap'].map((t) => h('th', { scope: 'col', text: t })))),
          h(
            'tbody',
            {},
            ...top
              .filter((p) => p.score > 0)
              .map((p) => {
                const open = (): void => post({ type: 'headPair', layer1: p.layer1, head1: p.head1, layer2: p.layer2, head2: p.head2, kind: p.k });
                const tr = h('tr', { tabindex: 0, class: 'clickable', title: 'Show the virtual weights of this pair' }, h('td', { text: p.label }), h('td', { text: p.k.toUpperCase() }), h('td', { class: 'num', text: p.score.toFixed(3) }));
                tr.addEventListener('click', open);
                tr.addEventListener('keydown', (e) => {
                  if (e.key === 'Enter' || e.key === ' ') {
                    open();
                    e.preventDefault();
                  }
                });
                return tr;
              }),
          ),
        ),
      );
    }
    subChart.draw(
      [
        { label: 'W_E (token embedding)', values: e.cumulative },
        { label: 'W_pos (positional embedding)', values: p.cumulative },
      ],
      palette,
      { x: 'principal directions kept (count)', y: 'cumulative fraction of variance explained' },
    );
  }

  /** Largest scores of one [L, H, L, H] tensor into (`into`) or out of the head. */
  function linksOf(values: Float32Array, r: { nLayer: number; nHead: number }, layer: number, head: number, into: boolean, n: number): { other: string; score: number }[] {
    const { nLayer: L, nHead: H } = r;
    const out: { other: string; score: number }[] = [];
    for (let l = into ? 0 : layer + 1; l < (into ? layer : L); l++) {
      for (let hd = 0; hd < H; hd++) {
        const score = values[into ? ((l * H + hd) * L + layer) * H + head : ((layer * H + head) * L + l) * H + hd] as number;
        if (score > 0) out.push({ other: headName(l, hd), score });
      }
    }
    return out.sort((a, b) => b.score - a.score).slice(0, n);
  }

  /** The focused head's strongest composition partners (and subspace overlaps) in both directions. */
  function renderFocusDetails(): void {
    clear(focusBox);
    const r = circuits?.report;
    if (!r || !focus || focus.layer >= r.nLayer || focus.head >= r.nHead) return;
    const { layer, head } = focus;
    const overlap = r.subspaces.headOverlap;
    const rows: string[][] = [];
    for (const k of ['k', 'q', 'v'] as const) {
      for (const into of [true, false]) {
        for (const link of linksOf(r.composition[k], r, layer, head, into, 3)) {
          const [w, rd] = into ? [link.other, headName(layer, head)] : [headName(layer, head), link.other];
          const o = overlap ? linksOf(overlap[k], r, layer, head, into, r.nLayer * r.nHead).find((x) => x.other === link.other)?.score ?? 0 : undefined;
          rows.push([`${w} → ${rd}`, k.toUpperCase(), link.score.toFixed(3), o === undefined ? '' : o.toFixed(3)]);
        }
      }
    }
    const hs = r.heads.find((x) => x.layer === layer && x.head === head);
    focusBox.append(
      h('h3', { text: `${headName(layer, head)}${hs ? ` — previous-token ${hs.previousToken.toFixed(3)}, induction ${hs.induction.toFixed(3)}, OV copying ${hs.copying.toFixed(3)}` : ''}` }),
      rows.length
        ? h(
            'table',
            { class: 'data' },
            h('thead', {}, h('tr', {}, ...['Pair', 'Kind', 'Composition', 'Subspace overlap'].map((t) => h('th', { scope: 'col', text: t })))),
            h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((t, i) => h(i === 0 ? 'th' : 'td', { text: t, class: i >= 2 ? 'num' : undefined }))))),
          )
        : h('p', { class: 'muted', text: 'No composition with other heads above 0.' }),
      h('p', { class: 'muted', text: `Random pairs score ≈ ${r.compositionBaseline.toFixed(3)} (composition)${overlap ? ` and ${overlap.baseline.toFixed(3)} (overlap)` : ''}.` }),
    );
  }

  function renderFocus(): void {
    renderFocusDetails();
    if (!focus) return;
    tabs.selectedIndex = 2;
    const row = headsBox.querySelector<HTMLElement>(`tr[data-layer="${focus.layer}"][data-head="${focus.head}"]`);
    row?.scrollIntoView({ block: 'center' });
  }

  function renderAll(): void {
    const r = circuits?.report;
    status.textContent = circuits && r ? `${circuits.model} · ${r.nLayer} layers × ${r.nHead} heads` : 'Computing the circuits…';
    renderComposition();
    renderMlp();
    renderHeadMlp();
    renderHeads();
    renderSubspaces();
    renderHeadPair();
    renderMlpPair();
    renderFocus();
  }

  onHostMessage((msg: HostToWebview) => {
    switch (msg.type) {
      case 'circuits':
        circuits = msg.circuits;
        renderAll();
        break;
      case 'headPair':
        headPair = msg.pair;
        tabs.selectedIndex = 0;
        renderHeadPair();
        pairBox.scrollIntoView({ block: 'nearest' });
        break;
      case 'mlpPair':
        mlpPair = msg.pair;
        renderMlpPair();
        break;
      case 'focusHead':
        focus = { layer: msg.layer, head: msg.head };
        renderHeads();
        renderFocus();
        break;
      case 'status':
        status.textContent = msg.text;
        break;
    }
  });
  watchTheme(() => {
    palette = readPalette();
    renderAll();
  });
  post({ type: 'ready', view: 'circuits' });
}
