/**
 * Bundles the extension host, the engine worker, the CLI and the webview front end with esbuild.
 * onnxruntime-node stays external: it loads a native binary from its own package folder.
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

interface Entry {
  readonly entry: string;
  readonly out: string;
  readonly platform: 'node' | 'browser';
}

const entries: Entry[] = [
  { entry: 'src/extension.ts', out: 'dist/extension.js', platform: 'node' },
  { entry: 'src/engine/worker.ts', out: 'dist/worker.js', platform: 'node' },
  { entry: 'src/cli.ts', out: 'dist/cli.js', platform: 'node' },
  { entry: 'webview/main.ts', out: 'dist/webview.js', platform: 'browser' },
];

async function main(): Promise<void> {
  const contexts: esbuild.BuildContext[] = [];
  for (const e of entries) {
    if (!fs.existsSync(path.join(root, e.entry))) continue;
    const options: esbuild.BuildOptions = {
      absWorkingDir: root,
      entryPoints: [e.entry],
      outfile: e.out,
      bundle: true,
      platform: e.platform,
      format: e.platform === 'node' ? 'cjs' : 'iife',
      target: e.platform === 'node' ? 'node20' : 'es2022',
      external: e.platform === 'node' ? ['vscode', 'onnxruntime-node'] : [],
      sourcemap: !production,
      minify: production,
      logLevel: 'warning',
      loader: { '.css': 'text' },
    };
    if (watch) {
      const ctx = await esbuild.context(options);
      await ctx.watch();
      contexts.push(ctx);
    } else {
      await esbuild.build(options);
    }
  }
  if (watch) console.log('esbuild: watching');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
