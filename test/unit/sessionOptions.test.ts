/** onnxruntime session options (src/engine/session.ts): the flat `extra` keys the binding reads. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sessionOptions } from '../../src/engine/session';

describe('sessionOptions', () => {
  it('threads sleep between parallel sections unless spinning is asked (the low-priority engine worker asks)', () => {
    assert.equal((sessionOptions(undefined).extra as Record<string, string>)['session.intra_op.allow_spinning'], '0');
    assert.equal((sessionOptions(undefined, { spinning: false }).extra as Record<string, string>)['session.intra_op.allow_spinning'], '0');
    assert.equal((sessionOptions(undefined, { spinning: true }).extra as Record<string, string>)['session.intra_op.allow_spinning'], '1');
  });

  it('intra-op threads as asked, one inter-op thread, prepacking on, external data resolved in the weights folder', () => {
    const o = sessionOptions('/models/x', { threads: 3 });
    assert.equal(o.intraOpNumThreads, 3);
    assert.equal(o.interOpNumThreads, 1);
    const extra = o.extra as Record<string, string>;
    assert.equal(extra['session.disable_prepacking'], '0');
    assert.equal(extra['session.model_external_initializers_file_folder_path'], '/models/x');
  });
});
