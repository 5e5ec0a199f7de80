/**
 * `residual-lens` — the engine and analyses, headless, JSON out.
 * Each command lives in src/cli/<command>.ts and exports `run(args): Promise<number>` (the exit code).
 * Errors go to stderr as one line; the stack only with --debug.
 */
import { CliUsageError, type CliCommand } from './cli/args';

const commands: Record<string, () => Promise<CliCommand>> = {
  trace: async () => (await import('./cli/trace')).command,
  tokenize: async () => (await import('./cli/tokenize')).command,
  circuits: async () => (await import('./cli/circuits')).command,
  download: async () => (await import('./cli/download')).command,
  models: async () => (await import('./cli/models')).command,
  features: async () => (await import('./cli/features')).command,
  scan: async () => (await import('./cli/scan')).command,
  merge: async () => (await import('./cli/scan')).mergeCommand,
  'download-sae': async () => (await import('./cli/downloadSae')).command,
};

function usage(): string {
  return [
    'usage: residual-lens <command> [options]',
    '',
    '  trace     --model <folder|name> --text <text> [--json] [--no-bos] [--k N]',
    '  tokenize  --text <text> [--json] [--special] [--no-bos]',
    '  circuits  --model <folder|name> [--json]',
    '  download  <name> [--hub URL] [--dir DIR]',
    '  models    [--dir DIR] [--json]',
    '  features  --model <folder|name> --sae <folder|demo> --text <text> [--k N] [--json] [--labels FILE]',
    '  scan      --model <folder|name> --sae <folder|demo> --files GLOB [--root DIR] [--shard i/n] [--top N] [--window N] --out FILE',
    '  merge     <shard.json>… --out FILE',
    '  download-sae <release> [--layers ID,ID…] [--hub URL] [--dir DIR]',
    '',
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
    process.stderr.write(`residual-lens: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}

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
