/** Saves a chart the webview rendered (a validated PNG data URL) where the user chooses. */
import * as vscode from 'vscode';
import type { Output } from './output';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export async function savePng(name: string, dataUrl: string, output: Output): Promise<void> {
  const bytes = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  if (bytes.length < PNG_SIGNATURE.length || !bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) {
    output.info(`Refused to save "${name}": the webview did not send a PNG image.`);
    return;
  }
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    title: 'Save chart as PNG',
    filters: { 'PNG image': ['png'] },
    defaultUri: folder ? vscode.Uri.joinPath(folder, `${name}.png`) : undefined,
  });
  if (!target) return;
  try {
    await vscode.workspace.fs.writeFile(target, bytes);
    output.info(`Saved ${target.fsPath} (${bytes.length} bytes).`);
  } catch (err) {
    output.showError(err, `Could not save ${target.fsPath}.`);
  }
}
