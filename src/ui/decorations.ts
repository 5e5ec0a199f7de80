/** A subtle dotted underline under every live traced range in the visible editors. */
import * as vscode from 'vscode';
import type { TraceController } from './traceController';

export class TracedRangeDecorations implements vscode.Disposable {
  private readonly type = vscode.window.createTextEditorDecorationType({
    borderStyle: 'none none dotted none',
    borderWidth: '0 0 1px 0',
    borderColor: new vscode.ThemeColor('editorCodeLens.foreground'),
  });
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly controller: TraceController) {
    this.disposables.push(
      this.type,
      controller.onDidChangeRecords(() => this.refresh()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.refresh()),
    );
  }

  refresh(): void {
    for (const editor of vscode.window.visibleTextEditors) {
      const doc = editor.document;
      const ranges = this.controller.rangesIn(doc.uri.toString()).flatMap((r) => (r.range ? [new vscode.Range(doc.positionAt(r.range.start), doc.positionAt(r.range.end))] : []));
      editor.setDecorations(this.type, ranges);
    }
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
