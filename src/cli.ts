/**
 * `residual-lens` — the engine and analyses, headless, JSON out.
 * Each command lives in src/cli/<command>.ts and exports `run(args): Promise<number>` (the exit code).
 * Errors go to stderr as one line; the stack only with --debug.
 */
import { CliUsageError, quoteArg, type CliCommand } from './cli/args';
import { prepareOrtEnvironment } from './engine/ortEnvironment';

const commands: Record<string, () => Promise<CliCommand>> = {
  trace: async () => (await import('./cli/trace')).command,
  tokenize: async () => (await import('./cli/tokenize')).command,
  circuits: async () => (await import('./cli/circuits')).command,
  download: async () => (await import('./cli/download')).command,
  models: async () => (await import('./cli/models')).command,
  patch: async () => (await import('./cli/patch')).command,
  ablate: async () => (await import('./cli/ablate')).command,
  features: async () => (await import('./cli/features')).command,
  scan: async () => (await import('./cli/scan')).command,
  merge: async () => (await import('./cli/scan')).mergeCommand,
  'download-sae': async () => (await import('./cli/downloadSae')).command,
};

function usage(): string {
  return [
    'usage: residual-lens <command> [options]',
    '',
    '  trace     --text <text> [--model <folder|name>] [--json] [--no-bos] [--k N] [--dir DIR]',
    '  tokenize  --text <text> [--json] [--special] [--no-bos]',
    '  circuits  [--model <folder|name>] [--json] [--seed N] [--tokens N] [--dir DIR]',
    '  download  <name> [--hub URL] [--dir DIR]',
    '  models    [--dir DIR] [--json]',
    '  patch     --model <folder|name> --clean <text> --corrupt <text> --answer <token> [--wrong <token>] [--what resid_pre,attn_out,mlp_out,heads,patterns,heads_by_pos] [--heads L.H,…] [--json]',
    '  ablate    --model <folder|name> --text <text> --head L.H[,L.H…] [--mode zero|mean] [--k N] [--json]',
    '  features  --model <folder|name> --sae <folder|demo> --text <text> [--k N] [--json] [--labels FILE] [--splice]',
    '  scan      --model <folder|name> --sae <folder|demo> --files GLOB [--root DIR] [--shard i/n] [--top N] [--window N] --out FILE',
    '  merge     <shard.json>… --out FILE',
    '  download-sae <release> [--layers ID,ID…] [--hub URL] [--dir DIR]',
    '',
    '--model defaults to demo (the embedded demo model); --text - reads the text from stdin.',
    'trace, circuits, patch, ablate, features and scan take --execution-provider cpu|webgpu|auto (default cpu).',
    'Add --debug to any command for stack traces.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`residual-lens: unknown command ${quoteArg(name)}\n${usage()}\n`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}

// Before anything can load onnxruntime: its environment must not read our (maybe huge) command line.
prepareOrtEnvironment();

// `residual-lens … | head`: the reader left, so there is nobody to tell; stop quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const debug = process.argv.includes('--debug');
main(process.argv.slice(2).filter((a) => a !== '--debug')).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`residual-lens: ${message}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    process.exitCode = err instanceof CliUsageError ? 2 : 1;
  },
);
