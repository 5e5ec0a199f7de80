/** The status bar's model, state and provider through EngineSession and StatusBar (stub vscode), and the client's fallback notices (a stand-in worker). */
import { state } from '../helpers/vscodeStub';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/engine/client';
import { ENGINE_PROTOCOL_VERSION } from '../../src/protocol/engine';
import { EngineSession, type EngineStatus } from '../../src/ui/engineSession';
import { StatusBar } from '../../src/ui/statusBar';

describe('EngineSession status', () => {
  it('names the model that failed, then drops that error when the model setting changes', () => {
    const session = new EngineSession('/nonexistent/worker.js', '/tmp', () => undefined);
    const seen: EngineStatus[] = [];
    session.onDidChangeStatus((s) => seen.push(s));
    session.reportProblem('badmodel', 'config.json: not valid JSON');
    assert.deepEqual(session.status, { state: 'error', model: 'badmodel', detail: 'config.json: not valid JSON' });
    // The user picks another model: the old error is not shown against it.
    assert.deepEqual(session.settingChanged(), { state: 'idle', model: undefined });
    assert.deepEqual(seen.map((s) => s.state), ['error', 'idle']);
    session.dispose();
  });

  it('after close nothing starts a worker again: a late request (a restore that waited for its document) is cancelled', async () => {
    const session = new EngineSession('/nonexistent/worker.js', '/tmp', () => undefined);
    await session.close();
    await assert.rejects(session.request('tokenize', { text: 'late' }), (err: Error & { code?: string }) => err.name === 'EngineError' && err.code === 'cancelled');
    await assert.rejects(session.ensureLoaded({ name: 'demo', folder: '/nonexistent' }), (err: Error & { code?: string }) => err.code === 'cancelled');
  });
});

describe('status bar: where the graphs run', () => {
  it('names the provider; WebGPU with some graphs on the CPU says both, and the tooltip says why', () => {
    const bar = new StatusBar(() => 'demo');
    const item = state.statusBarItems.at(-1)!;
    bar.update({ state: 'ready', model: 'demo', executionProvider: 'cpu' });
    assert.match(item.text ?? '', /demo · ready · CPU$/);
    bar.update({ state: 'ready', model: 'demo', executionProvider: 'webgpu' });
    assert.match(item.text ?? '', /demo · ready · WebGPU$/);
    assert.doesNotMatch(item.tooltip?.value ?? '', /Some graphs run on the CPU/);
    bar.update({ state: 'tracing', model: 'demo', executionProvider: 'webgpu', partlyOnCpu: true });
    assert.match(item.text ?? '', /demo · tracing · WebGPU \+ CPU$/);
    assert.match(item.tooltip?.value ?? '', /Some graphs run on the CPU: WebGPU could not run them/);
    bar.dispose();
  });
});

describe('EngineClient: a fallback notice from the worker', () => {
  it('is logged and handed to onFallback; other notices are only logged', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rl-notice-'));
    const worker = path.join(dir, 'notice-worker.cjs');
    // A worker that says two things at start and answers nothing.
    fs.writeFileSync(worker, `const { parentPort } = require('node:worker_threads');
parentPort.postMessage({ v: ${ENGINE_PROTOCOL_VERSION}, kind: 'notice', text: 'threads at normal priority' });
parentPort.postMessage({ v: ${ENGINE_PROTOCOL_VERSION}, kind: 'notice', text: 'WebGPU could not run a graph (x); that graph runs on the CPU.', fallback: true });
parentPort.on('message', () => undefined);
`);
    const log: string[] = [];
    const fallbacks: string[] = [];
    const client = new EngineClient({ workerPath: worker, log: (line) => log.push(line), onFallback: (text) => fallbacks.push(text), execArgv: [] });
    const pending = client.request('tokenize', { text: 'x' }).catch((err: unknown) => err);
    while (log.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(log, ['engine: threads at normal priority', 'engine: WebGPU could not run a graph (x); that graph runs on the CPU.']);
    assert.deepEqual(fallbacks, ['WebGPU could not run a graph (x); that graph runs on the CPU.']);
    client.dispose();
    assert.equal((await pending as { code?: string }).code, 'cancelled');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
