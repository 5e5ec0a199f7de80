/**
 * A restored panel's text found again in its document (SavedSource): after a window reload the
 * trace panel and the patching panel come back from their saved text, and this links them to the
 * editor again, so decorations, hovers, the live lens and cell clicks work as before the reload.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SavedSource } from '../protocol/webview';
import { locateText, type TracedRange } from '../viewModels/tracedRange';

/** A document range holding a restored panel's text. */
export interface FoundSource {
  readonly uri: string;
  readonly range: TracedRange;
}

/**
 * The document range of `text` nearest to where `saved` says it was, or undefined: no saved
 * source, the document cannot be opened (deleted, or an untitled document that did not come
 * back within UNTITLED_REOPEN_WAIT_MS), or it no longer holds the text. Synchronous when the document is open (the usual case
 * after a reload: the restore then starts at once, as before there was a saved place); otherwise
 * the document is opened first. Never throws or rejects.
 */
export function findSavedSource(saved: SavedSource | undefined, text: string): FoundSource | undefined | Promise<FoundSource | undefined> {
  if (!saved) return undefined;
  const locate = (doc: vscode.TextDocument): FoundSource | undefined => {
    const start = locateText(doc.getText(), text, saved.offset);
    return start === undefined ? undefined : { uri: doc.uri.toString(), range: { start, end: start + text.length } };
  };
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === saved.uri);
  if (open) return locate(open);
  return (async () => {
    try {
      const uri = vscode.Uri.parse(saved.uri, true);
      // Opening an untitled URI that is gone would create an empty document of that name; VS Code
      // reopens the ones it backed up during start-up, perhaps after the panel: wait for it a while.
      if (uri.scheme === 'untitled') {
        const reopened = await whenOpened(saved.uri, UNTITLED_REOPEN_WAIT_MS);
        return reopened ? locate(reopened) : undefined;
      }
      return locate(await vscode.workspace.openTextDocument(uri));
    } catch {
      return undefined;
    }
  })();
}

/** How long a restore waits for an untitled document VS Code has not reopened yet. */
export const UNTITLED_REOPEN_WAIT_MS = 5000;

/** The document with this URI once VS Code opens it, or undefined after `ms`. */
function whenOpened(uri: string, ms: number): Promise<vscode.TextDocument | undefined> {
  return new Promise((resolve) => {
    const done = (doc: vscode.TextDocument | undefined): void => {
      clearTimeout(timer);
      listener.dispose();
      resolve(doc);
    };
    const listener = vscode.workspace.onDidOpenTextDocument((doc) => {
      if (doc.uri.toString() === uri) done(doc);
    });
    const timer = setTimeout(() => done(undefined), ms);
  });
}

/** Calls `then` with what findSavedSource finds: at once when it knows, else when the document is open. */
export function withSavedSource(saved: SavedSource | undefined, text: string, then: (found: FoundSource | undefined) => void): void {
  const found = findSavedSource(saved, text);
  if (found instanceof Promise) void found.then(then);
  else then(found);
}

/** Where a restored panel's text was found, for the output line: "found again in a.txt", "not in a.txt any more", or undefined (no saved place). */
export function foundWhere(saved: SavedSource | undefined, found: FoundSource | undefined): string | undefined {
  if (!saved) return undefined;
  let name = saved.uri;
  try {
    name = path.posix.basename(vscode.Uri.parse(saved.uri, true).path) || saved.uri;
  } catch {
    // not a URI: shown as saved
  }
  return found ? `found again in ${name}` : `not in ${name} any more, so not linked to an editor`;
}
