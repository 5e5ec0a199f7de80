/**
 * Reliability and security decisions of the extension host, tested without VS Code: newest trace
 * wins, follow-up requests asked once per trace (hovers make no engine call), the host's text
 * checks, settings under workspace trust, the hub endpoint, the webview document's CSP, webview
 * message validation under random input, and the lint rules against eval.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { resolveModel } from '../../src/models/registry';
import type { Attribution, AttributionTable, LensTable } from '../../src/engine/types';
import { componentLabels } from '../../src/analysis/decomposition';
import { parseWebviewMessage, WEBVIEW_PROTOCOL_VERSION } from '../../src/protocol/webview';
import { attributionAt, TraceFollowUps, type FollowUpEngine } from '../../src/ui/followUps';
import { cacheDirSetting, hubEndpointSetting, looksLikePath, untrustedOverride } from '../../src/ui/settingsPolicy';
import { countedProblem, countRequest, EMPTY_MESSAGE, emptyTextProblem, tooLongMessage } from '../../src/ui/traceText';
import { TraceSequencer } from '../../src/ui/traceSequencer';
import { contentSecurityPolicy, makeNonce, webviewDocument } from '../../src/ui/webviewDocument';
import { Random } from '../helpers/random';

describe('TraceSequencer: the newest trace wins', () => {
  test('a new ticket aborts and stales the previous one; the newest stays live', () => {
    const seq = new TraceSequencer();
    const a = seq.begin();
    assert.equal(a.stale(), false);
    const b = seq.begin();
    assert.equal(a.signal.aborted, true);
    assert.equal(a.stale(), true);
    assert.equal(b.signal.aborted, false);
    assert.equal(b.stale(), false);
  });

  test('results arriving out of order: only the newest ticket paints', async () => {
    const seq = new TraceSequencer();
    const painted: string[] = [];
    // Three traces started in a row; the engine answers the oldest last.
    const run = async (name: string, delayMs: number): Promise<void> => {
      const ticket = seq.begin();
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (!ticket.stale()) painted.push(name);
      seq.finish(ticket);
    };
    await Promise.all([run('first', 30), run('second', 20), run('third', 5)]);
    assert.deepEqual(painted, ['third']);
  });

  test('cancel (panel closed) stales the running trace and reports whether one was running', () => {
    const seq = new TraceSequencer();
    assert.equal(seq.cancel(), false);
    const a = seq.begin();
    assert.equal(seq.cancel(), true);
    assert.equal(a.signal.aborted, true);
    assert.equal(a.stale(), true);
    // A finished trace is not "running": closing the panel afterwards cancels nothing.
    const b = seq.begin();
    seq.finish(b);
    assert.equal(b.stale(), false);
    assert.equal(seq.cancel(), false);
    assert.equal(b.signal.aborted, false);
    // The sequencer is still usable afterwards.
    const c = seq.begin();
    assert.equal(c.stale(), false);
  });
});

/** A small attribution table: 5 positions, 1 layer × 2 heads (C = 6), top-1 of position p is 100 + p. */
function fakeTable(traceId: number): AttributionTable {
  const T = 5;
  const components = componentLabels({ nLayer: 1, nHead: 2, dModel: 4, dHead: 2, dMlp: 16, nCtx: 8, dVocab: 200, layerNormEps: 1e-5 });
  const C = components.length;
  return {
    traceId,
    positions: T,
    components,
    tokenIds: Int32Array.from({ length: T }, (_, p) => 100 + p),
    values: Float32Array.from({ length: T * C }, (_, i) => i - 7),
    logit: Float64Array.from({ length: T }, (_, p) => 10 * p),
    lnBiasTerm: Float64Array.from({ length: T }, (_, p) => p / 4),
  };
}

function countingEngine(fail = new Set<string>()): FollowUpEngine & { calls: string[] } {
  const calls: string[] = [];
  const failOnce = (method: string): void => {
    if (fail.has(method)) {
      fail.delete(method);
      throw new Error('worker restarted');
    }
  };
  return {
    calls,
    lens: async (traceId, k) => {
      calls.push(`lens ${traceId} ${k}`);
      failOnce('lens');
      return { traceId, rows: 2, positions: 3, top: { k, ids: new Int32Array(6 * k), probs: new Float32Array(6 * k) }, nextTokenRank: new Int32Array(6) } as LensTable;
    },
    attributeAll: async (traceId) => {
      calls.push(`attributeAll ${traceId}`);
      failOnce('attributeAll');
      return fakeTable(traceId);
    },
    attribute: async (traceId, pos, tokenId) => {
      calls.push(`attribute ${traceId} ${pos} ${tokenId ?? 'top'}`);
      return { traceId, pos, tokenId: tokenId ?? 7 } as Attribution;
    },
  };
}

describe('TraceFollowUps: hovers are served from the stored trace', () => {
  test('200 hovers over 5 tokens after the follow-ups: zero engine calls; before: one lens and one attributeAll in all', async () => {
    const engine = countingEngine();
    const followUps = new TraceFollowUps(42, engine);
    // What the controller asks right after the trace: the lens and the DLA at the selected position.
    await Promise.all([followUps.lens(10), followUps.attribution(4)]);
    assert.deepEqual(engine.calls, ['lens 42 10', 'attributeAll 42']);
    engine.calls.length = 0;
    for (let i = 0; i < 200; i++) {
      const pos = i % 5;
      const [attribution, lens] = await Promise.all([followUps.attribution(pos), followUps.lens(10)]);
      assert.equal(attribution.pos, pos);
      assert.equal(attribution.tokenId, 100 + pos);
      assert.equal(lens.traceId, 42);
    }
    assert.deepEqual(engine.calls, [], 'hovers make no engine call');
    // Hovers that arrive before the follow-ups share the requests in flight.
    const engine2 = countingEngine();
    const f2 = new TraceFollowUps(1, engine2);
    await Promise.all(Array.from({ length: 50 }, (_, i) => f2.attribution(i % 5)));
    assert.deepEqual(engine2.calls, ['attributeAll 1']);
    // Picking the top-1 from the top-k reads the table; another token is its own request, asked once.
    assert.equal((await f2.attribution(3, 103)).logit, 30);
    await f2.attribution(3, 99);
    await f2.attribution(3, 99);
    assert.deepEqual(engine2.calls, ['attributeAll 1', 'attribute 1 3 99']);
  });

  test('a row of the table is the Attribution of that position: values, head grid, logit, lnBiasTerm', async () => {
    const table = fakeTable(9);
    const a = await new TraceFollowUps(9, countingEngine()).attribution(2);
    // Components: embed, pos_embed, L0H0, L0H1, L0 attn bias, MLP 0; row 2 holds values 12 - 7 .. 17 - 7.
    assert.deepEqual(a, {
      traceId: 9,
      pos: 2,
      tokenId: 102,
      components: table.components,
      values: Float32Array.from([5, 6, 7, 8, 9, 10]),
      headGrid: Float32Array.from([7, 8]),
      logit: 20,
      lnBiasTerm: 0.5,
    });
    assert.throws(() => attributionAt(table, 5), /pos 5 is out of range: 0\.\.4/);
  });

  test('a failed request is forgotten so the next view retries; then it is cached again', async () => {
    const engine = countingEngine(new Set(['lens', 'attributeAll']));
    const followUps = new TraceFollowUps(5, engine);
    await assert.rejects(followUps.lens(10), /worker restarted/);
    const lens = await followUps.lens(10);
    assert.equal(lens.top.k, 10);
    await followUps.lens(10);
    await assert.rejects(followUps.attribution(1), /worker restarted/);
    assert.equal((await followUps.attribution(1)).tokenId, 101);
    await followUps.attribution(2);
    assert.deepEqual(engine.calls, ['lens 5 10', 'lens 5 10', 'attributeAll 5', 'attributeAll 5']);
  });
});

describe('the host\'s text checks (the host never tokenizes)', () => {
  test('empty and whitespace-only text is refused with the empty message', () => {
    for (const text of ['', ' ', '\n\n\t  \r\n', '\u00a0\u2003\u3000', ' '.repeat(1 << 20)]) {
      assert.equal(emptyTextProblem(text), EMPTY_MESSAGE, JSON.stringify(text.slice(0, 10)));
    }
    assert.equal(EMPTY_MESSAGE, 'Nothing to trace: select text or put the cursor on a non-empty line.');
  });

  test('a lone <|endoftext|>, lone surrogates, control characters and NUL are traced, not refused', () => {
    for (const text of ['<|endoftext|>', '\uD800', 'x\uDFFF', '\u0000', '\u0007\u001b[31m', '\u202E', 'x'.repeat(1 << 20)]) {
      assert.equal(emptyTextProblem(text), undefined, JSON.stringify(text.slice(0, 10)));
    }
  });

  test('the count request stops at n_ctx + 1 tokens; too many gives the message with the limit', () => {
    const text = 'word '.repeat(200_000);
    const req = countRequest(text, true, 1024);
    assert.equal(req.text, text);
    assert.deepEqual(req.options, { prependBos: true, maxTokens: 1025 });
    const message = 'The selection has more than 1024 tokens; gpt2 accepts at most 1024 (BOS included). Select less text.';
    assert.equal(tooLongMessage(1024, 'gpt2'), message);
    const token = { id: 1, start: 0, end: 1, text: 'x', partial: false };
    assert.equal(countedProblem({ tokens: Array(1025).fill(token), exceeded: true }, 1024, 'gpt2'), message);
    assert.equal(countedProblem({ tokens: Array(1025).fill(token), exceeded: false }, 1024, 'gpt2'), message);
    assert.equal(countedProblem({ tokens: Array(1024).fill(token), exceeded: false }, 1024, 'gpt2'), undefined);
  });
});

describe('settings', () => {
  test('workspace trust: a model path from workspace settings is ignored in an untrusted workspace', () => {
    const path = '/home/me/evil-model';
    const defaults = { defaultValue: 'demo' };
    // Untrusted + a path from the workspace (or a workspace folder) → the user's value, or the default.
    assert.deepEqual(untrustedOverride('model', { ...defaults, workspaceValue: path }, false, 'demo'), {
      value: 'demo',
      message: `Residual Lens ignores residualLens.model = "${path}" from this workspace's settings because the workspace is not trusted; using "demo".`,
    });
    assert.equal(untrustedOverride('model', { ...defaults, globalValue: 'gpt2', workspaceFolderValue: '../m' }, false, 'demo')?.value, 'gpt2');
    assert.equal(untrustedOverride('modelCacheDir', { defaultValue: '', workspaceValue: 'C:\\cache' }, false, '')?.value, '');
    // Trusted workspaces, manifest names, and user-level paths stand.
    assert.equal(untrustedOverride('model', { ...defaults, workspaceValue: path }, true, 'demo'), undefined);
    assert.equal(untrustedOverride('model', { ...defaults, workspaceValue: 'gpt2' }, false, 'demo'), undefined);
    assert.equal(untrustedOverride('model', { ...defaults, globalValue: path }, false, 'demo'), undefined);
    assert.equal(untrustedOverride('model', undefined, false, 'demo'), undefined);
    for (const p of ['/a', './a', '../a', '~/a', 'a/b', 'a\\b']) assert.equal(looksLikePath(p), true, p);
    for (const n of ['demo', 'gpt2', 'gpt2-medium', 'distilgpt2']) assert.equal(looksLikePath(n), false, n);
  });

  test('model setting: unknown name, relative path, missing folder, symlink loop — each a one-line message', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-settings-'));
    try {
      const ctx = { extensionRoot: root, cacheDir: path.join(root, 'cache'), hfCacheDir: path.join(root, 'hf') };
      const loop = path.join(root, 'loop');
      fs.symlinkSync(loop, loop);
      const cases: [string, string][] = [
        ['gpt-5', 'Unknown model "gpt-5"; use one of: demo, gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2, or an absolute folder path.'],
        ['models/gpt2', `Model "models/gpt2" is not in the Hugging Face cache (${path.join(root, 'hf')}) and is not an absolute folder path; fetch it with transformers or \`huggingface-cli download models/gpt2\`, or use an absolute folder path or one of: demo, gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2.`],
        ['./models/gpt2', 'Model "./models/gpt2" is a relative path; use an absolute folder path (holding config.json + model.safetensors) or one of: demo, gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilgpt2.'],
        [path.join(root, 'nowhere'), `Model folder: the folder ${path.join(root, 'nowhere')} does not exist.`],
        [loop, `Model folder: the folder ${loop} cannot be read (ELOOP).`],
      ];
      for (const [setting, message] of cases) assert.deepEqual(resolveModel(setting, ctx), { kind: 'error', message });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('hub endpoint: https, or http only to loopback; anything else is a clear message', () => {
    assert.deepEqual(hubEndpointSetting('https://huggingface.co'), { endpoint: 'https://huggingface.co' });
    assert.deepEqual(hubEndpointSetting(' https://mirror.example/hf/ '), { endpoint: 'https://mirror.example/hf' });
    assert.deepEqual(hubEndpointSetting('http://127.0.0.1:8080'), { endpoint: 'http://127.0.0.1:8080' });
    assert.deepEqual(hubEndpointSetting('ftp://huggingface.co'), {
      message: 'residualLens.hubEndpoint: Hub endpoint ftp://huggingface.co uses ftp; only https is allowed (http only to 127.0.0.1, localhost or ::1).',
    });
    assert.deepEqual(hubEndpointSetting('http://huggingface.co'), {
      message: 'residualLens.hubEndpoint: Hub endpoint http://huggingface.co uses http; only https is allowed (http only to 127.0.0.1, localhost or ::1).',
    });
    assert.deepEqual(hubEndpointSetting('huggingface.co'), { message: 'residualLens.hubEndpoint: Hub endpoint "huggingface.co" is not a URL (expected e.g. https://huggingface.co).' });
    assert.deepEqual(hubEndpointSetting('file:///etc'), { message: 'residualLens.hubEndpoint: Hub endpoint file:///etc uses file; only https is allowed (http only to 127.0.0.1, localhost or ::1).' });
  });

  test('model cache folder: absolute, else the extension storage (a relative value is noted, not used)', () => {
    assert.deepEqual(cacheDirSetting('', '/storage/models'), { dir: '/storage/models' });
    assert.deepEqual(cacheDirSetting(' /big/disk ', '/storage/models'), { dir: '/big/disk' });
    assert.deepEqual(cacheDirSetting('cache', '/storage/models'), { dir: '/storage/models', note: 'residualLens.modelCacheDir "cache" is not an absolute path; using /storage/models.' });
  });
});

describe('webview document', () => {
  const nonce = makeNonce();
  const cspSource = 'https://file+.vscode-resource.vscode-cdn.net';
  const scriptUri = `${cspSource}/ext/dist/webview.js`;
  const html = webviewDocument({ cspSource, scriptUri, nonce, view: 'trace', title: 'Residual Lens: <Trace> & "x"' });

  test('CSP: default-src none, scripts only by nonce, nothing inline or eval, nothing remote', () => {
    const csp = contentSecurityPolicy(cspSource, nonce);
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('script-src'), [`'nonce-${nonce}'`]);
    assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), csp);
    for (const [name, values] of directives) {
      for (const v of values) assert.ok(v === "'none'" || v === 'data:' || v === cspSource || v === `'nonce-${nonce}'`, `${name} ${v}`);
    }
    assert.ok(html.includes(`<meta http-equiv="Content-Security-Policy" content="${csp}">`));
  });

  test('one script, with the nonce, from the extension; no inline handlers, no remote URL, title escaped', () => {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0][1].trim(), `nonce="${nonce}" src="${scriptUri}"`);
    assert.equal(scripts[0][2], '', 'no inline script');
    assert.ok(!/\son[a-z]+\s*=/i.test(html), 'no inline event handler');
    assert.ok(!/javascript:/i.test(html));
    const urls = [...html.matchAll(/\b(?:https?|wss?):\/\/[^\s"'<>]+/g)].map((m) => m[0]);
    assert.ok(urls.every((u) => u.startsWith(cspSource)), urls.join(' '));
    assert.ok(html.includes('<title>Residual Lens: &#60;Trace&#62; &#38; &#34;x&#34;</title>'));
    assert.equal((html.match(/<link\b|<img\b|<iframe\b|<object\b|<embed\b/g) ?? []).length, 0);
  });

  test('nonces are 128 random bits and never repeat', () => {
    const seen = new Set(Array.from({ length: 1000 }, makeNonce));
    assert.equal(seen.size, 1000);
    for (const n of seen) assert.equal(Buffer.from(n, 'base64').length, 16);
  });
});

describe('webview messages under random input', () => {
  const v = WEBVIEW_PROTOCOL_VERSION;
  const TYPES = ['ready', 'painted', 'select', 'pickToken', 'exportLens', 'savePng', 'openHead', 'headPair', 'mlpPair', 'computeCircuits', 'retrace', 'log', 'constructor', '__proto__', 'toString'];
  const FIELDS = ['view', 'traceId', 'pos', 'layer', 'head', 'reveal', 'tokenId', 'format', 'name', 'dataUrl', 'layer1', 'head1', 'layer2', 'head2', 'kind', 'writer', 'reader', 'message'];
  const values = (r: Random): unknown => {
    const pool: unknown[] = [0, 1, -1, 2 ** 53, 1.5, NaN, Infinity, '', 'trace', 'csv', 'k', '../../etc/passwd', 'data:image/png;base64,!!', true, null, undefined, [], {}, { toString: 1 }, 'x'.repeat(5000), Symbol('s'), 10n];
    return pool[r.int(0, pool.length)];
  };

  test('10,000 seeded random messages: never a throw; accepted ones hold only checked fields', () => {
    const r = new Random(7);
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const raw: Record<string, unknown> = { v: r.chance(0.9) ? v : values(r), type: TYPES[r.int(0, TYPES.length)] };
      for (const f of FIELDS) if (r.chance(0.5)) raw[f] = values(r);
      if (r.chance(0.05)) Object.setPrototypeOf(raw, { pos: 1, reveal: true });
      const result = parseWebviewMessage(raw);
      if (!result.ok) {
        assert.equal(typeof result.error, 'string');
        assert.ok(!result.error.includes('\n'));
        continue;
      }
      accepted++;
      const msg = result.value as unknown as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(msg), Object.prototype);
      for (const [key, value] of Object.entries(msg)) {
        if (typeof value === 'number') assert.ok(Number.isSafeInteger(value) && value >= 0, `${key} = ${value}`);
        else assert.ok(['string', 'boolean'].includes(typeof value), `${key}: ${typeof value}`);
      }
    }
    assert.ok(accepted > 100, `only ${accepted} accepted: the generator should also make valid messages`);
  });
});

describe('lint rules', () => {
  test('no eval, implied eval or new Function: on for the extension, the engine and the webview bundle', async () => {
    const { ESLint } = await import('eslint');
    const eslint = new ESLint();
    for (const file of ['src/extension.ts', 'src/engine/worker.ts', 'webview/main.ts', 'webview/tracePanel.ts']) {
      const config = (await eslint.calculateConfigForFile(file)) as { rules: Record<string, unknown> };
      for (const rule of ['no-eval', 'no-implied-eval', 'no-new-func']) {
        const setting = config.rules[rule];
        const level = Array.isArray(setting) ? setting[0] : setting;
        assert.ok(level === 2 || level === 'error', `${file}: ${rule} is ${JSON.stringify(setting)}`);
      }
    }
  });
});
