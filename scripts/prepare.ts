/**
 * Runs on `npm install` / `npm ci`: builds the demo model deterministically (checked by sha256),
 * then bundles the code. Both steps are offline.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const run = (script: string): void => {
  execFileSync(process.execPath, ['--import', 'tsx', path.join(root, script)], { stdio: 'inherit', cwd: root });
};

if (fs.existsSync(path.join(root, 'scripts/build-demo-model.ts'))) run('scripts/build-demo-model.ts');
if (fs.existsSync(path.join(root, 'scripts/build-demo-sae.ts'))) run('scripts/build-demo-sae.ts');
run('scripts/build.ts');
