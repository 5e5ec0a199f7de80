/**
 * Live lens through the extension (stub `vscode`, test/helpers/vscodeStub.ts, and the real engine
 * worker on a tiny checkpoint): Toggle Live Lens traces at once, typing re-traces the edited text
 * once after the pause (one trace for a burst of edits; tracing ahead, a trace starts at the first
 * key and only the newest text is shown, after the pause), the selected token is kept, the hover
 * follows the new trace, nothing runs while the window is unfocused or the panel hidden (the newest
 * edit runs on resume), text over the model's context is never traced and raises no popup, and
 * turning it off stops it. Deactivation leaves nothing behind.
 */
import { editableDocument, fireListeners, live, state, vscode as stub, Position, type FakeWebview } from '../helpers/vscodeStub';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { activate, deactivate } from '../../src/extension';
import { WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';
import { stubExtensionContext } from '../helpers/extensionHost';
import { makeTempFolder, removeTempFolder, writeRandomCheckpoint } from '../helpers/checkpointWriter';

const CONFIG = { nLayer: 2, nHead: 2, dModel: 16, nCtx: 64, dVocab: 50257 };
/** Longer than a burst of synchronous edits takes on a loaded machine, short enough to keep the test quick. */
const DEBOUNCE_MS = 200;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

type Posted = FakeWebview['posted'][number];
interface PostedTrace {
  readonly text: string;
  readonly traceId: number;
  readonly tokens: readonly { readonly id: number; readonly text: string }[];
}

describe('live lens through the extension', () => {
  let root: string;
  const subscriptions: { dispose(): unknown }[] = [];
  const requests: string[] = [];
  /** performance.now() of each request in `requests`. */
  const requestTimes: number[] = [];
  const originalPost = Worker.prototype.postMessage;
  const doc = editableDocument('The cat sat on the mat');
  const statusItem = (): { text?: string; tooltip?: unknown } | undefined => state.statusBarItems.find((i) => i.name === 'Residual Lens: Live Lens');
  const panel = (): FakeWebview => state.webviews[state.webviews.length - 1];
  const traces = (): { trace: PostedTrace; selection: { pos: number; layer: number; head: number } }[] =>
    panel().posted.filter((m: Posted) => m.type === 'trace').map((m) => ({ trace: m.trace as PostedTrace, selection: m.selection as { pos: number; layer: number; head: number } }));
  const summaries = (from: number): number => requests.slice(from).filter((m) => m === 'traceSummary').length;

  before(() => {
    root = makeTempFolder('rl-live-lens');
    const model = path.join(root, 'tiny-model');
    writeRandomCheckpoint(model, { ...CONFIG, seed: 51 });
    state.settings.set('model', model);
    state.settings.set('topK', 5);
    state.settings.set('liveLens.debounceMs', DEBOUNCE_MS);
    Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: Parameters<typeof originalPost>[1]) {
      const m = message as { kind?: string; method?: string };
      if (m.kind === 'request') {
        requests.push(String(m.method));
        requestTimes.push(performance.now());
      }
      return originalPost.call(this, message, transfer);
    };
    activate(stubExtensionContext(root, subscriptions) as unknown as Parameters<typeof activate>[0]);
    const text = doc.text();
    state.activeTextEditor = { document: doc.document, selection: new stub.Selection(new Position(0, 0), new Position(0, text.length)) };
  });
  after(() => {
    Worker.prototype.postMessage = originalPost;
    removeTempFolder(root);
  });

  it('is off by default; edits trace nothing', async () => {
    assert.match(statusItem()?.text ?? '', /Live lens$/);
    const sent = requests.length;
    doc.edit(doc.text().length, 0, '!');
    doc.edit(doc.text().length - 1, 1, '');
    await sleep(DEBOUNCE_MS + 100);
    assert.deepEqual(requests.slice(sent), []);
  });

  it('turning it on traces the selection at once; the panel shows it', async () => {
    await state.commands.get('residualLens.toggleLiveLens')?.();
    await waitFor('the first trace', () => state.webviews.length > 0 && requests.includes('traceSummary'));
    panel().send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'ready', view: 'trace' });
    await waitFor('the trace posted', () => traces().length === 1);
    assert.equal(traces()[0].trace.text, 'The cat sat on the mat');
    await waitFor('live lens on', () => /Live lens: on/.test(statusItem()?.text ?? ''));
  });

  it('typing re-traces once after the pause, with the newest text; the selected token and head are kept; the hover follows (not tracing ahead)', async () => {
    state.settings.set('liveLens.traceAhead', false);
    const w = panel();
    const first = traces().at(-1);
    assert.ok(first);
    const catPos = first.trace.tokens.findIndex((t) => t.text === ' cat');
    assert.ok(catPos > 0);
    w.send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'select', pos: catPos, layer: 1, head: 1, reveal: false });
    const sent = requests.length;
    const shown = traces().length;
    for (const ch of ' and the dog') doc.edit(doc.text().length, 0, ch); // a burst of keystrokes at the end
    assert.equal(summaries(sent), 0, 'nothing before the pause');
    await waitFor('the re-trace', () => traces().length > shown);
    await sleep(DEBOUNCE_MS + 100);
    assert.equal(summaries(sent), 1, 'one trace for the burst');
    const latest = traces().at(-1);
    assert.ok(latest);
    assert.equal(latest.trace.text, 'The cat sat on the mat and the dog');
    assert.deepEqual(latest.selection, { pos: catPos, layer: 1, head: 1 }, 'the selected token still exists: kept');
    // Typing before the selected token moves the selection with it.
    doc.edit(0, 0, 'Yes, ');
    await waitFor('the second re-trace', () => traces().at(-1)?.trace.text === 'Yes, The cat sat on the mat and the dog');
    const moved = traces().at(-1);
    assert.ok(moved);
    assert.equal(moved.trace.tokens[moved.selection.pos].text, ' cat');
    assert.ok(moved.selection.pos > catPos);
    // The hover reads the new trace: the token under " dog".
    const hover = await state.hoverProviders[0].provideHover(doc.document, new Position(0, doc.text().indexOf('dog')));
    assert.ok(hover);
    assert.match(hover.contents.value, /dog/);
    assert.deepEqual(state.messages, []);
    state.settings.delete('liveLens.traceAhead');
  });

  it('tracing ahead (the default): the first key starts a trace before the pause ends; only the newest text is shown, once, after the pause', async () => {
    const sent = requests.length;
    const shown = traces().length;
    for (const ch of ' again') doc.edit(doc.text().length, 0, ch);
    const lastEdit = performance.now();
    await waitFor('the re-trace shown', () => traces().length > shown);
    const shownAt = performance.now();
    await sleep(DEBOUNCE_MS + 100);
    const started = requestTimes.slice(sent).filter((_, i) => requests[sent + i] === 'traceSummary');
    assert.ok(started.length >= 1 && started.length <= 2, `the first key's trace, then perhaps the newest text's: ${started.length}`);
    assert.ok(started[0] < shownAt, 'a trace started before anything was shown');
    // setTimeout may fire up to a millisecond early by the clock read here.
    assert.ok(shownAt - lastEdit >= DEBOUNCE_MS - 2, `shown ${(shownAt - lastEdit).toFixed(1)} ms after the last key, not before the ${DEBOUNCE_MS} ms pause`);
    assert.equal(traces().length, shown + 1, 'only the newest text is shown');
    assert.equal(requests.slice(sent).filter((m) => m === 'forgetTrace').length, started.length - 1, 'the engine forgets each dropped trace');
    assert.match(traces().at(-1)?.trace.text ?? '', / dog again$/);
    assert.deepEqual(state.messages, []);
  });

  it('the inline hint (setting, off by default): the latest trace\'s top-1 next token and probability after its range', async () => {
    const decorations: { range: { start: { character: number } }; renderOptions: { after: { contentText: string } } }[][] = [];
    // The hint's calls only (the traced-range underline sets plain ranges on the same editor).
    const editor = { document: doc.document, setDecorations: (_type: unknown, ranges: { renderOptions?: unknown }[]) => void (ranges.length === 0 || ranges[0].renderOptions ? decorations.push(ranges as never) : undefined) };
    (stub.window.visibleTextEditors as unknown[]).push(editor);
    try {
      doc.edit(doc.text().length, 0, ' ran');
      await waitFor('the re-trace', () => traces().at(-1)?.trace.text.endsWith(' ran') === true);
      await sleep(50);
      assert.ok(decorations.length > 0 && decorations.every((d) => d.length === 0), 'off by default: no hint');
      state.settings.set('liveLens.inlineHint', true);
      doc.edit(doc.text().length - 4, 4, '');
      await waitFor('the hint', () => (decorations.at(-1)?.length ?? 0) === 1);
      const [hint] = decorations.at(-1) ?? [];
      assert.equal(hint?.range.start.character, doc.text().length, 'at the end of the traced range');
      assert.match(hint?.renderOptions.after.contentText ?? '', /^ → ".*" (\d+|<1)%$/);
    } finally {
      state.settings.delete('liveLens.inlineHint');
      (stub.window.visibleTextEditors as unknown[]).splice(0);
    }
  });

  it('paused while the window is unfocused or the panel hidden: nothing runs; the newest edit runs on resume', async () => {
    state.windowFocused = false;
    fireListeners('window.onDidChangeWindowState', { focused: false });
    assert.match(statusItem()?.text ?? '', /paused/);
    const sent = requests.length;
    doc.edit(doc.text().length, 0, ' barked');
    doc.edit(doc.text().length, 0, ' twice');
    await sleep(DEBOUNCE_MS + 200);
    assert.equal(summaries(sent), 0, 'nothing traced while unfocused');
    state.windowFocused = true;
    fireListeners('window.onDidChangeWindowState', { focused: true });
    await waitFor('the resumed trace', () => traces().at(-1)?.trace.text.endsWith(' barked twice') === true);
    await sleep(DEBOUNCE_MS + 100);
    assert.equal(summaries(sent), 1);
    // The panel hidden (another editor in its group): paused as well.
    const p = state.panels[state.panels.length - 1];
    p.visible = false;
    p.fireViewState();
    assert.match(statusItem()?.text ?? '', /paused/);
    const hiddenFrom = requests.length;
    doc.edit(doc.text().length, 0, '.');
    await sleep(DEBOUNCE_MS + 200);
    assert.equal(summaries(hiddenFrom), 0, 'nothing traced while the panel is hidden');
    p.visible = true;
    p.fireViewState();
    panel().send({ v: WEBVIEW_PROTOCOL_VERSION, type: 'ready', view: 'trace' }); // a shown webview loads again
    await waitFor('the trace after the panel came back', () => traces().at(-1)?.trace.text.endsWith(' twice.') === true);
  });

  it('never traces text over the model\'s context, and says so in the status bar, not in a popup', async () => {
    const sent = requests.length;
    doc.edit(doc.text().length, 0, ' x y'.repeat(40)); // well over n_ctx = 64 tokens
    await waitFor('the count', () => requests.slice(sent).includes('tokenize'));
    await sleep(DEBOUNCE_MS);
    assert.equal(summaries(sent), 0);
    assert.deepEqual(state.messages, []);
    await waitFor('the status', () => /not tracing/.test(statusItem()?.text ?? ''));
    assert.match(String(statusItem()?.tooltip), /more than 64 tokens/);
    // Back under the context: traced again, and the status clears.
    doc.edit(doc.text().length - 160, 160, '');
    await waitFor('the trace under the context', () => traces().at(-1)?.trace.text.endsWith(' twice.') === true && summaries(sent) === 1);
    await waitFor('live lens on', () => /Live lens: on/.test(statusItem()?.text ?? ''));
    // The refused re-trace cancelled the shown trace's follow-ups still in the worker; they went again.
    const id = traces().at(-1)?.trace.traceId;
    await waitFor('the shown trace\'s lens and DLA', () => ['lens', 'attribution'].every((type) => panel().posted.some((m) => m.type === type && (m[type] as { traceId: number }).traceId === id)));
  });

  it('turned off: edits trace nothing; deactivation leaves nothing behind', async () => {
    await state.commands.get('residualLens.toggleLiveLens')?.();
    assert.match(statusItem()?.text ?? '', /Live lens$/);
    const sent = requests.length;
    doc.edit(doc.text().length, 0, ' again');
    await sleep(DEBOUNCE_MS + 200);
    assert.equal(summaries(sent), 0);
    await sleep(500); // the last trace's follow-ups
    await deactivate();
    for (const s of subscriptions.splice(0)) s.dispose();
    const leftovers = [...live.values()];
    assert.deepEqual(leftovers, [], `still live: ${leftovers.join(', ')}`);
  });
});
