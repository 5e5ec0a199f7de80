/**
 * View models: the pure functions that turn a trace / lens / attribution / circuits report into
 * what each view shows. Small hand-made inputs; every expected value is worked out by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CircuitsReport, HeadScores } from '../../src/analysis/circuitTypes';
import type { ComponentLabel } from '../../src/engine/types';
import type { LensPayload, TokenPayload } from '../../src/protocol/webview';
import { attributionResidual, dlaItems, topComponentTexts } from '../../src/viewModels/attribution';
import { compositionCell, compositionTop, curvesCoincide, headRole, isNegligibleVirtualWeight, relativeScore, sortHeads } from '../../src/viewModels/circuits';
import { contrast, divergingColor, finiteRange, maxAbs, mix, parseCssColor, readableOn, sequentialColor } from '../../src/viewModels/color';
import { componentShortName, formatFixed, formatMiB, formatProb, formatRank, formatSigned, lensRowHook, lensRowLabel, MINUS, signedPrecision, visibleToken, vocabLookup, vsceSizeInMiB } from '../../src/viewModels/format';
import { escapeMarkdown, firstLensRow, hoverMarkdown } from '../../src/viewModels/hover';
import { lensCsv, lensMarkdown, lensTableView } from '../../src/viewModels/lens';
import { column, headPattern, residualChartView } from '../../src/viewModels/residual';
import { maxPoolPattern, poolHeadPatterns } from '../../src/analysis/patternPool';
import { tokenChips } from '../../src/viewModels/tokens';
import { applyEdit, locateText, tokenAt } from '../../src/viewModels/tracedRange';

const tok = (id: number, text: string, extra: Partial<TokenPayload> = {}): TokenPayload => ({ id, text, partial: false, special: false, ...extra });

describe('shared formatting rules (panel, hover, CLI, packaging)', () => {
  test('ranks read from 1; machine formats keep 0 = top-1', () => {
    assert.equal(formatRank(0), '#1');
    assert.equal(formatRank(811), '#812');
    assert.equal(formatRank(-1), '\u2013');
    assert.equal(formatRank(null), '\u2013');
  });
  test('lens rows carry TransformerLens accumulated_resid labels', () => {
    assert.deepEqual([0, 1, 2].map((r) => lensRowLabel(r, 2)), ['0_pre', '1_pre', 'final_post']);
    assert.deepEqual([0, 2].map((r) => lensRowHook(r, 2)), ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_post']);
  });
  test('no negative zero, and no 0.0% for a non-zero probability', () => {
    assert.equal(formatFixed(-0.00001, 4), '0.0000');
    assert.equal(formatFixed(-0.00005, 4), '-0.0001');
    assert.equal(formatFixed(-0, 2), '0.00');
    assert.equal(formatFixed(1.23456, 3), '1.235');
    assert.equal(formatProb(0.0004), '<0.1%');
    assert.equal(formatProb(1e-12), '<0.1%');
    assert.equal(formatProb(0), '0%');
    assert.equal(formatProb(0.001), '0.1%');
  });
  test('.vsix sizes in one unit, MiB, also in vsce\'s own line', () => {
    assert.equal(formatMiB(67_800_000), '64.7 MiB');
    assert.equal(vsceSizeInMiB('DONE  Packaged: /x/residual-lens-linux-x64-0.1.0.vsix (2291 files, 64.66 MB)'), 'DONE  Packaged: /x/residual-lens-linux-x64-0.1.0.vsix (2291 files, 64.66 MiB)');
  });
});

describe('format', () => {
  test('signed numbers use a real minus and one decimal by default', () => {
    assert.equal(formatSigned(3.14), '+3.1');
    assert.equal(formatSigned(-1.25, 2), `${MINUS}1.25`);
    assert.equal(formatSigned(-0.01), '+0.0'); // rounds to zero: no "−0.0"
  });
  test('signed significant digits for small values', () => {
    assert.equal(signedPrecision(0.0031415), '+0.0031');
    assert.equal(signedPrecision(-1.25), `${MINUS}1.3`);
    assert.equal(signedPrecision(0), '+0.0');
  });
  test('probabilities', () => {
    assert.equal(formatProb(0.4234), '42%');
    assert.equal(formatProb(0.031), '3.1%');
    assert.equal(formatProb(0.0004), '<0.1%');
  });
  test('whitespace and control characters become visible', () => {
    assert.equal(visibleToken(' the'), '\u00b7the');
    assert.equal(visibleToken('a\nb\tc'), 'a\u21b5b\u2192c');
    assert.equal(visibleToken('\u0001'), '\\x01');
    assert.equal(visibleToken('\u007f'), '\\x7f');
    // Invisible or space-like characters some GPT-2 tokens hold (no-break space: 52 tokens).
    assert.equal(visibleToken(' \u00a0'), '\u00b7\\u00a0');
    assert.equal(visibleToken('a\u200bb\u00adc\u200ed\u202ee\ufeff'), 'a\\u200bb\\u00adc\\u200ed\\u202ee\\ufeff');
    assert.equal(visibleToken('\u0085\u2028\u3000'), '\\u0085\\u2028\\u3000');
    // Visible text is left alone: letters, CJK, emoji, combining marks, U+FFFD of a split character.
    assert.equal(visibleToken('é残差🧪e\u0301\ufffd'), 'é残差🧪e\u0301\ufffd');
  });
  test('component names', () => {
    const c = (kind: ComponentLabel['kind'], layer: number, head: number, name: string): ComponentLabel => ({ kind, layer, head, name });
    assert.equal(componentShortName(c('head', 9, 6, 'L9H6')), 'L9 H6');
    assert.equal(componentShortName(c('mlp', 10, -1, 'MLP 10')), 'MLP 10');
    assert.equal(componentShortName(c('attn_bias', 3, -1, 'L3 attn bias')), 'L3 attn bias');
    assert.equal(componentShortName(c('embed', -1, -1, 'embed')), 'embed');
  });
  test('vocab lookup falls back to #id', () => {
    const v = vocabLookup([[1, 'a']], [[2, 'b']]);
    assert.equal(v(1), 'a');
    assert.equal(v(2), 'b');
    assert.equal(v(3), '#3');
  });
});

describe('token chips', () => {
  test('BOS, special and partial tokens are told apart', () => {
    const chips = tokenChips([tok(50256, '<|endoftext|>', { special: true }), tok(464, 'The'), tok(220, ' '), tok(12, '\ufffd', { partial: true }), tok(50256, '<|endoftext|>', { special: true })]);
    assert.deepEqual(
      chips.map((c) => [c.pos, c.id, c.label, c.bos, c.special, c.partial]),
      [
        [0, 50256, 'BOS', true, true, false],
        [1, 464, 'The', false, false, false],
        [2, 220, '\u00b7', false, false, false],
        [3, 12, '\ufffd', false, false, true],
        [4, 50256, '<|endoftext|>', false, true, false],
      ],
    );
    assert.equal(chips[3].title, 'pos 3 · id 12 · "\ufffd" · part of a multi-byte character');
  });
});

describe('residual views', () => {
  // L = 2, T = 3; resid rows r = 0..2, value = 10 r + pos.
  const residNorms = Float32Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22]);
  const attnNorms = Float32Array.from([100, 101, 102, 110, 111, 112]);
  const mlpNorms = Float32Array.from([200, 201, 202, 210, 211, 212]);
  test('one position across layers', () => {
    const v = residualChartView(residNorms, attnNorms, mlpNorms, 2, 3, 1);
    assert.deepEqual(v.labels, ['0_pre', '1_pre', 'final_post']);
    assert.deepEqual(v.resid, [1, 11, 21]);
    assert.deepEqual(v.attn, [101, 111, null]);
    assert.deepEqual(v.mlp, [201, 211, null]);
  });
  test('a position outside the trace is refused', () => {
    assert.throws(() => residualChartView(residNorms, attnNorms, mlpNorms, 2, 3, 3), /position 3 is outside 0..2/);
  });
  test('column and head pattern slices', () => {
    assert.deepEqual(Array.from(column(residNorms, 3, 3, 2)), [2, 12, 22]);
    // [L=1, H=2, T=2, T=2]
    const pattern = Float32Array.from([1, 0, 0.5, 0.5, 1, 0, 0.25, 0.75]);
    assert.deepEqual(Array.from(headPattern(pattern, 2, 2, 0, 1)), [1, 0, 0.25, 0.75]);
  });
});

describe('pattern thumbnails', () => {
  test('max-pooling keeps the largest value of each block', () => {
    // T = 4 → S = 2; the source sits at offset 3 of a padded buffer, the output at offset 1.
    // prettier-ignore
    const src = Float32Array.from([9, 9, 9,
      0.1, 0, 0, 0.2,
      0.3, 0, 0, 0,
      0.9, 0.1, 0.4, 0,
      0.5, 0.6, 0.7, 0]);
    const dst = new Float32Array(5).fill(-1);
    maxPoolPattern(src, 3, 4, dst, 1, 2);
    // rows 0–1 × cols 0–1: {0.1, 0, 0.3, 0} → 0.3; rows 0–1 × cols 2–3: {0, 0.2, 0, 0} → 0.2
    // rows 2–3 × cols 0–1: {0.9, 0.1, 0.5, 0.6} → 0.9; rows 2–3 × cols 2–3: {0.4, 0, 0.7, 0} → 0.7
    assert.deepEqual(Array.from(dst, (x) => Math.round(x * 10) / 10), [-1, 0.3, 0.2, 0.9, 0.7]);
  });
  test('uneven blocks (T = 5 → S = 2) cover every row once', () => {
    const T = 5;
    const src = new Float32Array(T * T);
    src[4 * T + 4] = 1; // only the last cell is set
    src[2 * T + 0] = 0.5; // row 2 belongs to the second block (⌊2·5/2⌋ = 5 → rows 2..4)
    const dst = new Float32Array(4);
    maxPoolPattern(src, 0, T, dst, 0, 2);
    assert.deepEqual(Array.from(dst), [0, 0, 0.5, 1]);
  });
  test('a stack of heads: each head pooled on its own; S = T copies; heads outside the stack are refused', () => {
    // [3 heads, T = 2, T = 2]: head h holds h·10 + cell index.
    const stack = Float32Array.from({ length: 12 }, (_, i) => Math.floor(i / 4) * 10 + (i % 4));
    assert.deepEqual(Array.from(poolHeadPatterns(stack, 2, 1, 2, 1)), [13, 23]);
    const copy = poolHeadPatterns(stack, 2, 2, 1, 2);
    assert.deepEqual(Array.from(copy), [20, 21, 22, 23]);
    copy[0] = -1;
    assert.equal(stack[8], 20, 'a copy, not a view');
    assert.throws(() => poolHeadPatterns(stack, 2, 2, 2, 1), /heads 2\.\.3 are outside a pattern stack of 3 heads/);
  });
  test('pooling into more cells than positions is refused', () => {
    assert.throws(() => maxPoolPattern(new Float32Array(4), 0, 2, new Float32Array(9), 0, 3), /cannot pool 2 positions into 3/);
  });
});

describe('logit lens table', () => {
  // rows = 2 (L = 1), T = 3, k = 2. Tokens: BOS, "a"(1), "b"(2).
  const tokens = [tok(50256, '<|endoftext|>', { special: true }), tok(1, 'a'), tok(2, 'b,"x')];
  const lens: LensPayload = {
    traceId: 1,
    rows: 2,
    positions: 3,
    k: 2,
    // [row, pos, k]
    ids: Int32Array.from([1, 2, 5, 2, 1, 2, 1, 5, 2, 1, 5, 1]),
    probs: Float32Array.from([0.5, 0.2, 0.6, 0.1, 0.3, 0.2, 0.9, 0.05, 0.8, 0.1, 0.7, 0.2]),
    nextTokenRank: Int32Array.from([0, 1, -1, 0, 0, -1]),
    vocab: [
      [1, 'a'],
      [2, 'b,"x'],
      [5, ' e'],
    ],
  };
  const view = lensTableView(lens, tokens, vocabLookup(lens.vocab), 1);
  test('cells hold the top-1, its probability and whether it is the next token', () => {
    assert.deepEqual(view.columns.map((c) => c.label), ['BOS', 'a', 'b,"x']);
    assert.deepEqual(view.rows.map((r) => r.label), ['0_pre', 'final_post']);
    const row0 = view.rows[0].cells;
    assert.deepEqual(row0.map((c) => [c.top1Id, c.top1Text, c.isNext, c.nextRank]), [
      [1, 'a', true, 0], // next token after BOS is "a" (id 1)
      [5, '\u00b7e', false, 1], // next is id 2; top-1 is 5
      [1, 'a', false, -1], // last position: no next token
    ]);
    assert.ok(Math.abs(row0[1].prob - 0.6) < 1e-6);
    assert.equal(row0[0].title, '0_pre · pos 0\na  50%\nb,"x  20%');
  });
  test('the rank row shows the final-row rank and every row in its tooltip', () => {
    assert.deepEqual(view.rank.map((r) => r.text), ['#1', '#1', '\u2013']);
    assert.equal(view.rank[1].title, 'rank of the next token: 0_pre #2 · final_post #1');
    assert.equal(view.rank[2].title, 'no next token');
  });
  test('CSV is long format with RFC 4180 quoting', () => {
    const lines = lensCsv(view, tokens).trimEnd().split('\n');
    assert.equal(lines[0], 'layer,pos,token,next_token,top1,prob,top1_is_next,next_rank');
    assert.equal(lines.length, 1 + 2 * 3);
    assert.equal(lines[1], '0_pre,0,<|endoftext|>,a,a,0.500000,1,0');
    assert.equal(lines[2], '0_pre,1,a,"b,""x",\u00b7e,0.600000,0,1');
    assert.equal(lines[3], '0_pre,2,"b,""x",,a,0.300000,0,');
  });
  test('Markdown mirrors the panel with a rank row', () => {
    const md = lensMarkdown(view).trimEnd().split('\n');
    assert.equal(md[0], '| layer | BOS | a | b,"x |');
    assert.equal(md[2], '| 0_pre | a (50%) \u2713 | \u00b7e (60%) | a (30%) |');
    assert.equal(md[4], '| next-token rank | #1 | #1 | \u2013 |');
  });
  test('a lens of the wrong width is refused', () => {
    assert.throws(() => lensTableView(lens, tokens.slice(0, 2), vocabLookup(), 1), /3 positions but the trace has 2 tokens/);
  });
});

describe('direct logit attribution', () => {
  const components: ComponentLabel[] = [
    { kind: 'embed', layer: -1, head: -1, name: 'embed' },
    { kind: 'pos_embed', layer: -1, head: -1, name: 'pos_embed' },
    { kind: 'head', layer: 0, head: 0, name: 'L0H0' },
    { kind: 'head', layer: 0, head: 1, name: 'L0H1' },
    { kind: 'attn_bias', layer: 0, head: -1, name: 'L0 attn bias' },
    { kind: 'mlp', layer: 0, head: -1, name: 'MLP 0' },
  ];
  const values = Float32Array.from([0.5, -0.25, 3.125, -1.25, 0.0625, -3.5]);
  test('sorted by |value|, largest first', () => {
    assert.deepEqual(dlaItems({ components, values }).map((i) => i.text), [`MLP 0 ${MINUS}3.50`, 'L0 H0 +3.13', `L0 H1 ${MINUS}1.25`, 'embed +0.50', `pos_embed ${MINUS}0.25`, 'L0 attn bias +0.06']);
    assert.deepEqual(topComponentTexts({ components, values }, 2), [`MLP 0 ${MINUS}3.5`, 'L0 H0 +3.1']);
  });
  test('the hover lists only components that contribute at its precision: no +0.0 padding, no NaN', () => {
    const few = Float32Array.from([0.04, -0.01, 13.96, 0, -0.049, NaN]);
    assert.deepEqual(topComponentTexts({ components, values: few }, 5), ['L0 H0 +14.0']);
    assert.deepEqual(topComponentTexts({ components, values: new Float32Array(6) }, 5), []);
    assert.deepEqual(topComponentTexts({ components, values: Float32Array.from([0.05, 0, 0, 0, 0, -0.06]) }, 5), [`MLP 0 ${MINUS}0.1`, 'embed +0.1']);
  });
  test('NaN sorts last; ties keep canonical order', () => {
    const items = dlaItems({ components: components.slice(0, 3), values: Float32Array.from([NaN, 1, -1]) });
    assert.deepEqual(items.map((i) => i.index), [1, 2, 0]);
  });
  test('label / value count mismatch is refused', () => {
    assert.throws(() => dlaItems({ components, values: new Float32Array(2) }), /6 component labels but 2 values/);
  });
  test('the sum check: logit = Σ values + ln bias term', () => {
    const logit = 0.5 - 0.25 + 3.125 - 1.25 + 0.0625 - 3.5 + 0.75;
    assert.ok(Math.abs(attributionResidual({ values, lnBiasTerm: 0.75, logit })) < 1e-6);
  });
});

describe('hover', () => {
  test('first lens row that already has the final top-1', () => {
    // rows = 3, T = 2, k = 1: at pos 1 the top-1 ids are 7, 9, 9 → row 1.
    const ids = Int32Array.from([1, 7, 2, 9, 3, 9]);
    assert.equal(firstLensRow(ids, 3, 2, 1, 1), 1);
    assert.equal(firstLensRow(ids, 3, 2, 1, 0), 2); // 1, 2, 3: only the final row
  });
  test('markdown has the sections the end-to-end tests look for, with escaped token text', () => {
    const md = hoverMarkdown({
      pos: 2,
      tokenText: ' *x*',
      tokenId: 1635,
      model: 'demo',
      predictions: [
        { text: ' the', prob: 0.5 },
        { text: '|', prob: 0.25 },
      ],
      components: ['L1 H0 +3.1', `MLP 0 ${MINUS}1.2`],
      firstLensRow: 1,
      nLayer: 2,
    });
    assert.ok(md.includes('token " \\*x\\*" · id 1635'));
    assert.ok(md.includes('**Top predictions** \u00b7the 50% \u00b7 \\| 25%'));
    assert.ok(md.includes(`**Top components** to \u00b7the: \`L1 H0 +3.1\` \u00b7 \`MLP 0 ${MINUS}1.2\``));
    assert.ok(md.includes('The logit lens predicts the final top-1 from 1_pre on.'));
    // One screen: four paragraphs, whatever the number of predictions and components.
    assert.equal(md.split('\n\n').length, 4);
    assert.ok(md.split('\n').every((line) => !/^\d+\. /.test(line)), 'no list items, one line per section');
  });
  test('escapeMarkdown escapes every markup character', () => {
    assert.equal(escapeMarkdown('a*b_c`d[e](f)<g>|h'), 'a\\*b\\_c\\`d\\[e\\]\\(f\\)\\<g\\>\\|h');
  });
});

describe('circuits views', () => {
  // L = 2, H = 2; K-composition non-zero only for l1 = 0 < l2 = 1.
  const L = 2;
  const H = 2;
  const k = new Float32Array(L * H * L * H);
  const at = (l1: number, h1: number, l2: number, h2: number): number => ((l1 * H + h1) * L + l2) * H + h2;
  k[at(0, 0, 1, 0)] = 0.125;
  k[at(0, 1, 1, 1)] = 0.05;
  k[at(0, 1, 1, 0)] = 0.07;
  k[at(1, 0, 0, 0)] = 9; // below the diagonal: must be ignored
  const report = { nLayer: L, nHead: H, composition: { q: new Float32Array(16), k, v: new Float32Array(16) } };
  test('top pairs, best first, only earlier → later', () => {
    const top = compositionTop(report, 'k', 3);
    assert.deepEqual(top.map((p) => [p.label, p.score]), [
      ['L0H0 \u2192 L1H0', 0.125],
      ['L0H1 \u2192 L1H0', k[at(0, 1, 1, 0)]],
      ['L0H1 \u2192 L1H1', k[at(0, 1, 1, 1)]],
    ]);
  });
  test('heatmap cell → pair', () => {
    assert.deepEqual(compositionCell(L, H, 1, 2), { layer1: 0, head1: 1, layer2: 1, head2: 0 });
    assert.equal(compositionCell(L, H, 2, 1), undefined);
    assert.equal(compositionCell(L, H, 0, 1), undefined); // same layer
  });
  const head = (layer: number, h: number, s: Partial<HeadScores>): HeadScores => ({ layer, head: h, previousToken: 0, duplicateToken: 0, induction: 0, copying: 0, writeEffectiveRank: 1, ...s });
  const heads = [head(0, 0, { previousToken: 0.95 }), head(0, 1, { induction: 0.3 }), head(1, 0, { induction: 0.9, copying: 0.8 }), head(1, 1, {})];
  test('heads sort by score, descending, ties by place', () => {
    assert.deepEqual(sortHeads(heads, 'induction').map((x) => `${x.layer}.${x.head}`), ['1.0', '0.1', '0.0', '1.1']);
    assert.deepEqual(sortHeads([...heads].reverse(), 'head').map((x) => `${x.layer}.${x.head}`), ['0.0', '0.1', '1.0', '1.1']);
  });
  test('head roles need a score of at least half of what the detector can reach', () => {
    const full = { previousToken: 1, duplicateToken: 1, induction: 1 };
    assert.deepEqual(heads.map((x) => headRole(x, full)), ['previous-token', undefined, 'induction', undefined]);
    // The demo's planted induction head: raw 0.488 under a ceiling of 20/41 (n = 20): induction, not blank.
    const demo = { previousToken: 40 / 41, duplicateToken: 20 / 41, induction: 20 / 41 };
    assert.equal(headRole(head(1, 0, { induction: 0.488, previousToken: 0.02 }), demo), 'induction');
    assert.equal(headRole(head(1, 0, { induction: 0.2 }), demo), undefined); // 41 % of a perfect head
    // Relative scores decide between detectors: 0.45 of 0.4878 (92 %) beats 0.6 of 0.9756 (62 %).
    assert.equal(headRole(head(0, 0, { induction: 0.45, previousToken: 0.6 }), demo), 'induction');
    assert.ok(Math.abs(relativeScore(0.244, 0.488) - 0.5) < 1e-12);
    assert.equal(relativeScore(0.3, 0), 0);
  });
  test('empty results are named: a zero virtual weight has no directions; coinciding curves are said to coincide', () => {
    assert.equal(isNegligibleVirtualWeight(3e-8, Float32Array.from([2e-8, 1e-8])), true);
    assert.equal(isNegligibleVirtualWeight(0, new Float32Array(0)), true);
    assert.equal(isNegligibleVirtualWeight(NaN, Float32Array.from([1])), true);
    assert.equal(isNegligibleVirtualWeight(0.125, Float32Array.from([0.1, 0.05])), false);
    assert.equal(curvesCoincide([0.5, 0.9, 1], [0.5004, 0.9, 1]), true);
    assert.equal(curvesCoincide([0.5, 0.9, 1], [0.4, 0.9, 1]), false);
    assert.equal(curvesCoincide([], [1]), false);
  });
  // Keep the full report type honest: the view models read only these fields.
  const _typed: Pick<CircuitsReport, 'nLayer' | 'nHead' | 'composition'> = report;
  void _typed;
});

describe('colours', () => {
  test('CSS colour parsing', () => {
    assert.deepEqual(parseCssColor('#fff'), [255, 255, 255]);
    assert.deepEqual(parseCssColor('#3794ffcc'), [0x37, 0x94, 0xff]);
    assert.deepEqual(parseCssColor(' rgba(10, 20, 30, 0.5) '), [10, 20, 30]);
    assert.deepEqual(parseCssColor('rgb(300 0 0)'), [255, 0, 0]);
    assert.equal(parseCssColor('#12345'), undefined);
    assert.equal(parseCssColor('var(--x)'), undefined);
  });
  test('mixing and scales', () => {
    assert.deepEqual(mix([0, 0, 0], [200, 100, 50], 0.5), [100, 50, 25]);
    assert.deepEqual(mix([0, 0, 0], [200, 100, 50], 2), [200, 100, 50]);
    assert.deepEqual(mix([0, 0, 0], [200, 100, 50], NaN), [0, 0, 0]);
    assert.deepEqual(sequentialColor(0.25, 0, 1, [0, 0, 0], [100, 200, 40]), [25, 50, 10]);
    assert.deepEqual(divergingColor(-1, 2, [200, 0, 0], [0, 0, 0], [0, 0, 200]), [100, 0, 0]);
    assert.deepEqual(divergingColor(2, 2, [200, 0, 0], [0, 0, 0], [0, 0, 200]), [0, 0, 200]);
    assert.deepEqual(divergingColor(1, 0, [200, 0, 0], [9, 9, 9], [0, 0, 200]), [9, 9, 9]);
  });
  test('ranges handle all-negative values and skip NaN / Inf', () => {
    assert.deepEqual(finiteRange([-3, -1, NaN, -2, Infinity]), { min: -3, max: -1 });
    assert.deepEqual(finiteRange([]), { min: 0, max: 0 });
    assert.equal(maxAbs([-3, 2]), 3);
  });
  test('text colour picks the better contrast', () => {
    assert.ok(Math.abs(contrast([0, 0, 0], [255, 255, 255]) - 21) < 1e-9);
    assert.deepEqual(readableOn([20, 20, 20], [240, 240, 240], [30, 30, 30]), [240, 240, 240]);
    assert.deepEqual(readableOn([250, 250, 250], [240, 240, 240], [30, 30, 30]), [30, 30, 30]);
    // Mid-tone cells: neither theme colour reaches 4.5:1, black or white does, on every colour.
    const darkModern = { bg: [31, 31, 31] as const, fg: [204, 204, 204] as const, blue: [55, 148, 255] as const };
    for (let t = 0; t <= 1.0001; t += 0.05) {
      const cell = sequentialColor(t, 0, 1, darkModern.bg, darkModern.blue);
      const text = readableOn(cell, darkModern.fg, darkModern.bg);
      assert.ok(contrast(cell, text) >= 4.5, `t=${t.toFixed(2)}: ${contrast(cell, text).toFixed(2)}:1`);
    }
    assert.deepEqual(readableOn([120, 120, 120], [200, 200, 200], [40, 40, 40]), [0, 0, 0]);
    for (let g = 0; g <= 255; g += 5) assert.ok(contrast([g, 255 - g, (g * 7) % 256], readableOn([g, 255 - g, (g * 7) % 256], [128, 128, 128], [129, 129, 129])) >= 4.5);
  });
});

describe('traced ranges', () => {
  test('a restored panel finds its text where it was, else the occurrence nearest to it (ties: the earlier)', () => {
    const doc = 'ab cat ab dog ab';
    assert.equal(locateText(doc, 'ab', 7), 7);
    assert.equal(locateText(doc, 'ab', 0), 0);
    assert.equal(locateText(doc, 'ab', 14), 14);
    assert.equal(locateText(doc, 'ab', 6), 7); // moved by one
    assert.equal(locateText(doc, 'ab', 11), 14); // 14 is 3 away, 7 is 4
    assert.equal(locateText(doc, 'ab', 3), 0); // 0 and 7 are 3 and 4 away
    assert.equal(locateText('x ab ab', 'ab', 100), 5); // past the end: the last occurrence
    assert.equal(locateText(doc, 'cow', 3), undefined);
    assert.equal(locateText(doc, '', 3), undefined);
    assert.equal(locateText('aXa', 'a', 1), 0); // equally far: the earlier
  });
  const r = { start: 10, end: 20 };
  test('an edit before the range shifts it', () => {
    assert.deepEqual(applyEdit(r, { offset: 2, length: 3, insertedLength: 5 }), { start: 12, end: 22 });
    assert.deepEqual(applyEdit(r, { offset: 9, length: 0, insertedLength: 1 }), { start: 11, end: 21 });
  });
  test('an edit after the range leaves it', () => {
    assert.equal(applyEdit(r, { offset: 25, length: 2, insertedLength: 0 }), r);
    assert.equal(applyEdit(r, { offset: 20, length: 0, insertedLength: 3 }), r); // typing right after it
  });
  test('an edit touching the range invalidates it', () => {
    assert.equal(applyEdit(r, { offset: 15, length: 1, insertedLength: 0 }), undefined);
    assert.equal(applyEdit(r, { offset: 5, length: 6, insertedLength: 0 }), undefined);
    assert.equal(applyEdit(r, { offset: 10, length: 0, insertedLength: 1 }), undefined); // typing at its first character
    assert.equal(applyEdit(r, { offset: 19, length: 3, insertedLength: 0 }), undefined);
  });
  test('token under an offset; BOS (zero width) never matches', () => {
    const tokens = [
      { start: 0, end: 0 },
      { start: 0, end: 3 },
      { start: 3, end: 7 },
    ];
    assert.equal(tokenAt(tokens, 10, 10), 1);
    assert.equal(tokenAt(tokens, 10, 12), 1);
    assert.equal(tokenAt(tokens, 10, 13), 2);
    assert.equal(tokenAt(tokens, 10, 17), -1);
    assert.equal(tokenAt(tokens, 10, 9), -1);
  });
});
