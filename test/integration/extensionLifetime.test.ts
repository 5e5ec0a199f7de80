/**
 * The extension activated in plain Node against a stub `vscode` (test/helpers/vscodeStub.ts) and
 * the real engine worker: the Trace command end to end on a tiny checkpoint, newest trace wins at
 * the controller, closing the panel mid-trace, hovers served without engine calls, and
 * deactivation (disposing context.subscriptions) leaving no listener, registration or worker behind.
 */
import { editableDocument, fireListeners, live, restorePanel, state, textEditor, vscode as stub, Position, type FakeWebview } from '../helpers/vscodeStub';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { activate, deactivate } from '../../src/extension';
import { WEBVIEW_PROTOCOL_VERSION, type HostToWebview } from '../../src/protocol/webview';
import { Engine } from '../../src/engine/engine';
import { tracePayload } from '../../src/ui/payloads';
import { TraceState } from '../../webview/traceState';
import { stubExtensionContext } from '../helpers/extensionHost';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const REPO = path.resolve(__dirname, '../..');
const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 64, dVocab: 50257 };

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}

/**
 * The hover at `offset` once it has the trace's predictions: a restored trace paints from its
 * forward part first, and the hover's data comes with the whole trace (at most 5 s here).
 */
async function restoredHover(document: unknown, offset: number): Promise<{ contents: { value: string } } | undefined> {
  let hover: { contents: { value: string } } | undefined;
  for (let i = 0; i < 500; i++) {
    hover = (await state.hoverProviders[0].provideHover(document, new Position(0, offset))) as typeof hover;
    if (hover?.contents.value.includes('**Top predictions**')) return hover;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return hover;
}

type Posted = FakeWebview['posted'][number];
const traceTexts = (posted: readonly Posted[]): string[] => posted.filter((m) => m.type === 'trace').map((m) => (m.trace as { text: string }).text);

describe('extension lifetime with a stub vscode', () => {
  let root: string;
  let firstModel: string;
  let secondModel: string;
  const subscriptions: { dispose(): unknown }[] = [];
  const workers = new Set<Worker>();
  const requests: string[] = [];
  const originalOn = Worker.prototype.on;
  const originalPost = Worker.prototype.postMessage;

  before(() => {
    root = makeTempFolder('rl-lifetime');
    firstModel = path.join(root, 'tiny-model');
    secondModel = path.join(root, 'tiny-model-2');
    writeRandomCheckpoint(firstModel, { ...CONFIG, seed: 41 }, { dtype: 'F16' });
    writeRandomCheckpoint(secondModel, { ...CONFIG, nLayer: 1, seed: 42 });
    state.settings.set('model', firstModel);
    state.settings.set('topK', 5);
    // Every worker the extension starts, and every request it sends.
    Worker.prototype.on = function (this: Worker, event: string | symbol, listener: (...args: unknown[]) => void) {
      workers.add(this);
      return originalOn.call(this, event, listener);
    } as typeof originalOn;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: Parameters<typeof originalPost>[1]) {
      const m = message as { kind?: string; method?: string };
      if (m.kind === 'request') requests.push(String(m.method));
      return originalPost.call(this, message, transfer);
    };
    assert.equal(live.size, 0);
    activate(stubExtensionContext(root, subscriptions) as unknown as Parameters<typeof activate>[0]);
  });
  after(() => {
    Worker.prototype.on = originalOn;
    Worker.prototype.postMessage = originalPost;
    for (const s of subscriptions.splice(0)) s.dispose();
    removeTempFolder(root);
  });

  const trace = (text: string): Promise<unknown> => {
    state.activeTextEditor = textEditor(text);
    return state.commands.get('residualLens.trace')?.() as Promise<unknown>;
  };
  const panelWebview = (): FakeWebview => state.webviews[state.webviews.length - 1];
  const ready = (w: FakeWebview): void => w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'ready', view: 'trace' });
  /** The last trace a page was sent (its text, id and saved place). */
  type Shown = { text: string; traceId: number; source?: { uri: string; offset: number } };
  const lastTrace = (w: FakeWebview): Shown | undefined => w.posted.filter((m) => m.type === 'trace').at(-1)?.trace as Shown | undefined;
  /** Closes the panel showing `w`, as a window reload does. */
  const closePanel = (w: FakeWebview): void => (state.panels as unknown as { webview: FakeWebview; dispose(): void }[]).find((p) => p.webview === w)?.dispose();
  /** Runs the trace command on `start..end` of a one-line document. */
  const traceRange = async (document: unknown, start: number, end: number): Promise<void> => {
    state.activeTextEditor = { document, selection: new stub.Selection(new Position(0, start), new Position(0, end)) };
    await state.commands.get('residualLens.trace')?.();
  };

  it('activation spawns no worker; every registration goes into context.subscriptions', () => {
    assert.equal(workers.size, 0);
    assert.deepEqual(
      [...state.commands.keys()].sort(),
      ['residualLens.ablateHead', 'residualLens.comparePrompts', 'residualLens.downloadModel', 'residualLens.downloadSae', 'residualLens.exportLensCsv', 'residualLens.exportLensMarkdown', 'residualLens.exportSaeLabels', 'residualLens.labelSaeFeature', 'residualLens.openFeatureIndex', 'residualLens.restartEngine', 'residualLens.scanWorkspaceFeatures', 'residualLens.selectModel', 'residualLens.showCircuits', 'residualLens.showHeadVirtualWeights', 'residualLens.toggleLiveLens', 'residualLens.trace'],
    );
    assert.ok(subscriptions.length > 10);
  });

  it('traces the selection; the panel gets the trace after it says ready', async () => {
    await trace('The quick brown fox jumps');
    assert.equal(workers.size, 1);
    assert.deepEqual(state.messages, []);
    const w = panelWebview();
    assert.match(w.html, /default-src 'none'/);
    const roots = (w as unknown as { options: { localResourceRoots: { fsPath: string }[] } }).options.localResourceRoots.map((u) => u.fsPath);
    assert.deepEqual(roots, [path.join(REPO, 'dist'), path.join(REPO, 'media')]);
    ready(w);
    assert.deepEqual(traceTexts(w.posted), ['The quick brown fox jumps']);
  });

  it('refuses empty, whitespace-only and too-long selections with their messages, then still traces', async () => {
    const sent = requests.length;
    await trace('');
    await trace('  \t ');
    await trace('x y '.repeat(250_000)); // 1 MB
    assert.deepEqual(state.messages.splice(0), [
      'warning: Nothing to trace: select text or put the cursor on a non-empty line.',
      'warning: Nothing to trace: select text or put the cursor on a non-empty line.',
      'warning: The selection has more than 64 tokens; tiny-model accepts at most 64 (BOS included). Select less text.',
    ]);
    // Empty texts never reach the engine; the 1 MB text costs one bounded count and no trace.
    assert.deepEqual(requests.slice(sent), ['tokenize']);
    // The panel still shows the previous trace, marked as not the latest, with the reason.
    const staleMarks = panelWebview().posted.filter((m) => m.type === 'status' && (m as { stale?: boolean }).stale === true).map((m) => (m as unknown as { text: string }).text);
    assert.deepEqual(staleMarks.slice(-3), [
      'Not traced: Nothing to trace: select text or put the cursor on a non-empty line.',
      'Not traced: Nothing to trace: select text or put the cursor on a non-empty line.',
      'Not traced: The selection has more than 64 tokens; tiny-model accepts at most 64 (BOS included). Select less text.',
    ]);
    await trace('after the refusals');
    assert.equal(traceTexts(panelWebview().posted).at(-1), 'after the refusals');
  });

  it('a broken configured model: the status bar names it (not the model still loaded), the panel marks its trace as not the latest', async () => {
    const statusItem = state.statusBarItems[0]!;
    const broken = path.join(root, 'badmodel');
    fs.mkdirSync(broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'config.json'), '{ not json');
    fs.writeFileSync(path.join(broken, 'model.safetensors'), 'x');
    state.settings.set('model', broken);
    try {
      await trace('with a broken model');
      assert.equal(state.messages.length, 1, state.messages.join('\n'));
      assert.match(state.messages.splice(0)[0]!, /^error: .*badmodel/);
      assert.match(statusItem.text ?? '', /badmodel · error$/);
      assert.match(statusItem.tooltip?.value ?? '', /tiny-model is still loaded/);
      const last = panelWebview().posted.at(-1) as unknown as { type: string; stale?: boolean; text: string };
      assert.equal(last.type, 'status');
      assert.equal(last.stale, true);
      assert.match(last.text, /badmodel/);
      // A model setting that does not resolve at all names the setting's value too.
      state.settings.set('model', 'no-such-model-name');
      await trace('with an unknown model');
      state.messages.splice(0);
      assert.match(statusItem.text ?? '', /no-such-model-name · error$/);
    } finally {
      state.settings.set('model', firstModel);
      fs.rmSync(broken, { recursive: true, force: true });
    }
    await trace('after the broken model');
    assert.match(statusItem.text ?? '', /tiny-model · ready · CPU$/);
  });

  it('the DLA attributes a typed token (one token or #id) and says so when the text is not one token; the panel saves the trace as the CLI\'s JSON', async () => {
    await trace('The capital of France is');
    const w = panelWebview();
    ready(w);
    const traced = w.posted.filter((m) => m.type === 'trace').at(-1)!.trace as { traceId: number; tokens: unknown[] };
    const pos = traced.tokens.length - 1;
    const attributed = async (text: string): Promise<{ tokenId: number; pos: number } | undefined> => {
      const before = w.posted.length;
      w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'pickTokenText', pos, text });
      await waitFor(() => w.posted.slice(before).some((m) => m.type === 'attribution' || m.type === 'status'));
      const m = w.posted.slice(before).find((x) => x.type === 'attribution' || x.type === 'status')!;
      return m.type === 'attribution' ? (m as unknown as { attribution: { tokenId: number; pos: number } }).attribution : undefined;
    };
    const paris = await attributed(' Paris'); // GPT-2 token 6342, outside the random model's top-5
    assert.deepEqual([paris?.tokenId, paris?.pos], [6342, pos]);
    assert.equal((await attributed('#50256'))?.tokenId, 50256);
    assert.equal(await attributed(' Paris France'), undefined);
    const status = w.posted.at(-1) as unknown as { type: string; text: string };
    assert.equal(status.text, '" Paris France" is 2 tokens (" Paris" + " France"); type one token, or #id.');
    // The attention pattern's hover: the sources of L1H1's write at the last position, DLA to the token shown (" Paris").
    const before = w.posted.length;
    w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'headSources', layer: 1, head: 1, pos });
    await waitFor(() => w.posted.slice(before).some((m) => m.type === 'headSources'));
    const src = (w.posted.slice(before).find((m) => m.type === 'headSources') as unknown as { sources: { tokenId: number; attention: number[]; norm: number[]; dla: number[] } }).sources;
    assert.equal(src.attention.length, pos + 1);
    assert.ok(Math.abs(src.attention.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'a pattern row sums to 1');
    assert.ok(src.norm.every((n) => n >= 0));
    const shownDla = (w.posted.filter((m) => m.type === 'attribution').at(-1) as unknown as { attribution: { tokenId: number; headGrid: Float32Array } }).attribution;
    assert.equal(src.tokenId, shownDla.tokenId);
    const sum = src.dla.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - (shownDla.headGrid[1 * 2 + 1] as number)) <= 1e-4 * Math.max(1, Math.abs(sum)), `Σ source DLA ${sum} = the head's DLA`);
    // Save trace as JSON: the CLI's schema 1, built in the worker, written where the user chose.
    const target = path.join(root, 'saved-trace.json');
    state.saveDialogAnswer = stub.Uri.file(target);
    try {
      w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'exportTrace' });
      await waitFor(() => state.written.has(target));
    } finally {
      state.saveDialogAnswer = undefined;
    }
    const j = JSON.parse(new TextDecoder().decode(state.written.get(target))) as { schema: number; text: string; k: number; prepend_bos: boolean; tokens: unknown[]; attention: number[][][][]; model: { name: string } };
    assert.equal(j.schema, 1);
    assert.equal(j.text, 'The capital of France is');
    assert.equal(j.prepend_bos, true);
    assert.equal(j.k, 5); // the trace's topK setting
    assert.equal(j.model.name, 'tiny-model');
    assert.equal(j.tokens.length, traced.tokens.length);
    assert.equal(j.attention.length, 2);
    assert.match(state.messages.splice(0).at(-1) ?? '', /^info: Saved the trace/);
  });

  it('newest trace wins: a second trace started while the first runs; nothing paints over it', async () => {
    for (const pause of [false, true]) {
      const w = panelWebview();
      const before = w.posted.length;
      const sent = requests.length;
      const first = trace('the first of two traces');
      // Either at once, or once the first trace's request is in the worker.
      if (pause) await waitFor(() => requests.slice(sent).includes('traceSummary'));
      const second = trace('the second of two traces');
      await Promise.all([first, second]);
      const painted = traceTexts(w.posted.slice(before));
      assert.equal(painted.at(-1), 'the second of two traces', painted.join(' | '));
      assert.ok(painted.length === 1 || (painted.length === 2 && painted[0] === 'the first of two traces'), painted.join(' | '));
    }
    assert.deepEqual(state.messages, []);
  });

  it('switching models during a trace: the newer model\'s trace is shown, then the engine still works', async () => {
    const w = panelWebview();
    const before = w.posted.length;
    const first = trace('traced with the first model');
    state.settings.set('model', secondModel);
    const second = trace('traced with the second model');
    await Promise.all([first, second]);
    const painted = w.posted.slice(before).filter((m) => m.type === 'trace').map((m) => m.trace as { text: string; model: string; nLayer: number });
    assert.deepEqual(painted.map((p) => [p.text, p.model, p.nLayer]), [['traced with the second model', 'tiny-model-2', 1]]);
    state.settings.set('model', firstModel);
    await trace('back to the first model');
    const last = w.posted.filter((m) => m.type === 'trace').at(-1)?.trace as { model: string; nLayer: number };
    assert.deepEqual([last.model, last.nLayer], ['tiny-model', 2]);
    assert.deepEqual(state.messages, []);
  });

  it('hovers are answered from the stored trace: zero engine calls once the trace\'s follow-ups are in', async () => {
    const text = 'hover here and there';
    const editor = textEditor(text) as { document: unknown };
    state.activeTextEditor = editor;
    const w = panelWebview();
    const posted = w.posted.length;
    const sent = requests.length;
    await state.commands.get('residualLens.trace')?.();
    // The trace's follow-ups: one lens, one attributeAll, the selected layer's patterns and the
    // thumbnails (pooled in the worker: the host gets only the trace summary); wait until the panel has shown them.
    const deadline = Date.now() + 20_000;
    // Only this trace's messages count (the previous test's follow-ups may still be arriving).
    const tracedId = (): unknown => (w.posted.slice(posted).find((m) => m.type === 'trace')?.trace as { traceId: number } | undefined)?.traceId;
    const ofThisTrace = (type: string): Posted | undefined => w.posted.slice(posted).find((m) => m.type === type && (m[type] as { traceId: number }).traceId === tracedId());
    const shown = (type: string): boolean => tracedId() !== undefined && ofThisTrace(type) !== undefined;
    const all = ['lens', 'attribution', 'pattern', 'thumbs'];
    await waitFor(() => all.every(shown) || Date.now() > deadline);
    assert.ok(all.every(shown), 'the panel got the lens, the DLA, the patterns and the thumbnails');
    assert.deepEqual(requests.slice(sent).filter((m) => m !== 'tokenize').sort(), ['attributeAll', 'lens', 'patternThumbs', 'patternView', 'traceSummary']);
    const traced = w.posted.slice(posted).find((m) => m.type === 'trace')?.trace as { tokens: unknown[]; nLayer: number; nHead: number };
    const T = traced.tokens.length;
    const pattern = ofThisTrace('pattern')?.pattern as { size: number; values: Float32Array };
    const thumbs = ofThisTrace('thumbs')?.thumbs as { size: number; values: Float32Array };
    assert.equal(pattern.size, T); // T < PATTERN_MAX_SIZE and THUMB_MAX_SIZE: not pooled
    assert.equal(pattern.values.length, traced.nHead * T * T); // [H, T, T]
    assert.equal(thumbs.size, T);
    assert.equal(thumbs.values.length, traced.nLayer * traced.nHead * T * T); // [L, H, S, S]
    const hover = state.hoverProviders[0];
    const afterFollowUps = requests.length;
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const h = await hover.provideHover(editor.document, new Position(0, i % text.length));
      assert.ok(h, `hover at ${i % text.length}`);
      assert.match(h.contents.value, /\*\*Top predictions\*\*/);
      assert.match(h.contents.value, /\*\*Top components\*\*/);
      assert.doesNotMatch(h.contents.value, /not available/);
      seen.add(h.contents.value.split('\n')[0]);
    }
    assert.ok(seen.size >= 4, `hovered ${seen.size} tokens`);
    assert.deepEqual(requests.slice(afterFollowUps), [], 'hovers make no engine call');
  });

  it('a reloaded window\'s trace panel finds its text in the editor again (moved by an edit): hovers come back; text its document no longer holds is traced unlinked', async () => {
    const doc = editableDocument('Intro. hover me again', stub.Uri.file('/work/reload.txt'));
    await traceRange(doc.document, 7, 21);
    const shown = lastTrace(panelWebview());
    assert.equal(shown?.text, 'hover me again');
    assert.deepEqual(shown?.source, { uri: 'file:///work/reload.txt', offset: 7 });
    doc.edit(0, 0, '>> '); // the text moves 3 on; the saved offset does not
    // A reload closes the panel; the window then brings it back through the serializer.
    closePanel(panelWebview());
    const saved = { text: 'hover me again', model: 'tiny-model', selection: { pos: 2, layer: 1, head: 1 }, source: shown?.source };
    const restored = await restorePanel('residualLens.trace', 'Residual Lens: Trace', saved);
    ready(restored);
    await waitFor(() => lastTrace(restored)?.source?.offset === 10);
    // Shown with the selection the panel had.
    assert.deepEqual(restored.posted.filter((m) => m.type === 'trace').at(-1)?.selection, { pos: 2, layer: 1, head: 1 });
    assert.ok(state.outputLines.includes('Restoring the trace panel: tracing its 14 characters again (found again in reload.txt).'));
    const hover = await restoredHover(doc.document, 12);
    assert.match(hover?.contents.value ?? '', /\*\*Top predictions\*\*/, 'the hover answers on the restored trace');
    // Text the document does not hold: traced, not linked, and said so.
    closePanel(restored);
    const unlinked = await restorePanel('residualLens.trace', 'Residual Lens: Trace', { ...saved, text: 'not in the document', selection: { pos: 99, layer: 5, head: 0 } });
    ready(unlinked);
    await waitFor(() => lastTrace(unlinked)?.text === 'not in the document');
    assert.equal(lastTrace(unlinked)?.source, undefined);
    const tokens = (lastTrace(unlinked) as unknown as { tokens: unknown[] }).tokens.length;
    assert.deepEqual(unlinked.posted.filter((m) => m.type === 'trace').at(-1)?.selection, { pos: tokens - 1, layer: 1, head: 0 }, 'a saved selection outside the trace: clamped');
    assert.ok(state.outputLines.includes('Restoring the trace panel: tracing its 19 characters again (not in reload.txt any more, so not linked to an editor).'));
    assert.deepEqual(state.messages, []);
  });

  it("a restored trace panel without a usable state falls back to the workspace's last trace, found again in its document", async () => {
    const doc = editableDocument('Preface. remembered text here', stub.Uri.file('/work/remembered.txt'));
    await traceRange(doc.document, 9, 29);
    assert.equal(lastTrace(panelWebview())?.text, 'remembered text here');
    doc.edit(0, 0, 'New line.\n'); // the text moves 10 on
    closePanel(panelWebview());
    // The page saved nothing usable (a page that never started): the workspace state has the trace.
    const restored = await restorePanel('residualLens.trace', 'Residual Lens: Trace', undefined);
    ready(restored);
    await waitFor(() => lastTrace(restored)?.source?.offset === 19);
    assert.equal(lastTrace(restored)?.text, 'remembered text here');
    assert.equal(lastTrace(restored)?.source?.uri, 'file:///work/remembered.txt');
    assert.ok(state.outputLines.includes('Restoring the trace panel: tracing its 20 characters again (from the workspace state, found again in remembered.txt).'), state.outputLines.slice(-3).join('\n'));
    const hover = await restoredHover(doc.document, 22);
    assert.match(hover?.contents.value ?? '', /\*\*Top predictions\*\*/, 'the hover answers on the restored trace');
    assert.deepEqual(state.messages, []);
  });

  it('a trace of an untitled document is linked again when VS Code reopens the document after the panel; one that never comes back is traced unlinked', async () => {
    const doc = editableDocument('scratch words to trace', stub.Uri.parse('untitled:Untitled-1'));
    await traceRange(doc.document, 0, 22);
    const shown = lastTrace(panelWebview());
    assert.deepEqual(shown?.source, { uri: 'untitled:Untitled-1', offset: 0 });
    closePanel(panelWebview());
    // The reload: the document is not open yet when the panel comes back; VS Code reopens it 200 ms later.
    state.textDocuments.splice(state.textDocuments.indexOf(doc.document), 1);
    doc.edit(0, 0, '>> '); // its backup: the text 3 on, so the restored trace is told from the one on show
    const saved = { text: 'scratch words to trace', model: 'tiny-model', selection: { pos: 1, layer: 0, head: 0 }, source: shown?.source };
    const restored = await restorePanel('residualLens.trace', 'Residual Lens: Trace', saved);
    ready(restored);
    setTimeout(() => doc.open(), 200);
    await waitFor(() => lastTrace(restored)?.source?.offset === 3);
    assert.equal(lastTrace(restored)?.source?.uri, 'untitled:Untitled-1');
    assert.ok(state.outputLines.includes('Restoring the trace panel: tracing its 22 characters again (found again in Untitled-1).'), state.outputLines.filter((l) => l.startsWith('Restoring')).join('\n'));
    const hover = await restoredHover(doc.document, 12);
    assert.match(hover?.contents.value ?? '', /\*\*Top predictions\*\*/, 'the hover answers on the restored trace');
    // An untitled document that does not come back: traced unlinked after the wait, and said so.
    closePanel(panelWebview());
    const gone = await restorePanel('residualLens.trace', 'Residual Lens: Trace', { ...saved, source: { uri: 'untitled:Untitled-9', offset: 0 } });
    ready(gone);
    // The page first gets the trace on show (linked); the restored one follows the wait (UNTITLED_REOPEN_WAIT_MS).
    await waitFor(() => lastTrace(gone)?.source === undefined);
    assert.equal(lastTrace(gone)?.text, 'scratch words to trace');
    assert.ok(state.outputLines.includes('Restoring the trace panel: tracing its 22 characters again (not in Untitled-9 any more, so not linked to an editor).'));
    assert.deepEqual(state.messages, []);
  });

  it('follow-ups wait for the panel to paint the trace (at most 400 ms); a trace replaced before that never asks for them', async () => {
    const w = panelWebview();
    const painted = (traceId: number): void => w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'painted', traceId, renderMs: 5, webviewMs: 20 });
    const lastTraceId = (): number => (w.posted.filter((m) => m.type === 'trace').at(-1)?.trace as { traceId: number }).traceId;
    const followUps = ['attributeAll', 'lens', 'patternThumbs', 'patternView'];
    const asked = (from: number): string[] => requests.slice(from).filter((m) => followUps.includes(m)).sort();
    // Settle the previous test's follow-ups first.
    await new Promise((resolve) => setTimeout(resolve, 450));
    let sent = requests.length;
    await trace('painted before its follow-ups');
    assert.deepEqual(asked(sent), [], 'nothing asked before the paint');
    painted(lastTraceId());
    assert.deepEqual(asked(sent), followUps, 'all four asked as soon as the panel painted');
    painted(lastTraceId()); // a second report changes nothing
    assert.deepEqual(asked(sent), followUps);
    // Two traces back to back, no paint: only the second one's follow-ups, after the timeout.
    sent = requests.length;
    await trace('replaced before it painted');
    await trace('the trace that stays');
    assert.deepEqual(asked(sent), []);
    const deadline = Date.now() + 20_000;
    await waitFor(() => asked(sent).length === 4 || Date.now() > deadline);
    await new Promise((resolve) => setTimeout(resolve, 450));
    assert.deepEqual(asked(sent), followUps, 'the replaced trace asked for nothing');
  });

  it('a command\'s trace paints from its forward part, then its predictions follow; the panel ends with the engine\'s whole trace', async () => {
    const w = panelWebview();
    await new Promise((resolve) => setTimeout(resolve, 450)); // the previous test's follow-ups
    const from = w.posted.length;
    const text = 'Predictions arrive after the paint';
    await trace(text);
    const msgs = w.posted.slice(from).filter((m) => m.type === 'trace' || m.type === 'predictions') as HostToWebview[];
    assert.deepEqual(msgs.map((m) => m.type), ['trace', 'predictions']);
    const early = (msgs[0] as Extract<HostToWebview, { type: 'trace' }>).trace;
    const later = msgs[1] as Extract<HostToWebview, { type: 'predictions' }>;
    assert.equal(early.text, text);
    assert.equal(early.predK, 0, 'painted without predictions');
    assert.equal(early.predIds.length, 0);
    assert.equal(later.traceId, early.traceId);
    assert.ok(later.predictions.elapsedMs >= early.elapsedMs, 'the header then shows the whole trace\'s time');
    // What the page holds afterwards equals the engine's own summary of the text (a second engine, same model).
    const page = new TraceState();
    for (const m of msgs) page.apply(m);
    const engine = new Engine({ reusePrefix: false });
    const cache = makeTempFolder('rl-check-cache');
    try {
      await engine.load({ folder: firstModel, name: 'check', cacheDir: cache });
      const expected = tracePayload(await engine.traceSummary({ text, options: { topK: 5 } }), 0);
      const got = page.trace;
      assert.ok(got);
      assert.equal(got.predK, 5);
      assert.deepEqual(Array.from(got.predIds), Array.from(expected.predIds));
      assert.deepEqual(Array.from(got.predProbs), Array.from(expected.predProbs));
      assert.deepEqual(got.vocab, expected.vocab);
      assert.deepEqual(Array.from(got.residNorms), Array.from(expected.residNorms));
      assert.deepEqual(got.tokens, expected.tokens);
    } finally {
      await engine.dispose();
      removeTempFolder(cache);
    }
  });

  it('a paint reported before the predictions came starts the follow-ups as soon as they do', async () => {
    const w = panelWebview();
    await new Promise((resolve) => setTimeout(resolve, 450));
    const followUps = ['attributeAll', 'lens', 'patternThumbs', 'patternView'];
    const sent = requests.length;
    // The page answers the forward-only 'trace' message at once, before the predictions.
    w.onPost = (m) => {
      const t = m.trace as { traceId: number; predK: number } | undefined;
      if (m.type === 'trace' && t?.predK === 0) w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'painted', traceId: t.traceId, renderMs: 1, webviewMs: 2 });
    };
    try {
      await trace('painted before its predictions');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(requests.slice(sent).filter((m) => followUps.includes(m)).sort(), followUps, 'asked without waiting for the 400 ms timeout');
    } finally {
      w.onPost = undefined;
    }
  });

  it('a page that (re)loads between the paint and the predictions gets the painted trace again, then the predictions', async () => {
    const w = panelWebview();
    await new Promise((resolve) => setTimeout(resolve, 450));
    const from = w.posted.length;
    let reloaded = false;
    w.onPost = (m) => {
      const t = m.trace as { predK: number } | undefined;
      if (reloaded || m.type !== 'trace' || t?.predK !== 0) return;
      reloaded = true;
      w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'ready', view: 'trace' }); // the page says ready again: the host replays
    };
    try {
      await trace('reloaded while it was predicted');
    } finally {
      w.onPost = undefined;
    }
    const msgs = w.posted.slice(from).filter((m) => m.type === 'trace' || m.type === 'predictions') as HostToWebview[];
    assert.deepEqual(msgs.map((m) => (m.type === 'trace' ? `trace:${m.trace.predK}:${m.trace.text}` : m.type)), ['trace:0:reloaded while it was predicted', 'trace:0:reloaded while it was predicted', 'predictions']);
    const page = new TraceState();
    for (const m of msgs) page.apply(m);
    assert.equal(page.trace?.text, 'reloaded while it was predicted');
    assert.equal(page.trace?.predK, 5);
  });

  it('a token selected between the paint and the predictions stays selected', async () => {
    const w = panelWebview();
    await new Promise((resolve) => setTimeout(resolve, 450));
    let clicked = false;
    w.onPost = (m) => {
      const t = m.trace as { predK: number } | undefined;
      if (clicked || m.type !== 'trace' || t?.predK !== 0) return;
      clicked = true;
      // A position the trace on show before this one (a few tokens) does not have.
      w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'select', pos: 12, layer: 1, head: 1, reveal: false });
    };
    try {
      await trace('selected before its predictions came, in a text longer than the one traced before it');
    } finally {
      w.onPost = undefined;
    }
    assert.ok(clicked);
    const from = w.posted.length;
    ready(w); // the page's replay says what the host holds
    const replayed = w.posted.slice(from).find((m) => m.type === 'trace') as Extract<HostToWebview, { type: 'trace' }> | undefined;
    assert.equal(replayed?.trace.text, 'selected before its predictions came, in a text longer than the one traced before it');
    assert.deepEqual(replayed?.selection, { pos: 12, layer: 1, head: 1 });
  });

  it('"Trace again" traces the text on show where it sits, with its selection; after an edit inside it, unlinked', async () => {
    const doc = editableDocument('Look: the button traces this again.', stub.Uri.file('/work/again.txt'));
    await traceRange(doc.document, 6, 34);
    const w = panelWebview();
    ready(w);
    const first = lastTrace(w);
    assert.deepEqual([first?.text, first?.source], ['the button traces this again', { uri: 'file:///work/again.txt', offset: 6 }]);
    w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'select', pos: 2, layer: 1, head: 1, reveal: false });
    // Text typed before the range moves it; the trace follows.
    doc.edit(0, 0, '>> ');
    w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'retrace' });
    await waitFor(() => lastTrace(w)?.traceId !== first?.traceId);
    const again = lastTrace(w);
    assert.equal(again?.text, 'the button traces this again');
    assert.deepEqual(again?.source, { uri: 'file:///work/again.txt', offset: 9 }, 'linked where the text sits now');
    assert.deepEqual(w.posted.filter((m) => m.type === 'trace').at(-1)?.selection, { pos: 2, layer: 1, head: 1 }, 'the selection kept');
    assert.match((await restoredHover(doc.document, 14))?.contents.value ?? '', /\*\*Top predictions\*\*/, 'the hover answers on the new trace');
    // An edit inside the range unlinks it: the same text is traced again, without a place.
    doc.edit(14, 6, 'BUTTON');
    w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'retrace' });
    await waitFor(() => lastTrace(w)?.traceId !== again?.traceId);
    assert.equal(lastTrace(w)?.text, 'the button traces this again');
    assert.equal(lastTrace(w)?.source, undefined);
  });

  it('closing the panel mid-trace: the trace stops, no panel comes back, the next trace works', async () => {
    const panels = state.panels.length;
    const running = trace('a trace whose panel is closed');
    await new Promise((resolve) => setImmediate(resolve));
    state.panels[state.panels.length - 1].dispose();
    await running;
    assert.equal(state.panels.length, panels, 'the closed panel was not reopened by the stale trace');
    assert.deepEqual(state.messages.filter((m) => !m.startsWith('info')), []);
    await trace('a new panel');
    assert.equal(state.panels.length, panels + 1);
    ready(panelWebview());
    assert.deepEqual(traceTexts(panelWebview().posted), ['a new panel']);
  });

  it('untrusted workspace: a model path from the workspace settings is not loaded; the user setting is', async () => {
    const evil = path.join(root, 'workspace-model');
    writeRandomCheckpoint(evil, { ...CONFIG, nLayer: 3, seed: 43 });
    state.settings.set('model', secondModel);
    state.workspaceSettings.set('model', evil);
    state.isTrusted = false;
    try {
      await trace('in an untrusted workspace');
      ready(panelWebview());
      const last = panelWebview().posted.filter((m) => m.type === 'trace').at(-1)?.trace as { text: string; model: string };
      assert.deepEqual([last.text, last.model], ['in an untrusted workspace', 'tiny-model-2']);
      assert.deepEqual(state.messages.splice(0), [
        `warning: Residual Lens ignores residualLens.model = "${evil}" from this workspace's settings because the workspace is not trusted; using "${secondModel}".`,
      ]);
      // Trusted: the workspace's folder is used.
      state.isTrusted = true;
      await trace('in a trusted workspace');
      const trusted = panelWebview().posted.filter((m) => m.type === 'trace').at(-1)?.trace as { model: string; nLayer: number };
      assert.deepEqual([trusted.model, trusted.nLayer], ['workspace-model', 3]);
    } finally {
      state.isTrusted = true;
      state.workspaceSettings.clear();
      state.settings.set('model', firstModel);
      fs.rmSync(evil, { recursive: true, force: true });
    }
  });

  it('a new execution provider while the engine runs: restarting (offered) ends the worker, starts a new one and traces the text on show again, linked; declined or another setting, nothing restarts', async () => {
    const doc = editableDocument('Before the restart we trace this.', stub.Uri.file('/work/restart.txt'));
    await traceRange(doc.document, 7, 18);
    ready(panelWebview());
    const before = lastTrace(panelWebview());
    assert.equal(before?.text, 'the restart');
    assert.equal(workers.size, 1);
    const [old] = workers;
    const exited = once(old, 'exit');
    const changed = (key: string): void => fireListeners('workspace.onDidChangeConfiguration', { affectsConfiguration: (k: string) => k === key || key.startsWith(`${k}.`) });
    const outputBefore = state.outputLines.length;
    try {
      // Another setting, then the provider declined: no restart.
      changed('residualLens.topK');
      state.settings.set('executionProvider', 'cpu');
      state.messageReplies.push(undefined);
      changed('residualLens.executionProvider');
      await waitFor(() => state.messages.length > 0);
      assert.deepEqual(state.messages.splice(0), ['info: Residual Lens: the new execution provider applies once the engine restarts (the model loads again).']);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(lastTrace(panelWebview())?.traceId, before?.traceId, 'declined: nothing traced again');
      // Accepted: the old worker exits, a new one loads the model and traces the panel's text again where it sits.
      state.messageReplies.push('Restart Engine');
      changed('residualLens.executionProvider');
      await exited;
      workers.delete(old);
      await waitFor(() => lastTrace(panelWebview())?.traceId !== before?.traceId);
      const after = lastTrace(panelWebview());
      assert.equal(after?.text, 'the restart');
      assert.deepEqual(after?.source, { uri: 'file:///work/restart.txt', offset: 7 });
      assert.equal(workers.size, 1, 'a new worker');
      assert.notEqual([...workers][0], old);
      assert.deepEqual(state.outputLines.slice(outputBefore).filter((l) => l.startsWith('Restarting')), ['Restarting the engine (execution provider cpu, engine threads 0).']);
      assert.deepEqual(state.messages.splice(0), ['info: Residual Lens: the new execution provider applies once the engine restarts (the model loads again).']);
      const hover = await restoredHover(doc.document, 10);
      assert.match(hover?.contents.value ?? '', /\*\*Top predictions\*\*/, 'the hover answers on the new engine');
      // The command during a trace: the trace ends quietly, the status is the new engine's, ready.
      const [second] = workers;
      const secondExited = once(second, 'exit');
      const running = trace('a trace the restart overtakes');
      await waitFor(() => requests.at(-1) === 'traceSummary');
      await state.commands.get('residualLens.restartEngine')?.();
      await running;
      await secondExited;
      workers.delete(second);
      await waitFor(() => (state.statusBarItems[0]?.text ?? '').includes('ready'));
      assert.match(state.statusBarItems[0]?.text ?? '', /tiny-model · ready/);
      assert.deepEqual(state.messages, [], 'no message for the overtaken trace');
      assert.equal(workers.size, 1);
    } finally {
      state.settings.delete('executionProvider');
      state.messageReplies.splice(0);
    }
  });

  it('deactivation disposes every registration and listener and ends the worker thread', async () => {
    assert.equal(workers.size, 1, 'one worker for the whole session');
    const [worker] = workers;
    const exited = once(worker, 'exit');
    // A trace is running when VS Code shuts down: deactivate() waits for the worker to exit.
    const running = trace('still tracing at shutdown');
    await waitFor(() => requests.at(-1) === 'traceSummary');
    await deactivate(); // VS Code awaits deactivate, then disposes the subscriptions
    for (const s of subscriptions.splice(0)) s.dispose();
    await running;
    const leftovers = [...live.values()];
    assert.deepEqual(leftovers, [], `still live: ${leftovers.join(', ')}`);
    const [code] = (await exited) as [number];
    assert.equal(code, 0); // exited on its own, not terminated
    assert.equal(state.commands.size, 0);
    // Written: only the F32 cache of the F16 model and the F32 model's empty finite-scan marker, under the extension's storage.
    assert.deepEqual(fs.readdirSync(root).sort(), ['storage', 'tiny-model', 'tiny-model-2', 'worker-bootstrap.cjs']);
    assert.deepEqual(fs.readdirSync(firstModel).sort(), ['config.json', 'model.safetensors']);
    assert.deepEqual(fs.readdirSync(secondModel).sort(), ['config.json', 'model.safetensors']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'storage', 'cache')).filter((f) => !f.endsWith('.f32') && !f.endsWith('.finite')), []);
  });
});

describe('the worker crashing under the extension', () => {
  let root: string;
  const subscriptions: { dispose(): unknown }[] = [];

  before(() => {
    root = makeTempFolder('rl-lifetime-crash');
    const model = path.join(root, 'tiny-model');
    writeRandomCheckpoint(model, { ...CONFIG, seed: 44 });
    state.settings.set('model', model);
    state.messages.length = 0;
    activate(stubExtensionContext(root, subscriptions) as unknown as Parameters<typeof activate>[0]);
  });
  after(async () => {
    delete process.env.RESIDUAL_LENS_WORKER_FAULT;
    await deactivate();
    for (const s of subscriptions.splice(0)) s.dispose();
    removeTempFolder(root);
  });

  it('a worker that dies mid-trace: the user gets the message, the next trace starts a fresh worker', async () => {
    // The first worker reads the fault at start and exits when the trace request arrives.
    process.env.RESIDUAL_LENS_WORKER_FAULT = 'exit:traceSummary';
    state.activeTextEditor = textEditor('the engine dies here');
    await state.commands.get('residualLens.trace')?.();
    delete process.env.RESIDUAL_LENS_WORKER_FAULT;
    assert.deepEqual(state.messages.splice(0), ['error: The Residual Lens engine stopped unexpectedly; the next request starts a fresh one.']);
    state.activeTextEditor = textEditor('and traces again');
    await state.commands.get('residualLens.trace')?.();
    assert.deepEqual(state.messages, []);
    const w = state.webviews[state.webviews.length - 1];
    w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'ready', view: 'trace' });
    assert.deepEqual(traceTexts(w.posted), ['and traces again']);
  });
});
