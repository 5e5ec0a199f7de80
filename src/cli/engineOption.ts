/**
 * `--execution-provider cpu|webgpu|auto`, shared by every CLI command that runs the model, and the
 * engine those commands create: WebGPU fallbacks (at load, or of a graph created later) are one
 * line each on stderr, so stdout stays the command's result (JSON or tables).
 */
import { CliUsageError, quoteArg } from './args';
import { Engine } from '../engine/engine';
import { isExecutionProviderSetting } from '../engine/executionProvider';
import type { ModelInfo } from '../engine/types';

/** The parseArgs option; the CPU unless asked (a CLI result should not depend on the machine). */
export const EXECUTION_PROVIDER_OPTION = { 'execution-provider': { type: 'string', default: 'cpu' } } as const;

/** The engine for a command, its graphs on `--execution-provider`; CliUsageError for another value. */
export function cliEngine(executionProvider: string | undefined): Engine {
  const setting = executionProvider ?? 'cpu';
  if (!isExecutionProviderSetting(setting)) throw new CliUsageError(`--execution-provider must be cpu, webgpu or auto, got ${quoteArg(setting)}`);
  return new Engine({ executionProvider: setting, onGraphFallback: (text) => process.stderr.write(`${text}\n`) });
}

/** Loads the model and says on stderr, in one line, when it runs on the CPU instead of WebGPU. */
export async function loadForCli(engine: Engine, folder: string, name: string, cacheDir: string | undefined): Promise<ModelInfo> {
  const info = await engine.load({ folder, name, cacheDir });
  if (info.executionProviderNote) process.stderr.write(`${info.executionProviderNote}\n`);
  if (info.executionProviderWarning) process.stderr.write(`${info.executionProviderWarning}\n`);
  return info;
}
