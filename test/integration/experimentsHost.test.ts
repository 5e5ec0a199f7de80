/**
 * Compare Prompts and head ablation in the extension host, activated against the stub `vscode`
 * (test/helpers/vscodeStub.ts) with the real engine worker on a tiny random checkpoint: the
 * patching panel's messages (session, streamed rows, status, cell top-k, CSV), the values the
 * patching must give where they are known exactly, the bad-input messages (prompts of different
 * lengths, a multi-token answer, a head out of range, hostile page messages), and the trace panel's
 * interventions row and the hover's note.
 */
import { editableDocument, restorePanel, state, textEditor, vscode as stub, Position, Selection, Uri, type FakeWebview } from '../helpers/vscodeStub';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { activate } from '../../src/extension';
import { WEBVIEW_PROTOCOL_VERSION as v } from '../../src/protocol/webview';
import type { PatchSessionPayload } from '../../src/protocol/patchingView';
import { attributedTotal } from '../../src/viewModels/logitDiffAttribution';
import { stubExtensionContext } from '../helpers/extensionHost';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 64, dVocab: 50257 };
type Posted = FakeWebview['posted'][number];

async function waitFor(condition: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs a command that opens a panel titled `title`; says 'ready' for the panel as soon as it exists. */
async function runWithPanel(command: string, title: string, view: string, ...args: unknown[]): Promise<FakeWebview | undefined> {
  const known = new Set(state.webviews);
  const done = Promise.resolve(state.commands.get(command)?.(...args));
  let panel: FakeWebview | undefined;
  const watch = (async () => {
    await waitFor(() => state.webviews.some((w) => !known.has(w) && (w as unknown as { html: string }).html.includes(title)), `the ${title} panel`, 60_000).catch(() => undefined);
    panel = state.webviews.find((w) => !known.has(w));
    panel?.send({ v, type: 'ready', view });
  })();
  await done;
  await Promise.race([watch, new Promise((r) => setTimeout(r, 50))]);
  return panel;
}

const session = (posted: readonly Posted[]): PatchSessionPayload | undefined => posted.filter((m) => m.type === 'patchSession').map((m) => m.session as PatchSessionPayload).at(-1);

describe('experiments in the extension host', () => {
  let root: string;
  const subscriptions: { dispose(): unknown }[] = [];
  let patching: FakeWebview | undefined;
  let wideModel: string;

  before(() => {
    root = makeTempFolder('rl-experiments');
    const model = path.join(root, 'tiny-model');
    writeRandomCheckpoint(model, { ...CONFIG, seed: 7 });
    // 2 layers × 16 heads: more heads than the by-position sweep takes (it takes the 8 the heads map ranks highest)
    wideModel = path.join(root, 'wide-model');
    writeRandomCheckpoint(wideModel, { ...CONFIG, nHead: 16, dModel: 32, seed: 8 });
    state.settings.set('model', model);
    state.settings.set('topK', 5);
    activate(stubExtensionContext(root, subscriptions) as unknown as Parameters<typeof activate>[0]);
  });
  after(() => {
    for (const s of subscriptions.splice(0)) s.dispose();
    removeTempFolder(root);
  });

  it('Compare Prompts with two selections: rows stream to the panel; known cells hold known values; a cell click, CSV', async () => {
    // "The cat sat." / "The dog sat.": BOS + 4 tokens each, differing at position 2
    state.activeTextEditor = textEditor('The cat sat. The dog sat.', [
      [0, 12],
      [13, 25],
    ]);
    state.quickPicks.push(0, 0); // the clean top-1, then the corrupted run's best other token
    patching = await runWithPanel('residualLens.comparePrompts', 'Residual Lens: Patching', 'patching');
    assert.ok(patching, 'the patching panel opened');
    assert.deepEqual(state.messages.splice(0), []);
    const posted = patching.posted;
    const s = session(posted);
    assert.ok(s);
    assert.equal(s.clean.tokens.length, 5);
    assert.deepEqual(
      s.maps.map((m) => [m.kind, m.rows, m.cols]),
      [
        ['resid_pre', 2, 5],
        ['attn_out', 2, 5],
        ['mlp_out', 2, 5],
        ['heads', 2, 2],
        ['patterns', 2, 2],
        ['heads_by_pos', 4, 5],
      ],
    );
    assert.match(s.metricLabel, /^logit\(.+\) − logit\(.+\) at pos 4$/);
    assert.ok(Number.isFinite(s.clean.metric) && Number.isFinite(s.corrupted.metric) && s.clean.metric > s.corrupted.metric, `clean ${s.clean.metric}, corrupted ${s.corrupted.metric}`);
    // logit-difference attribution of both runs: Σ components + bias term = each run's metric
    const attribution = posted.find((m) => m.type === 'patchAttribution')?.attribution as { clean: Float32Array; corrupted: Float32Array; cleanBias: number; corruptedBias: number; components: unknown[] } | undefined;
    assert.ok(attribution, 'the attribution was sent');
    assert.equal(attribution.components.length, 2 + 2 * (2 + 2));
    assert.ok(Math.abs(attributedTotal(attribution.clean, attribution.cleanBias) - s.clean.metric) < 1e-3 * Math.max(1, Math.abs(s.clean.metric)));
    assert.ok(Math.abs(attributedTotal(attribution.corrupted, attribution.corruptedBias) - s.corrupted.metric) < 1e-3 * Math.max(1, Math.abs(s.corrupted.metric)));
    // rows arrive one by one (streamed), then each map whole
    const rows = posted.filter((m) => m.type === 'patchRows');
    assert.ok(rows.filter((m) => (m.metric as Float32Array).length === 5).length >= 2, 'single rows were streamed');
    const final = new Map(rows.filter((m) => m.row0 === 0).map((m) => [m.kind as string, m.metric as Float32Array]));
    for (const spec of s.maps) assert.ok([...(final.get(spec.kind) ?? [])].every(Number.isFinite) && final.get(spec.kind)?.length === spec.rows * spec.cols, `${spec.kind} complete`);
    const status = posted.filter((m) => m.type === 'patchStatus').at(-1);
    assert.match(String(status?.text), /^Done in \d+\.\d s\.$/);
    assert.equal(status?.running, false);
    // resid_pre: positions before the one that differs are the same in both runs (patching changes
    // nothing: the corrupted metric); at layer 0 the differing position is all that differs (the clean metric)
    const resid = final.get('resid_pre') as Float32Array;
    for (const col of [0, 1]) assert.ok(Math.abs(resid[col] - s.corrupted.metric) < 1e-4, `resid_pre L0 pos ${col}: ${resid[col]}`);
    assert.ok(Math.abs(resid[2] - s.clean.metric) < 1e-4, `resid_pre L0 pos 2: ${resid[2]} vs clean ${s.clean.metric}`);
    // hostile and stale cell picks are ignored; a real one gets that run's top-k and metric
    const before = posted.length;
    patching.send({ v, type: 'patchPick', sessionId: s.sessionId, kind: 'heads', row: 99, col: 0 });
    patching.send({ v, type: 'patchPick', sessionId: s.sessionId + 1, kind: 'heads', row: 0, col: 0 });
    patching.send({ v, type: 'patchPick', sessionId: s.sessionId, kind: 'evil', row: 0, col: 0 });
    patching.send({ v, type: 'patchPick', sessionId: s.sessionId, kind: 'resid_pre', row: 0, col: 2 });
    await waitFor(() => posted.slice(before).some((m) => m.type === 'patchCell'), 'the cell top-k');
    const cells = posted.slice(before).filter((m) => m.type === 'patchCell');
    assert.equal(cells.length, 1);
    const cell = cells[0].cell as { kind: string; row: number; col: number; metric: number; top: { ids: Int32Array } };
    assert.deepEqual([cell.kind, cell.row, cell.col], ['resid_pre', 0, 2]);
    assert.ok(Math.abs(cell.metric - s.clean.metric) < 1e-4);
    assert.equal(cell.top.ids.length, 5);
    assert.deepEqual(Array.from(cell.top.ids), Array.from(s.clean.top.ids), 'the run patched back to the clean prompt predicts what the clean run does');
    // CSV: a header and one line per cell
    patching.send({ v, type: 'patchExportCsv', sessionId: s.sessionId });
    await waitFor(() => state.clipboard !== '', 'the CSV');
    const lines = state.clipboard.trimEnd().split('\n');
    assert.equal(lines[0], 'map,layer,head,pos,token,patched_metric,normalised_score');
    assert.equal(lines.length, 1 + s.maps.reduce((n, m) => n + m.rows * m.cols, 0));
    assert.match(lines[1], /^resid_pre,0,,0,<\|endoftext\|>,-?\d+\.\d{6},-?0\.000000$/);
    state.messages.splice(0);
  });

  it('a reloaded window brings the patching panel back: the saved prompts and answers compared again, no questions', async () => {
    assert.ok(patching, 'the first test opened the patching panel');
    const first = session(patching.posted);
    assert.ok(first);
    // What the page saved (setState) for its serializer: the prompts and the answers.
    assert.equal(first.state.clean, 'The cat sat.');
    assert.equal(first.state.corrupted, 'The dog sat.');
    assert.notEqual(first.state.correct.id, first.state.wrong.id);
    const firstRows = new Map(patching.posted.filter((m) => m.type === 'patchRows' && m.row0 === 0 && m.sessionId === first.sessionId).map((m) => [m.kind as string, Array.from(m.metric as Float32Array)]));
    const picksBefore = state.quickPickItems.length;
    const restored = await restorePanel('residualLens.patching', 'Residual Lens: Patching', first.state);
    restored.send({ v, type: 'ready', view: 'patching' });
    // (Its 'ready' also replays this host's current comparison, which a reloaded window's new host would not have.)
    await waitFor(() => restored.posted.some((m) => m.type === 'patchStatus' && m.sessionId !== first.sessionId && m.running === false && /^Done in/.test(String(m.text))), 'the restored comparison');
    const again = session(restored.posted);
    assert.ok(again);
    assert.equal(state.quickPickItems.length, picksBefore, 'no answer was asked for');
    assert.notEqual(again.sessionId, first.sessionId);
    assert.equal(again.metricLabel, first.metricLabel);
    // Where the prompts sat (the stub's doc.txt, which no editor holds any more): saved, then not
    // found on restore, so the restored prompts are text only and their state says nothing of it.
    const { cleanSource, corruptedSource, ...prompts } = first.state;
    assert.deepEqual(cleanSource, { uri: 'file:///work/doc.txt', offset: 0 });
    assert.deepEqual(corruptedSource, { uri: 'file:///work/doc.txt', offset: 13 });
    assert.deepEqual(again.state, prompts);
    assert.ok(state.outputLines.includes('Restoring the patching panel: comparing its two prompts again (clean: not in doc.txt any more, so not linked to an editor; corrupted: not in doc.txt any more, so not linked to an editor).'));
    // Same prompts, same answers, same model: the same numbers.
    assert.equal(again.clean.metric, first.clean.metric);
    assert.equal(again.corrupted.metric, first.corrupted.metric);
    const rows = new Map(restored.posted.filter((m) => m.type === 'patchRows' && m.row0 === 0 && m.sessionId === again.sessionId).map((m) => [m.kind as string, Array.from(m.metric as Float32Array)]));
    assert.deepEqual([...rows.keys()].sort(), [...firstRows.keys()].sort());
    for (const [kind, values] of rows) assert.deepEqual(values, firstRows.get(kind), `${kind} map`);
    // A state that does not parse: the panel comes back empty, with one line in the output; nothing runs.
    const before = state.progress.length;
    const bad = await restorePanel('residualLens.patching', 'Residual Lens: Patching', { clean: 'x', corrupted: 'y', correct: { id: 1, text: 'a' }, wrong: { id: 1, text: 'a' } });
    bad.send({ v, type: 'ready', view: 'patching' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(state.progress.length, before, 'no comparison started');
    assert.deepEqual(bad.posted.filter((m) => m.type === 'patchSession').map((m) => (m.session as PatchSessionPayload).sessionId), [again.sessionId], 'only the replay of the comparison this host already had');
    patching = bad; // the panel the host now posts to (the tests below read it)
    state.messages.splice(0);
  });

  it('a restored comparison whose prompts are still in their document is linked to it again: moved text found, a cell selects its token, an edit marks it stale', async () => {
    const doc = editableDocument('The cat sat. The dog sat.', Uri.file('/work/restore.txt'));
    const editor = {
      document: doc.document,
      selection: new Selection(new Position(0, 0), new Position(0, 12)),
      selections: [new Selection(new Position(0, 0), new Position(0, 12)), new Selection(new Position(0, 13), new Position(0, 25))],
      revealRange: () => undefined,
    };
    state.activeTextEditor = editor;
    (stub.window.visibleTextEditors as unknown[]).push(editor);
    try {
      state.quickPicks.push(0, 0);
      // The panel the earlier tests left (this one alone: a new one).
      let panel = patching;
      if (panel) await state.commands.get('residualLens.comparePrompts')?.();
      else panel = await runWithPanel('residualLens.comparePrompts', 'Residual Lens: Patching', 'patching');
      assert.ok(panel);
      const saved = session(panel.posted)?.state;
      assert.deepEqual([saved?.cleanSource, saved?.corruptedSource], [
        { uri: 'file:///work/restore.txt', offset: 0 },
        { uri: 'file:///work/restore.txt', offset: 13 },
      ]);
      doc.edit(0, 0, 'Say: '); // both prompts move 5 characters on; the saved offsets do not
      const restored = await restorePanel('residualLens.patching', 'Residual Lens: Patching', saved);
      restored.send({ v, type: 'ready', view: 'patching' });
      const first = session(panel.posted);
      await waitFor(() => restored.posted.some((m) => m.type === 'patchStatus' && m.sessionId !== first?.sessionId && m.running === false && /^Done in/.test(String(m.text))), 'the restored comparison');
      const again = session(restored.posted);
      assert.ok(again);
      assert.deepEqual([again.state.cleanSource, again.state.corruptedSource], [
        { uri: 'file:///work/restore.txt', offset: 5 },
        { uri: 'file:///work/restore.txt', offset: 18 },
      ]);
      assert.ok(state.outputLines.includes('Restoring the patching panel: comparing its two prompts again (clean: found again in restore.txt; corrupted: found again in restore.txt).'));
      // A cell at position 2 (" cat"): its token is selected in the clean prompt, where it is now.
      restored.send({ v, type: 'patchPick', sessionId: again.sessionId, kind: 'resid_pre', row: 0, col: 2 });
      await waitFor(() => restored.posted.some((m) => m.type === 'patchCell'), 'the cell');
      assert.deepEqual([editor.selection.start.character, editor.selection.end.character], [8, 12]);
      assert.equal(doc.text().slice(8, 12), ' cat');
      // An edit inside the corrupted prompt: the restored results are marked stale. (The panel's
      // 'ready' also replayed the first comparison, which 'Say: ' made stale; a reloaded window's
      // new host would not have it.)
      const staleOfRestored = (): unknown[] => restored.posted.filter((m) => m.type === 'patchStale' && m.sessionId === again.sessionId).map((m) => m.reason);
      assert.deepEqual(staleOfRestored(), []);
      doc.edit(22, 3, 'cow');
      assert.deepEqual(staleOfRestored(), ['the corrupted prompt was edited; compare again for current results.']);
      patching = restored;
    } finally {
      (stub.window.visibleTextEditors as unknown[]).splice(0);
      state.messages.splice(0);
    }
  });

  it('prompts of different lengths: said, both tokenizations sent, no patching', async () => {
    state.activeTextEditor = textEditor('The cat sat. The big grey dog sat down.', [
      [0, 12],
      [13, 39],
    ]);
    state.quickPicks.push(0, 0);
    const known = patching?.posted.length ?? 0;
    await state.commands.get('residualLens.comparePrompts')?.();
    assert.equal(state.messages.length, 1);
    assert.match(state.messages[0], /^warning: The clean prompt is 5 tokens and the corrupted one 8: position-wise patching needs the same number of tokens\./);
    const s = session(patching?.posted.slice(known) ?? []);
    assert.ok(s);
    assert.deepEqual(s.maps, []);
    assert.equal(s.corrupted.tokens.length, 8);
    assert.ok(patching?.posted.slice(known).some((m) => m.type === 'patchAttribution'), 'the alignment-free attribution is still sent');
    assert.ok(Number.isFinite(s.corrupted.metric), 'each run is still scored');
    assert.equal(patching?.posted.slice(known).filter((m) => m.type === 'patchRows').length, 0);
    state.messages.splice(0);
  });

  it('a typed answer of several tokens is refused in the input box, showing its tokens', async () => {
    state.activeTextEditor = textEditor('The cat sat.', [[0, 12]]);
    state.inputBoxes.push('The dog sat.', ' Residual Lens'); // the corrupted prompt, then the typed answer
    state.quickPicks.push(5); // "Type a token…" after the 5 top tokens
    await state.commands.get('residualLens.comparePrompts')?.();
    assert.equal(state.quickPickItems.at(-1)?.at(-1)?.label, '$(edit) Type a token…');
    assert.equal(state.inputValidations.length, 1);
    assert.match(state.inputValidations[0], /^" Residual Lens" is \d tokens \(·Res.*\| .*\); an answer must be one token: pick one of them\.$/);
    assert.deepEqual(state.messages, []);
  });

  it('a model with many heads: heads by position sweeps the 8 best heads of the heads map; the previous comparison is marked stale', async () => {
    const known = patching?.posted.length ?? 0;
    state.settings.set('model', wideModel);
    state.activeTextEditor = textEditor('The cat sat. The dog sat.', [
      [0, 12],
      [13, 25],
    ]);
    state.quickPicks.push(0, 0);
    await state.commands.get('residualLens.comparePrompts')?.();
    const posted = patching?.posted.slice(known) ?? [];
    assert.match(String(posted.find((m) => m.type === 'patchStale')?.reason), /another model was loaded/);
    const s = session(posted);
    assert.ok(s);
    const byPos = s.maps.find((m) => m.kind === 'heads_by_pos');
    assert.equal(byPos?.heads?.length, 8);
    // the 8 heads with the largest |patched − corrupted| in the heads map (same ranking as the normalised score), in layer order
    const heads = posted.filter((m) => m.type === 'patchRows' && m.kind === 'heads' && m.row0 === 0).at(-1)?.metric as Float32Array;
    const want = Array.from(heads, (x, i) => ({ i, size: Math.abs(x - s.corrupted.metric) }))
      .sort((a, b) => b.size - a.size || a.i - b.i)
      .slice(0, 8)
      .map((x) => x.i)
      .sort((a, b) => a - b);
    assert.deepEqual(
      byPos?.heads?.map((h) => h.layer * 16 + h.head),
      want,
    );
    const rows = posted.filter((m) => m.type === 'patchRows' && m.kind === 'heads_by_pos' && m.row0 === 0).at(-1)?.metric as Float32Array;
    assert.equal(rows.length, 8 * 5);
    assert.ok([...rows].every(Number.isFinite));
    assert.match(String(posted.filter((m) => m.type === 'patchStatus').at(-1)?.text), /^Done in/);
    // a head the user picks joins the by-position map as a 9th row; its cells re-run to the same values
    const panel = patching as FakeWebview;
    const extra = Array.from({ length: 32 }, (_, i) => i).find((i) => !want.includes(i)) as number;
    const n = panel.posted.length;
    panel.send({ v, type: 'patchAddHead', sessionId: s.sessionId, layer: 0, head: 99 });
    panel.send({ v, type: 'patchAddHead', sessionId: s.sessionId, layer: Math.floor(extra / 16), head: extra % 16 });
    await waitFor(() => panel.posted.slice(n).some((m) => m.type === 'patchRows' && m.kind === 'heads_by_pos' && m.row0 === 8), "the added head's row");
    const grown = session(panel.posted.slice(n))?.maps.find((m) => m.kind === 'heads_by_pos');
    assert.deepEqual(grown?.heads?.at(-1), { layer: Math.floor(extra / 16), head: extra % 16 });
    assert.equal(grown?.rows, 9);
    const added = panel.posted.slice(n).find((m) => m.type === 'patchRows' && m.row0 === 8)?.metric as Float32Array;
    assert.equal(added.length, 5);
    await waitFor(() => /^Added L\dH\d+ by position\.$/.test(String(panel.posted.filter((m) => m.type === 'patchStatus').at(-1)?.text)), 'the status');
    const m2 = panel.posted.length;
    panel.send({ v, type: 'patchPick', sessionId: s.sessionId, kind: 'heads_by_pos', row: 8, col: 2 });
    await waitFor(() => panel.posted.slice(m2).some((m) => m.type === 'patchCell'), "the added cell's run");
    const cell = panel.posted.slice(m2).find((m) => m.type === 'patchCell')?.cell as { metric: number };
    assert.ok(Math.abs(cell.metric - added[2]) < 1e-4, `${cell.metric} vs ${added[2]}`);
    state.settings.set('model', path.join(root, 'tiny-model'));
    state.messages.splice(0);
  });

  it('Cancel from the panel stops the sweep; the rows computed so far stay', async () => {
    const panel = patching as FakeWebview;
    const w = panel as unknown as { postMessage: (m: Posted) => Promise<boolean> };
    const post = w.postMessage;
    let cancelled = false;
    // the page presses Cancel as soon as the first streamed row arrives
    w.postMessage = async (m) => {
      if (!cancelled && m.type === 'patchRows' && (m.metric as Float32Array).length === 5) {
        cancelled = true;
        panel.send({ v, type: 'patchCancel', sessionId: m.sessionId });
      }
      return post(m);
    };
    const known = panel.posted.length;
    state.activeTextEditor = textEditor('The cat sat. The dog sat.', [
      [0, 12],
      [13, 25],
    ]);
    state.quickPicks.push(0, 0);
    await state.commands.get('residualLens.comparePrompts')?.();
    w.postMessage = post;
    const posted = panel.posted.slice(known);
    assert.ok(cancelled);
    const status = posted.filter((m) => m.type === 'patchStatus').at(-1);
    assert.equal(status?.text, 'Cancelled; the rows computed so far stay.');
    assert.equal(status?.running, false);
    const rows = posted.filter((m) => m.type === 'patchRows');
    assert.ok(rows.length >= 1 && rows.every((m) => m.kind === 'resid_pre'), rows.map((m) => m.kind).join(', '));
    assert.deepEqual(state.messages, []);
    // the engine still answers: a cell of the cancelled map
    const s = session(posted);
    const n = panel.posted.length;
    panel.send({ v, type: 'patchPick', sessionId: s?.sessionId, kind: 'resid_pre', row: 0, col: 2 });
    await waitFor(() => panel.posted.slice(n).some((m) => m.type === 'patchCell'), 'a cell after the cancel');
  });

  it('ablating a head: the trace panel gets the edited top-k and metric; the hover says so; removal clears it', async () => {
    const text = 'The cat sat on the mat and the cat';
    state.activeTextEditor = textEditor(text);
    const panel = await runWithPanel('residualLens.trace', 'Residual Lens: Trace', 'trace');
    assert.ok(panel);
    type Top = { predK: number; predIds: Int32Array; predProbs: Float32Array };
    const painted = panel.posted.find((m) => m.type === 'trace')?.trace as Top & { traceId: number; tokens: unknown[] };
    assert.ok(painted);
    // A page that was ready while the trace ran got it painted before its predictions (predK 0); they follow in their own message.
    if (painted.predK === 0) await waitFor(() => panel.posted.some((m) => m.type === 'predictions' && m.traceId === painted.traceId), 'the predictions');
    const predictions = panel.posted.find((m) => m.type === 'predictions' && m.traceId === painted.traceId)?.predictions as Top | undefined;
    const trace = { ...painted, ...predictions };
    assert.ok(trace.predK > 0);
    panel.send({ v, type: 'painted', traceId: trace.traceId });
    const before = panel.posted.length;
    await state.commands.get('residualLens.ablateHead')?.({ layer: 1, head: 0, mode: 'zero' });
    const shown = panel.posted.slice(before).filter((m) => m.type === 'interventions').map((m) => m.interventions as { items: string[]; baseMetric: number; editedMetric?: number; edited?: { ids: Int32Array }; status?: string; pos: number });
    assert.equal(shown.length, 2, 'running, then the result');
    assert.match(String(shown[0].status), /Running/);
    const result = shown[1];
    assert.deepEqual(result.items, ['Zero-ablate L1H0']);
    const T = trace.tokens.length;
    assert.equal(result.pos, T - 1);
    // the metric is log p of the unedited top-1 at the last position: the trace's own probability
    assert.ok(Math.abs(result.baseMetric - Math.log(trace.predProbs[(T - 1) * trace.predK])) < 1e-4, `base ${result.baseMetric}`);
    assert.ok(Number.isFinite(result.editedMetric) && result.editedMetric !== result.baseMetric);
    assert.equal(result.edited?.ids.length, 5);
    const hover = await state.hoverProviders[0].provideHover((state.activeTextEditor as { document: unknown }).document, new Position(0, 5));
    assert.match(hover?.contents.value ?? '', /\*\*Interventions active\*\*: Zero-ablate L1H0\./);
    assert.match(hover?.contents.value ?? '', /command:residualLens\.ablateHead\?/);
    // a second head, then removing the first re-runs with the second only
    await state.commands.get('residualLens.ablateHead')?.({ layer: 0, head: 1, mode: 'mean' });
    const n = panel.posted.length;
    panel.send({ v, type: 'removeIntervention', index: 0 });
    await waitFor(() => panel.posted.slice(n).some((m) => m.type === 'interventions' && (m.interventions as { status?: string }).status === undefined), 'the re-run');
    assert.deepEqual((panel.posted.at(-1)?.interventions as { items: string[] }).items, ['Mean-ablate L0H1']);
    panel.send({ v, type: 'removeIntervention', index: 0 });
    await waitFor(() => panel.posted.at(-1)?.type === 'interventions' && panel.posted.at(-1)?.interventions === undefined, 'the row cleared');
    // the DLA section's and the circuits panel's buttons send 'ablate' from the page
    const m = panel.posted.length;
    panel.send({ v, type: 'ablate', layer: 1, head: 1, mode: 'mean' });
    await waitFor(() => panel.posted.slice(m).some((x) => x.type === 'interventions' && (x.interventions as { editedMetric?: number } | undefined)?.editedMetric !== undefined), 'the ablation from the page');
    assert.deepEqual((panel.posted.at(-1)?.interventions as { items: string[] }).items, ['Mean-ablate L1H1']);
    panel.send({ v, type: 'removeIntervention', index: 0 });
    // bad input: a head the model does not have, a malformed argument, a removal out of range
    await state.commands.get('residualLens.ablateHead')?.({ layer: 9, head: 0 });
    await state.commands.get('residualLens.ablateHead')?.({ layer: 'x' });
    panel.send({ v, type: 'removeIntervention', index: 7 });
    assert.deepEqual(state.messages.splice(0), ['warning: tiny-model has no head L9H0 (2 layers × 2 heads).', 'warning: ablateHead: layer must be a non-negative integer']);
  });
});
