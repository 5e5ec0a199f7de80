/**
 * What the current trace can be exported as: the logit lens table on the clipboard (CSV or
 * Markdown, viewModels/lens.ts) and the whole trace as the CLI's `trace --json` (docs/cli-json.md),
 * built in the worker and written where the user chooses. Both say so in one line when there is no
 * trace, and failures go to the output channel as one line.
 */
import * as vscode from 'vscode';
import type { LensTable } from '../engine/types';
import type { ExportFormat } from '../protocol/webview';
import { vocabLookup } from '../viewModels/format';
import { lensCsv, lensMarkdown, lensTableView } from '../viewModels/lens';
import type { EngineSession } from './engineSession';
import { errorMessage, type Output } from './output';
import { lensPayload } from './payloads';
import type { TraceRecord } from './traceController';

const NO_TRACE = 'Trace some text first: Residual Lens: Trace Residual Stream.';

/** Residual Lens: Copy Logit Lens as CSV / Markdown, for `record` (the trace on show). */
export async function copyLensTable(record: TraceRecord | undefined, lensOf: (record: TraceRecord) => Promise<LensTable>, format: ExportFormat, output: Output): Promise<void> {
  if (!record) {
    void vscode.window.showInformationMessage(NO_TRACE);
    return;
  }
  try {
    const lens = lensPayload(await lensOf(record));
    const p = record.payload;
    const view = lensTableView(lens, p.tokens, vocabLookup(lens.vocab), p.nLayer);
    await vscode.env.clipboard.writeText(format === 'csv' ? lensCsv(view, p.tokens) : lensMarkdown(view));
    void vscode.window.showInformationMessage(`Copied the logit lens table as ${format === 'csv' ? 'CSV' : 'Markdown'}.`);
  } catch (err) {
    output.showError(err, `Could not copy the logit lens: ${errorMessage(err)}`);
  }
}

/**
 * The trace panel's "Save trace as JSON": the CLI's `trace --json` of the trace's text, model and
 * options (same schema), built in the worker. Refused when the engine holds another model now.
 */
export async function saveTraceJson(record: TraceRecord | undefined, session: EngineSession, output: Output): Promise<void> {
  if (!record) {
    void vscode.window.showInformationMessage(NO_TRACE);
    return;
  }
  const t = record.trace;
  if (session.model?.folder !== t.model.folder) {
    void vscode.window.showWarningMessage(`The engine now holds ${session.model?.name ?? 'no model'}, not ${t.model.name}: trace the text again to save it.`);
    return;
  }
  const base = record.uri ? vscode.Uri.parse(record.uri) : undefined;
  const target = await vscode.window.showSaveDialog({
    filters: { JSON: ['json'] },
    saveLabel: 'Save trace',
    ...(base?.scheme === 'file' && { defaultUri: vscode.Uri.joinPath(base, '..', `trace-${t.model.name}-${t.tokens.length}-tokens.json`) }),
  });
  if (!target) return;
  try {
    const prependBos = t.tokens[0]?.special === true && t.tokens[0].end === 0;
    const bytes = await session.request('traceJson', { text: t.text, options: { prependBos, topK: t.logitsTop.k } }, {}, 'computing');
    await vscode.workspace.fs.writeFile(target, bytes);
    void vscode.window.showInformationMessage(`Saved the trace (${t.tokens.length} tokens, schema 1 as \`residual-lens trace --json\`) to ${target.fsPath || target.toString()}.`);
  } catch (err) {
    output.showError(err, `Could not save the trace: ${errorMessage(err)}`);
  }
}
