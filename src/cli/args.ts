/** Tiny argument parsing shared by the CLI commands (node:util parseArgs, with one error type). */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliCommand {
  /** Runs the command with its own arguments; resolves to the exit code. */
  run(args: string[]): Promise<number>;
}

/** A mistake in the command line: exit code 2, no stack. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

export function parseCliArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  allowPositionals = false,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new CliUsageError(err instanceof Error ? err.message : String(err));
  }
}
