/**
 * What the bench sections share: the median / rounding used in their JSON, and the guard that keeps
 * a section from failing the whole `npm run bench` (a failure or a time-out becomes an `error` entry).
 * No DOM and no Node imports, so bench/heatmapPage.ts (in the page) can use the statistics too.
 */

/** The median (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * Runs `measure` for at most `timeoutMs`; never throws: an error or the time-out returns
 * `{ error, ...onError }` after `log`ging the stack. `cleanup` runs either way (browsers, servers).
 */
export async function guardedSection(
  options: { readonly timeoutMs: number; readonly log: (line: string) => void; readonly cleanup: () => Promise<void>; readonly onError?: Record<string, unknown> },
  measure: () => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`took longer than ${options.timeoutMs / 60_000} min`)), options.timeoutMs);
  });
  try {
    return await Promise.race([measure(), timeout]);
  } catch (err: unknown) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
    options.log(`failed: ${err instanceof Error ? (err.stack ?? message) : message}`);
    return { error: message, ...options.onError };
  } finally {
    clearTimeout(timer);
    await options.cleanup();
  }
}

/**
 * A bench file run alone (`require.main === module`): `run`'s JSON on stdout, or the error's stack
 * on stderr and exit code 1. `exit`: exit 0 after printing, for runs whose Playwright handles may
 * stay open after their cleanups.
 */
export function printWhenRunAlone(run: () => Promise<unknown>, options: { readonly exit?: boolean } = {}): void {
  run().then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      if (options.exit) process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/** A text of exactly T tokens with BOS whose words vary (so the top-1 predictions vary): common one-token words. */
export function variedTextOfLength(T: number): string {
  const words = [' the', ' of', ' and', ' to', ' in', ' is', ' was', ' for', ' on', ' that', ' with', ' as', ' it', ' he', ' by', ' at', ' from', ' his', ' an', ' were', ' are', ' which', ' this', ' be', ' or', ' had', ' not', ' but', ' first', ' one', ' their', ' its', ' new', ' after', ' who', ' they', ' have', ' her', ' she', ' two', ' been', ' other', ' when', ' there', ' all', ' during', ' into', ' school', ' time', ' may', ' years', ' more', ' most', ' only', ' over', ' city', ' some', ' world', ' would', ' where', ' later', ' up', ' such', ' used'];
  let text = '';
  for (let i = 1; i < T; i++) text += words[(i * 37 + ((i * i) % 11)) % words.length];
  return text;
}
