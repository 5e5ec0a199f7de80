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
    throw new CliUsageError(shortenQuoted(err instanceof Error ? err.message : String(err)));
  }
}

/** Longest argument echoed back whole in a message; longer ones are cut (a 60 KB --text once filled the terminal). */
export const MAX_ECHOED_ARG = 40;

/** An argument quoted for a message, cut to MAX_ECHOED_ARG characters with its full length named. */
export function quoteArg(arg: string): string {
  const chars = [...arg];
  return chars.length <= MAX_ECHOED_ARG ? `'${arg}'` : `'${chars.slice(0, MAX_ECHOED_ARG - 1).join('')}…' (${chars.length} characters)`;
}

/** Every 'quoted' argument in node:util parseArgs's message, cut as quoteArg cuts it. */
export function shortenQuoted(message: string): string {
  return message.replace(/'([^']*)'/g, (_, inner: string) => quoteArg(inner));
}
