/**
 * The install stays offline-safe and quiet: onnxruntime-node's postinstall (a CUDA download on
 * linux-x64) is held back by package.json `allowScripts`, which current npm honours without a
 * word, not by an .npmrc key that npm 11 warns about on every call ("Unknown project config").
 * The fresh-clone `npm ci --offline` itself was checked by hand (report of issue 15); .ci/run
 * also sets ONNXRUNTIME_NODE_INSTALL=skip for an npm without allowScripts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

describe('npm configuration', () => {
  it('denies onnxruntime-node\'s install script in package.json allowScripts, and .ci/run skips it for older npm too', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
    assert.match(fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8'), /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  });

  it('gives npm no project config it does not know (no warning on every npm call)', () => {
    const npmrc = path.join(ROOT, '.npmrc');
    if (fs.existsSync(npmrc)) {
      for (const line of fs.readFileSync(npmrc, 'utf8').split('\n')) assert.ok(!/^\s*onnxruntime-node-install\b/.test(line), line);
    }
    const r = spawnSync('npm', ['config', 'get', 'registry'], { cwd: ROOT, encoding: 'utf8', shell: process.platform === 'win32' });
    if (r.error) return; // no npm on PATH: nothing more to check
    assert.doesNotMatch(r.stderr, /Unknown project config/);
  });
});
