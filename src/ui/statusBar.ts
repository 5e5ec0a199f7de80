/** Status bar item: the active model and the engine's state; click → Select Model. */
import * as vscode from 'vscode';
import type { EngineStatus } from './engineSession';

const ICONS: Record<EngineStatus['state'], string> = {
  idle: '$(pulse)',
  loading: '$(loading~spin)',
  ready: '$(pulse)',
  tracing: '$(loading~spin)',
  computing: '$(loading~spin)',
  error: '$(error)',
};

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('residualLens.status', vscode.StatusBarAlignment.Right, 100);

  constructor(private readonly configuredModel: () => string) {
    this.item.name = 'Residual Lens';
    this.item.command = 'residualLens.selectModel';
    this.update({ state: 'idle', model: undefined });
    this.item.show();
  }

  update(status: EngineStatus): void {
    const model = status.model ?? this.configuredModel();
    const state = status.state === 'idle' ? 'not loaded' : status.state;
    const ep = status.executionProvider === 'webgpu' ? (status.partlyOnCpu ? ' · WebGPU + CPU' : ' · WebGPU') : status.executionProvider === 'cpu' ? ' · CPU' : '';
    this.item.text = `${ICONS[status.state]} ${model} · ${state}${ep}`;
    const tip = new vscode.MarkdownString(`**Residual Lens** — model \`${model}\`, engine ${state}.`);
    if (status.detail) tip.appendText(`\n\n${status.detail}`);
    if (status.partlyOnCpu) tip.appendText('\n\nSome graphs run on the CPU: WebGPU could not run them (the output channel says which).');
    tip.appendMarkdown('\n\nClick to select a model.');
    this.item.tooltip = tip;
    this.item.backgroundColor = status.state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
