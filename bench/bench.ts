/**
 * `npm run bench`: JSON on stdout with one section per benchmark — engine (bench/engine.ts), soak
 * (bench/soak.ts) and circuits (bench/circuits.ts, when present). Progress goes to stderr.
 * Not a test: nothing here fails on a missed target; the `targets` fields say which were met.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchEngine } from './engine';
import { benchSoak } from './soak';

async function main(): Promise<void> {
  const out: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };
  out.engine = await benchEngine();
  process.stderr.write('[bench] soak: 200 traces through the worker\n');
  out.soak = await benchSoak();
  if (fs.existsSync(path.join(__dirname, 'circuits.ts'))) {
    process.stderr.write('[bench] circuits\n');
    const { benchCircuits } = (await import('./circuits')) as { benchCircuits: () => Promise<Record<string, unknown>> };
    out.circuits = await benchCircuits();
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
