/**
 * Checks of a request's arguments, and checkpoint errors turned into EngineError: one clear line
 * for the user (EngineError's message), never a stack trace.
 */
import { EngineError } from '../protocol/engine';
import { CheckpointError } from './checkpoint';

/** Largest top-k a request may ask for (at most the vocabulary). */
const MAX_TOP_K = 1000;

/** Largest pooled pattern side asked for (the trace's own T caps it anyway). */
export function checkMaxSize(size: number): number {
  if (!Number.isInteger(size) || size < 1) throw new EngineError('bad-input', `Pattern size must be a whole number of at least 1, got ${size}.`);
  return size;
}

/** k of a top-k request: a whole number from 1 to min(MAX_TOP_K, vocab). */
export function checkTopK(k: number, vocab: number): number {
  const max = Math.min(MAX_TOP_K, vocab);
  if (!Number.isInteger(k) || k < 1 || k > max) throw new EngineError('bad-input', `Top-k must be a whole number from 1 to ${max}, got ${k}.`);
  return k;
}

/** An index into `size` things (a layer, a head, a position, a token id). */
export function checkIndex(what: string, value: number, size: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= size) {
    throw new EngineError('bad-input', `${what} ${value} is out of range: 0..${size - 1}.`);
  }
}

/** Runs checkpoint code, turning its one-line errors into EngineError('bad-checkpoint'). */
export function checkpointCall<R>(fn: () => R): R {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CheckpointError) throw new EngineError('bad-checkpoint', err.message, errorDetail(err));
    throw err;
  }
}

/** The stack of an error, for the output channel's detail (never shown as the message). */
export function errorDetail(err: unknown): string | undefined {
  return err instanceof Error ? err.stack : undefined;
}
