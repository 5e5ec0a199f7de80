/** The status bar's model and state through EngineSession (stub vscode, no worker spawned). */
import '../helpers/vscodeStub';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EngineSession, type EngineStatus } from '../../src/ui/engineSession';

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
