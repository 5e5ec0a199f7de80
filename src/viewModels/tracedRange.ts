/**
 * Where a trace sits in its document, in UTF-16 offsets, and how edits move or invalidate it:
 * an edit before the range shifts it, after it leaves it alone, touching it invalidates it
 * (its decoration and hover go).
 */

export interface TracedRange {
  /** Document offset of the traced text's first character. */
  readonly start: number;
  /** Document offset just past the traced text. */
  readonly end: number;
}

export interface TextEdit {
  /** Offset where the replaced text started. */
  readonly offset: number;
  /** Length of the replaced text. */
  readonly length: number;
  /** Length of the inserted text. */
  readonly insertedLength: number;
}

/** The range after `edit`, or undefined when the edit touches the traced text. */
export function applyEdit(range: TracedRange, edit: TextEdit): TracedRange | undefined {
  const editEnd = edit.offset + edit.length;
  if (editEnd < range.start || (editEnd === range.start && edit.length === 0 && edit.offset < range.start)) {
    const delta = edit.insertedLength - edit.length;
    return { start: range.start + delta, end: range.end + delta };
  }
  if (edit.offset > range.end || (edit.offset === range.end && edit.length === 0 && range.end > range.start)) return range;
  return undefined;
}

/**
 * Index of the first token covering document offset `offset`, or -1. Tokens are [start, end)
 * offsets relative to the traced text; zero-width tokens (BOS) never match. A linear scan:
 * T ≤ n_ctx, and partial tokens may share a character, which breaks a binary search.
 */
export function tokenAt(tokens: readonly { readonly start: number; readonly end: number }[], rangeStart: number, offset: number): number {
  const rel = offset - rangeStart;
  for (let i = 0; i < tokens.length; i++) if (tokens[i].start <= rel && rel < tokens[i].end) return i;
  return -1;
}

/**
 * Start of the occurrence of `text` in `documentText` nearest to `near` (where it was when saved;
 * edits since may have moved it), or undefined when the document no longer holds it. Ties go to
 * the earlier occurrence.
 */
export function locateText(documentText: string, text: string, near: number): number | undefined {
  if (text.length === 0) return undefined;
  if (documentText.startsWith(text, near)) return near;
  let best: number | undefined;
  for (let i = documentText.indexOf(text); i >= 0; i = documentText.indexOf(text, i + 1)) {
    if (best === undefined || Math.abs(i - near) < Math.abs(best - near)) best = i;
    if (i > near) break; // later occurrences are only farther
  }
  return best;
}
