/** The host ↔ webview message validators: good messages pass unchanged, bad ones are refused with a reason. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isHostMessage, MAX_LOG_CHARS, MAX_STATE_TEXT_CHARS, parseRememberedTrace, parseShowCircuitsArg, parseTracePanelState, parseWebviewMessage, WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';

const v = WEBVIEW_PROTOCOL_VERSION;
const PNG = 'data:image/png;base64,iVBORw0KGgo=';

function refused(raw: unknown, reason: RegExp): void {
  const r = parseWebviewMessage(raw);
  assert.equal(r.ok, false, `expected ${JSON.stringify(raw)} to be refused`);
  if (!r.ok) assert.match(r.error, reason);
}

describe('parseWebviewMessage accepts well-formed messages', () => {
  const good = [
    { v, type: 'ready', view: 'trace' },
    { v, type: 'ready', view: 'side' },
    { v, type: 'ready', view: 'circuits' },
    { v, type: 'painted', traceId: 3 },
    { v, type: 'painted', traceId: 3, renderMs: 12.5, webviewMs: 40 },
    { v, type: 'painted', traceId: 3, renderMs: 12.5, webviewMs: 40, renderParts: { chart: 5.5, dla: 2 }, paintedAtMs: 1796400000000.5 },
    { v, type: 'select', pos: 4, reveal: true },
    { v, type: 'select', pos: 0, layer: 1, head: 2, reveal: false },
    { v, type: 'pickToken', pos: 1, tokenId: 50256 },
    { v, type: 'exportLens', format: 'csv' },
    { v, type: 'exportLens', format: 'markdown' },
    { v, type: 'savePng', name: 'attention-L1H0', dataUrl: PNG },
    { v, type: 'openHead', layer: 0, head: 0 },
    { v, type: 'headPair', layer1: 0, head1: 0, layer2: 1, head2: 3, kind: 'k' },
    { v, type: 'mlpPair', writer: 0, reader: 2 },
    { v, type: 'computeCircuits' },
    { v, type: 'retrace' },
    { v, type: 'log', message: 'hello' },
    { v, type: 'exportTrace' },
    { v, type: 'headSources', layer: 1, head: 0, pos: 5 },
    { v, type: 'pickTokenText', pos: 2, text: ' Paris' },
    { v, type: 'pickTokenText', pos: 0, text: '#50256' },
    { v, type: 'featureCard', feature: 12, pos: 3 },
    { v, type: 'labelFeature', feature: 12, label: 'token is " cat"' },
  ];
  for (const msg of good) {
    test(`${msg.type} ${JSON.stringify(msg).slice(0, 60)}`, () => {
      const r = parseWebviewMessage(msg);
      assert.equal(r.ok, true, r.ok ? '' : r.error);
      if (r.ok) assert.deepEqual(r.value, msg);
    });
  }
  test('unknown extra fields are dropped, not passed on', () => {
    const r = parseWebviewMessage({ v, type: 'painted', traceId: 1, evil: '<script>' });
    assert.deepEqual(r, { ok: true, value: { v, type: 'painted', traceId: 1 } });
  });
  test('log messages are cut to MAX_LOG_CHARS', () => {
    const r = parseWebviewMessage({ v, type: 'log', message: 'x'.repeat(MAX_LOG_CHARS + 50) });
    assert.ok(r.ok && r.value.type === 'log' && r.value.message.length === MAX_LOG_CHARS);
  });
});

describe('parseWebviewMessage refuses bad messages', () => {
  test('not an object', () => {
    refused(null, /not an object/);
    refused('ready', /not an object/);
    refused([v, 'ready'], /not an object/);
  });
  test('wrong or missing version', () => {
    refused({ type: 'ready', view: 'trace' }, /version undefined is not 1/);
    refused({ v: 2, type: 'ready', view: 'trace' }, /version 2 is not 1/);
  });
  test('unknown type', () => {
    refused({ v, type: 'runCommand', command: 'workbench.action.terminal.new' }, /unknown message type "runCommand"/);
    refused({ v }, /unknown message type "undefined"/);
  });
  test('ready with an unknown view', () => refused({ v, type: 'ready', view: 'editor' }, /ready: unknown view editor/));
  test('indices must be non-negative safe integers', () => {
    refused({ v, type: 'painted', traceId: -1 }, /painted: traceId must be a non-negative integer/);
    refused({ v, type: 'painted', traceId: 1, renderMs: -1 }, /painted: renderMs must be a duration in ms/);
    refused({ v, type: 'painted', traceId: 1, webviewMs: Infinity }, /painted: webviewMs must be a duration in ms/);
    refused({ v, type: 'painted', traceId: 1, webviewMs: '40' }, /painted: webviewMs must be a duration in ms/);
    refused({ v, type: 'painted', traceId: 1, paintedAtMs: NaN }, /painted: paintedAtMs must be a time in epoch ms/);
    refused({ v, type: 'painted', traceId: 1, renderParts: { chart: -1 } }, /painted: renderParts must map/);
    refused({ v, type: 'painted', traceId: 1, renderParts: { evil: 1 } }, /painted: renderParts must map/);
    refused({ v, type: 'select', pos: 1.5, reveal: true }, /select: pos/);
    refused({ v, type: 'select', pos: '3', reveal: true }, /select: pos/);
    refused({ v, type: 'select', pos: 2 ** 60, reveal: true }, /select: pos/);
    refused({ v, type: 'select', pos: 1, layer: -2, reveal: true }, /select: layer/);
    refused({ v, type: 'select', pos: 1, head: NaN, reveal: true }, /select: head/);
    refused({ v, type: 'select', pos: 1 }, /select: reveal must be a boolean/);
    refused({ v, type: 'pickToken', pos: 1 }, /pickToken: tokenId/);
    refused({ v, type: 'headSources', layer: 1, head: 0 }, /headSources: pos/);
    refused({ v, type: 'pickTokenText', pos: 1, text: '' }, /pickTokenText: text must be a string of 1 to 256 characters/);
    refused({ v, type: 'pickTokenText', pos: 1, text: 'x'.repeat(257) }, /pickTokenText: text must be/);
    refused({ v, type: 'pickTokenText', pos: 1, text: 7 }, /pickTokenText: text must be/);
    refused({ v, type: 'pickTokenText', pos: -1, text: 'a' }, /pickTokenText: pos/);
    refused({ v, type: 'featureCard', feature: -1, pos: 0 }, /featureCard: feature/);
    refused({ v, type: 'labelFeature', feature: 1, label: 'x'.repeat(501) }, /labelFeature: label must be a string of at most 500/);
    refused({ v, type: 'labelFeature', feature: 1 }, /labelFeature: label/);
    refused({ v, type: 'openHead', layer: 0, head: Infinity }, /openHead: head/);
  });
  test('export format', () => refused({ v, type: 'exportLens', format: 'html' }, /exportLens: unknown format html/));
  test('savePng: name must not be a path, data must be a base64 PNG', () => {
    refused({ v, type: 'savePng', name: '../../etc/passwd', dataUrl: PNG }, /savePng: name must be/);
    refused({ v, type: 'savePng', name: 'a/b', dataUrl: PNG }, /savePng: name must be/);
    refused({ v, type: 'savePng', name: '', dataUrl: PNG }, /savePng: name must be/);
    refused({ v, type: 'savePng', name: 'chart', dataUrl: 'data:text/html;base64,PGI+' }, /dataUrl must be a data:image\/png;base64 URL/);
    refused({ v, type: 'savePng', name: 'chart', dataUrl: 'data:image/png;base64,not base64!' }, /not valid base64/);
    refused({ v, type: 'savePng', name: 'chart', dataUrl: 42 }, /dataUrl must be/);
  });
  test('head and MLP pairs must go from an earlier layer to a later one', () => {
    refused({ v, type: 'headPair', layer1: 1, head1: 0, layer2: 1, head2: 1, kind: 'k' }, /layer1 must be before layer2/);
    refused({ v, type: 'headPair', layer1: 0, head1: 0, layer2: 1, head2: 1, kind: 'o' }, /kind must be q, k or v/);
    refused({ v, type: 'headPair', layer1: 0, head1: 0, layer2: 1, kind: 'q' }, /headPair: head2/);
    refused({ v, type: 'mlpPair', writer: 3, reader: 1 }, /writer must be before reader/);
  });
  test('log message must be a string', () => refused({ v, type: 'log', message: { toString: 1 } }, /log: message must be a string/));
});

describe('parseRememberedTrace', () => {
  test('reads the text and where it was; a bare string (earlier versions) is the text alone', () => {
    const source = { uri: 'file:///w/a.txt', offset: 12 };
    assert.deepEqual(parseRememberedTrace({ text: 'abc', source }), { ok: true, value: { text: 'abc', source } });
    assert.deepEqual(parseRememberedTrace({ text: 'abc' }), { ok: true, value: { text: 'abc' } });
    assert.deepEqual(parseRememberedTrace('abc'), { ok: true, value: { text: 'abc' } });
    assert.deepEqual(parseRememberedTrace({ text: 'abc', source, extra: 1 }), { ok: true, value: { text: 'abc', source } }, 'extra fields dropped');
  });

  test('refuses what is not a remembered trace', () => {
    for (const bad of [undefined, null, 3, '', { text: '' }, { text: 4 }, { text: 'x'.repeat(MAX_STATE_TEXT_CHARS + 1) }, 'x'.repeat(MAX_STATE_TEXT_CHARS + 1), { text: 'a', source: { uri: '', offset: 0 } }, { text: 'a', source: { uri: 'file:///a', offset: -1 } }, { text: 'a', source: 'file:///a' }]) {
      assert.equal(parseRememberedTrace(bad).ok, false, JSON.stringify(bad)?.slice(0, 60));
    }
  });
});

describe('parseTracePanelState', () => {
  test('a saved state comes back as is', () => {
    const state = { text: 'The cat', model: 'demo', selection: { pos: 2, layer: 1, head: 0 } };
    assert.deepEqual(parseTracePanelState(state), { ok: true, value: state });
  });
  test('bad states are refused', () => {
    assert.deepEqual(parseTracePanelState(undefined), { ok: false, error: 'state is not an object' });
    assert.equal(parseTracePanelState({ text: '', model: 'demo', selection: { pos: 0, layer: 0, head: 0 } }).ok, false);
    assert.equal(parseTracePanelState({ text: 'x', model: 3, selection: { pos: 0, layer: 0, head: 0 } }).ok, false);
    assert.equal(parseTracePanelState({ text: 'x', model: 'demo', selection: { pos: -1, layer: 0, head: 0 } }).ok, false);
    assert.equal(parseTracePanelState({ text: 'x'.repeat(1024 * 1024 + 1), model: 'demo', selection: { pos: 0, layer: 0, head: 0 } }).ok, false);
  });
  test('where the text sat in its document comes back with it; a malformed one is refused', () => {
    const state = { text: 'The cat', model: 'demo', selection: { pos: 2, layer: 1, head: 0 }, source: { uri: 'file:///work/a%20b.txt', offset: 12 } };
    assert.deepEqual(parseTracePanelState({ ...state, source: { ...state.source, extra: 1 } }), { ok: true, value: state });
    for (const source of [null, 'file:///a', { uri: 'file:///a' }, { uri: '', offset: 0 }, { uri: 'file:///a', offset: -1 }, { uri: 'file:///a', offset: 1.5 }, { uri: 7, offset: 0 }, { uri: 'f'.repeat(8193), offset: 0 }]) {
      assert.deepEqual(parseTracePanelState({ ...state, source }), { ok: false, error: 'state: source must hold a document URI and an offset' }, JSON.stringify(source)?.slice(0, 40));
    }
  });
});

describe('isHostMessage', () => {
  test('checks the version and a type', () => {
    assert.equal(isHostMessage({ v, type: 'status', text: 'x', busy: false }), true);
    assert.equal(isHostMessage({ v: 0, type: 'status' }), false);
    assert.equal(isHostMessage({ v }), false);
    assert.equal(isHostMessage(null), false);
  });
});

describe('parseShowCircuitsArg (residualLens.showCircuits with {layer, head} from a trace-panel head cell)', () => {
  test('no argument: no focus; {layer, head}: that head, extra fields dropped', () => {
    assert.deepEqual(parseShowCircuitsArg(undefined), { ok: true, value: undefined });
    assert.deepEqual(parseShowCircuitsArg({ layer: 1, head: 0 }), { ok: true, value: { layer: 1, head: 0 } });
    assert.deepEqual(parseShowCircuitsArg({ layer: 11, head: 7, extra: '<b>' }), { ok: true, value: { layer: 11, head: 7 } });
  });
  test('anything else is refused with a reason', () => {
    const refusedArg = (raw: unknown, reason: RegExp): void => {
      const r = parseShowCircuitsArg(raw);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, reason);
    };
    refusedArg(null, /must be \{layer, head\}/);
    refusedArg([1, 0], /must be \{layer, head\}/);
    refusedArg('L1H0', /must be \{layer, head\}/);
    refusedArg({ layer: 1 }, /head must be a non-negative integer/);
    refusedArg({ layer: -1, head: 0 }, /layer must be a non-negative integer/);
    refusedArg({ layer: 0.5, head: 0 }, /layer must be/);
    refusedArg({ layer: 0, head: '2' }, /head must be/);
  });
});
