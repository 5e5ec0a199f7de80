/**
 * The extension host's checks on the text to trace. The host never tokenizes: it refuses an
 * empty or whitespace-only text with one regex scan that stops at the first visible character,
 * and counts tokens in the worker with maxTokens = n_ctx + 1, so a 1 MB selection costs about as
 * much as its first n_ctx tokens. No vscode import (unit-tested).
 */
import { hasVisibleText } from '../engine/textRules';
import type { Tokenized } from '../engine/types';

export const EMPTY_MESSAGE = 'Nothing to trace: select text or put the cursor on a non-empty line.';

/** EMPTY_MESSAGE for a text with nothing but whitespace (or nothing at all), else undefined. */
export function emptyTextProblem(text: string): string | undefined {
  return hasVisibleText(text) ? undefined : EMPTY_MESSAGE;
}

export function tooLongMessage(nCtx: number, model: string): string {
  return `The selection has more than ${nCtx} tokens; ${model} accepts at most ${nCtx} (BOS included). Select less text.`;
}

/** The tokenize request the host sends before tracing: it stops counting just past n_ctx. */
export function countRequest(text: string, prependBos: boolean, nCtx: number): { text: string; options: { prependBos: boolean; maxTokens: number } } {
  return { text, options: { prependBos, maxTokens: nCtx + 1 } };
}

/** tooLongMessage when the counted text does not fit the context, else undefined. */
export function countedProblem(counted: Tokenized, nCtx: number, model: string): string | undefined {
  return counted.exceeded || counted.tokens.length > nCtx ? tooLongMessage(nCtx, model) : undefined;
}
