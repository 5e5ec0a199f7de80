/**
 * What counts as text to trace, one rule for the engine (hence the CLI) and the extension host:
 * at least one character that is not whitespace (JavaScript's `\s`). Three spaces are refused
 * everywhere; " the" is traced. A regex scan that stops at the first visible character, so a
 * 1 MB selection costs next to nothing.
 */
export function hasVisibleText(text: string): boolean {
  return /\S/.test(text);
}

/** The engine's (and the CLI's) message for a text that fails hasVisibleText. */
export const BLANK_TEXT_MESSAGE = 'Nothing to trace: the text is empty or only whitespace.';
