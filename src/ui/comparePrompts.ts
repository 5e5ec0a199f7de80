/**
 * What Compare Prompts compares, asked of the editor and the user: the clean prompt (the
 * selection, else the current trace, else the current line), the corrupted one (a second
 * selection, else an input box holding the next line), and the answer tokens (picked from a run's
 * top-k, or typed: one token each, checked in the input box itself).
 */
import * as vscode from 'vscode';
import type { TraceSummary } from '../engine/types';
import { visibleToken } from '../viewModels/format';
import { checkAnswerToken } from '../viewModels/patching';
import type { TracedRange } from '../viewModels/tracedRange';
import type { TraceRecord } from './traceController';

/** A prompt and, when it is document text, where it sits (for reveal and stale marking). */
export interface PromptSource {
  readonly text: string;
  readonly uri?: string;
  readonly range?: TracedRange;
}

function fromRange(doc: vscode.TextDocument, range: vscode.Range): PromptSource {
  const text = doc.getText(range);
  const start = doc.offsetAt(range.start);
  return { text, uri: doc.uri.toString(), range: { start, end: start + text.length } };
}

/** The first non-empty line after `line`, as a prompt source. */
function nextLine(doc: vscode.TextDocument, line: number): PromptSource | undefined {
  for (let l = line + 1; l < doc.lineCount; l++) {
    const r = doc.lineAt(l);
    if (!r.isEmptyOrWhitespace) return fromRange(doc, r.range);
  }
  return undefined;
}

/**
 * The clean prompt and, when the editor already says it, the corrupted one (second selection);
 * `next` is the line after the clean prompt, the corrupted prompt's default.
 */
export function promptsFromEditor(editor: vscode.TextEditor | undefined, current: TraceRecord | undefined): { clean: PromptSource; corrupted?: PromptSource; next?: PromptSource } | undefined {
  if (editor) {
    const doc = editor.document;
    const selections = editor.selections.filter((s) => !s.isEmpty).sort((a, b) => a.start.compareTo(b.start));
    if (selections.length >= 2) return { clean: fromRange(doc, selections[0]), corrupted: fromRange(doc, selections[1]) };
    if (selections.length === 1) return { clean: fromRange(doc, selections[0]), next: nextLine(doc, selections[0].end.line) };
  }
  if (current) {
    const source: PromptSource = { text: current.trace.text, uri: current.uri, range: current.range };
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === current.uri);
    return { clean: source, next: doc && current.range ? nextLine(doc, doc.positionAt(current.range.end).line) : undefined };
  }
  if (!editor) return undefined;
  const line = editor.selection.active.line;
  return { clean: fromRange(editor.document, editor.document.lineAt(line).range), next: nextLine(editor.document, line) };
}

/** Asks for the corrupted prompt; Enter on the offered next line keeps it as document text. */
export async function askCorrupted(clean: PromptSource, next: PromptSource | undefined): Promise<PromptSource | undefined> {
  const text = await vscode.window.showInputBox({
    title: 'Residual Lens: Compare Prompts',
    prompt: `Corrupted prompt, compared with the clean one ${JSON.stringify(clean.text.slice(0, 60))}${next ? ' (Enter keeps the next line)' : ''}`,
    value: next?.text ?? clean.text,
    ignoreFocusOut: true,
    validateInput: (v) => (/\S/.test(v) ? undefined : 'Type a prompt (it is empty).'),
  });
  if (text === undefined) return undefined;
  return next && text === next.text ? next : { text };
}

/** Tokenizes a typed answer without BOS (the engine's tokenizer). */
export type TokenizeAnswer = (text: string) => Promise<readonly { id: number; text: string }[]>;

interface AnswerItem extends vscode.QuickPickItem {
  readonly id?: number;
}

const TYPE_ITEM: AnswerItem = { label: '$(edit) Type a token…', alwaysShow: true };

/**
 * One answer token: a quick pick of `candidates` (a run's top-k at the last position, best first),
 * or typed in an input box that shows a multi-token string's tokens until it is one token.
 */
export async function pickAnswer(title: string, candidates: readonly { id: number; text: string; prob: number }[], tokenize: TokenizeAnswer): Promise<{ id: number; text: string } | undefined> {
  const items: AnswerItem[] = candidates.map((c) => ({ label: visibleToken(c.text), description: `${(c.prob * 100).toFixed(1)}% · id ${c.id}`, id: c.id }));
  const picked = await vscode.window.showQuickPick([...items, TYPE_ITEM], { title, placeHolder: 'A token from the top predictions at the last position, or type one', ignoreFocusOut: true });
  if (!picked) return undefined;
  if (picked.id !== undefined) return { id: picked.id, text: candidates.find((c) => c.id === picked.id)?.text ?? picked.label };
  let checked: { id: number; text: string } | undefined;
  const typed = await vscode.window.showInputBox({
    title,
    prompt: 'One token, e.g. " Mary" (with its leading space)',
    ignoreFocusOut: true,
    validateInput: async (value) => {
      const check = checkAnswerToken(value, await tokenize(value));
      checked = check.ok ? { id: check.id, text: check.text } : undefined;
      return check.ok ? undefined : check.message;
    },
  });
  if (typed === undefined) return undefined;
  // validateInput ran on the last value before Enter was accepted; check again in case it raced.
  const check = checkAnswerToken(typed, await tokenize(typed));
  return check.ok ? { id: check.id, text: check.text } : checked;
}

/** A trace's top-k at its last position, best first. */
export function lastTopK(trace: TraceSummary, decode: (id: number) => string): { id: number; text: string; prob: number }[] {
  const { k, ids, probs } = trace.logitsTop;
  const base = (trace.tokens.length - 1) * k;
  return Array.from({ length: k }, (_, j) => ({ id: ids[base + j], text: decode(ids[base + j]), prob: probs[base + j] }));
}
