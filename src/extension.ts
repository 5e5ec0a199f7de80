/**
 * Residual Lens extension entry: wiring only. Activation is cheap — commands, views and
 * providers are registered, and the engine worker is spawned by the first request that needs it.
 */
import * as vscode from 'vscode';
import type { WebviewKind } from './protocol/webview';
import { parsePatchingPanelState, parseShowCircuitsArg, parseTracePanelState } from './protocol/webview';
import { foundWhere, withSavedSource } from './ui/savedSource';
import { CircuitsController } from './ui/circuitsController';
import { TracedRangeDecorations } from './ui/decorations';
import { Diagnostics } from './ui/diagnostics';
import { EngineSession } from './ui/engineSession';
import { TraceHoverProvider } from './ui/hover';
import { LiveLensController } from './ui/liveLensController';
import { SaeFeatureSource } from './ui/saeFeatures';
import { FeatureScanCommands } from './ui/featureScan';
import { downloadSaeCommand } from './ui/saeDownload';
import { downloadModelCommand, modelSetting, selectModelCommand, type ModelContext } from './ui/modelPicker';
import { Output } from './ui/output';
import { Panel, SideView, type ViewSource } from './ui/panels';
import { savePng } from './ui/savePng';
import { StatusBar } from './ui/statusBar';
import { EngineRestart } from './ui/engineRestart';
import { TraceController } from './ui/traceController';
import type { HostMessage, PageMessage } from './ui/webviewChannel';
import { parseAblateHeadArg } from './protocol/patchingView';
import { AblationController, askHeadToAblate } from './ui/ablationController';
import { PatchingController } from './ui/patchingController';

const TRACE_VIEW_TYPE = 'residualLens.trace';
const CIRCUITS_VIEW_TYPE = 'residualLens.circuits';
const PATCHING_VIEW_TYPE = 'residualLens.patching';

export function activate(context: vscode.ExtensionContext): void {
  const subs = context.subscriptions;
  const diagnostics = new Diagnostics(process.env.RESIDUAL_LENS_DIAGNOSTICS || undefined);
  const output = new Output(diagnostics);
  subs.push(diagnostics, output);

  const storage = context.globalStorageUri.fsPath;
  const models: ModelContext = { extensionRoot: context.extensionPath, defaultCacheDir: vscode.Uri.joinPath(context.globalStorageUri, 'models').fsPath, output };
  const session = new EngineSession(context.asAbsolutePath('dist/worker.js'), vscode.Uri.joinPath(context.globalStorageUri, 'cache').fsPath, (line) => output.info(line));
  const statusBar = new StatusBar(() => modelSetting(output));
  subs.push(session, statusBar, session.onDidChangeStatus((s) => statusBar.update(s)));
  closeEngine = () => session.close();
  output.info(`Residual Lens activated (storage ${storage}).`);

  let tracePanel: Panel | undefined;
  let circuitsPanel: Panel | undefined;
  let patchingPanel: Panel | undefined;
  const liveLens: { current?: LiveLensController } = {}; // set below, once the trace controller exists

  // Every webview's messages arrive here, already validated; replay re-sends state after a reload.
  const source: ViewSource = {
    replay: (view: WebviewKind): HostMessage[] => {
      if (view === 'circuits') return circuits.replay('circuits');
      if (view === 'patching') return patching.replay();
      if (view === 'trace') return [...traces.replay(view), ...ablation.replay(), ...saeFeatures.replay()];
      const msgs = [...traces.replay(view), ...saeFeatures.replay()];
      return view === 'side' ? [...msgs, ...circuits.replay('side')] : msgs;
    },
    handle: (msg: PageMessage, view: WebviewKind): void => {
      switch (msg.type) {
        case 'painted':
          if (view === 'trace') traces.painted(msg.traceId, { renderMs: msg.renderMs, webviewMs: msg.webviewMs, renderParts: msg.renderParts, paintedAtMs: msg.paintedAtMs });
          break;
        case 'select':
          traces.select(msg.pos, msg.layer, msg.head, msg.reveal);
          break;
        case 'pickToken':
          traces.pickToken(msg.pos, msg.tokenId);
          break;
        case 'pickTokenText':
          void traces.pickTokenText(msg.pos, msg.text);
          break;
        case 'exportTrace':
          void traces.exportTraceJson();
          break;
        case 'headSources':
          void traces.headSources(msg.layer, msg.head, msg.pos);
          break;
        case 'featureCard':
          void saeFeatures.card(msg.feature, msg.pos);
          break;
        case 'labelFeature':
          void saeFeatures.setLabel(msg.feature, msg.label);
          break;
        case 'exportLens':
          void traces.exportLens(msg.format);
          break;
        case 'savePng':
          void savePng(msg.name, msg.dataUrl, output);
          break;
        case 'openHead':
          // a trace-panel head cell / thumbnail: the same command a hover link or a keybinding can run
          void vscode.commands.executeCommand('residualLens.showCircuits', { layer: msg.layer, head: msg.head });
          break;
        case 'headPair':
          void circuits.requestHeadPair({ layer1: msg.layer1, head1: msg.head1, layer2: msg.layer2, head2: msg.head2, kind: msg.kind });
          break;
        case 'mlpPair':
          void circuits.requestMlpPair(msg.writer, msg.reader);
          break;
        case 'computeCircuits':
          void circuits.show();
          break;
        case 'retrace':
          void traces.traceAgain();
          break;
        case 'log':
          output.info(`webview (${view}): ${msg.message}`);
          break;
        case 'patchPick':
        case 'patchCancel':
        case 'patchExportCsv':
        case 'patchAddHead':
          patching.handle(msg);
          break;
        case 'ablate':
        case 'removeIntervention':
          ablation.handle(msg);
          break;
      }
    },
    log: (line) => output.info(line),
    warn: (line) => output.showWarning(line),
  };

  const adoptTracePanel = (panel: Panel): Panel => {
    tracePanel = panel;
    panel.onDidDispose(() => {
      if (tracePanel === panel) tracePanel = undefined;
      traces.panelClosed();
      liveLens.current?.updatePause();
    });
    // Live lens pauses while the panel is hidden.
    panel.panel.onDidChangeViewState(() => liveLens.current?.updatePause());
    liveLens.current?.updatePause();
    return panel;
  };
  const adoptCircuitsPanel = (panel: Panel): Panel => {
    circuitsPanel = panel;
    panel.onDidDispose(() => {
      if (circuitsPanel === panel) circuitsPanel = undefined;
    });
    return panel;
  };
  const openTracePanel = (): Panel => {
    if (tracePanel) tracePanel.reveal();
    return tracePanel ?? adoptTracePanel(Panel.create(TRACE_VIEW_TYPE, 'Residual Lens: Trace', 'trace', context.extensionUri, source));
  };
  const openCircuitsPanel = (reveal: boolean): Panel => {
    if (circuitsPanel && reveal) circuitsPanel.reveal();
    return circuitsPanel ?? adoptCircuitsPanel(Panel.create(CIRCUITS_VIEW_TYPE, 'Residual Lens: Circuits', 'circuits', context.extensionUri, source));
  };

  const adoptPatchingPanel = (panel: Panel): Panel => {
    patchingPanel = panel;
    panel.onDidDispose(() => {
      if (patchingPanel === panel) patchingPanel = undefined;
      patching.panelClosed();
    });
    return panel;
  };
  const openPatchingPanel = (): Panel => {
    if (patchingPanel) patchingPanel.reveal();
    return patchingPanel ?? adoptPatchingPanel(Panel.create(PATCHING_VIEW_TYPE, 'Residual Lens: Patching', 'patching', context.extensionUri, source));
  };

  const side = new SideView(context.extensionUri, source);
  const traces = new TraceController(session, output, diagnostics, models, { openPanel: openTracePanel, panel: () => tracePanel, side }, context.workspaceState);
  const engineRestart = new EngineRestart(session, traces, output, () => tracePanel !== undefined);
  const saeFeatures = new SaeFeatureSource(session, output, traces, context.globalState, context.extensionPath, (msg) => {
    tracePanel?.post(msg);
    side.post(msg);
  });
  subs.push(saeFeatures);
  const featureScan = new FeatureScanCommands(session, saeFeatures, models, output, context.globalStorageUri.fsPath);
  const circuits = new CircuitsController(session, output, models, { panel: openCircuitsPanel, side });
  const decorations = new TracedRangeDecorations(traces);
  const patching = new PatchingController(session, output, models, traces, { openPanel: openPatchingPanel, panel: () => patchingPanel });
  const ablation = new AblationController(session, output, traces, { openPanel: openTracePanel, panel: () => tracePanel });
  subs.push(patching, { dispose: () => patchingPanel?.dispose() });
  subs.push(side, traces, decorations, { dispose: () => tracePanel?.dispose() }, { dispose: () => circuitsPanel?.dispose() });
  const live = new LiveLensController({ traces, diagnostics, panelVisible: () => tracePanel?.panel.visible ?? false });
  liveLens.current = live;
  subs.push(live, vscode.commands.registerCommand('residualLens.toggleLiveLens', () => live.toggle()));

  subs.push(
    vscode.window.registerWebviewViewProvider(SideView.viewId, side),
    vscode.window.registerWebviewPanelSerializer(TRACE_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        adoptTracePanel(new Panel(panel, context.extensionUri, 'trace', source));
        // A reloaded window brings the panel back and re-runs its trace from the saved text.
        const saved = parseTracePanelState(state);
        // Else the workspace's last trace, remembered with where it was.
        const last = saved.ok ? undefined : traces.lastTrace;
        const text = saved.ok ? saved.value.text : last?.text;
        if (text === undefined) {
          output.info(`The trace panel came back without a usable state (${saved.ok ? '' : saved.error}).`);
          return;
        }
        // Linked to its document again when the text is still there: decorations, hovers, live lens.
        const where = saved.ok ? saved.value.source : last?.source;
        withSavedSource(where, text, (found) => {
          const said = [saved.ok ? undefined : 'from the workspace state', foundWhere(where, found)].filter((s) => s !== undefined).join(', ');
          output.info(`Restoring the trace panel: tracing its ${text.length} characters again${said ? ` (${said})` : ''}.`);
          void traces.restore(text, found, saved.ok ? saved.value.selection : undefined);
        });
      },
    }),
    vscode.window.registerWebviewPanelSerializer(CIRCUITS_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel) => {
        adoptCircuitsPanel(new Panel(panel, context.extensionUri, 'circuits', source));
        void circuits.show();
      },
    }),
    vscode.window.registerWebviewPanelSerializer(PATCHING_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        adoptPatchingPanel(new Panel(panel, context.extensionUri, 'patching', source));
        // A reloaded window brings the panel back and compares its saved prompts again, with the saved answers.
        const saved = parsePatchingPanelState(state);
        if (!saved.ok) {
          output.info(`The patching panel came back without a usable state (${saved.error}); run Compare Prompts to fill it.`);
          return;
        }
        void patching.restore(saved.value);
      },
    }),
    // Every language and every scheme (files, untitled, remote): hovers only answer inside traced ranges.
    vscode.languages.registerHoverProvider({ scheme: '*' }, new TraceHoverProvider(traces, ablation, saeFeatures)),
    vscode.workspace.onDidChangeTextDocument((e) => traces.documentChanged(e)),
    vscode.workspace.onDidCloseTextDocument((d) => traces.documentClosed(d)),
    vscode.commands.registerCommand('residualLens.trace', () => traces.traceCommand()),
    vscode.commands.registerCommand('residualLens.selectModel', () => selectModelCommand(models)),
    vscode.commands.registerCommand('residualLens.downloadModel', (name?: unknown) => downloadModelCommand(models, typeof name === 'string' ? name : undefined)),
    vscode.commands.registerCommand('residualLens.showCircuits', (arg?: unknown) => {
      const focus = parseShowCircuitsArg(arg);
      if (!focus.ok) output.info(`residualLens.showCircuits: ${focus.error}; opening without a head`);
      return circuits.show(focus.ok ? focus.value : undefined);
    }),
    vscode.commands.registerCommand('residualLens.showHeadVirtualWeights', () => circuits.showHeadVirtualWeights()),
    vscode.commands.registerCommand('residualLens.exportLensCsv', () => traces.exportLens('csv')),
    vscode.commands.registerCommand('residualLens.exportLensMarkdown', () => traces.exportLens('markdown')),
    vscode.commands.registerCommand('residualLens.comparePrompts', () => patching.compareCommand()),
    vscode.commands.registerCommand('residualLens.ablateHead', async (arg?: unknown) => {
      const parsed = parseAblateHeadArg(arg);
      if (!parsed.ok) return output.showWarning(parsed.error);
      const target = parsed.value ?? (await askHeadToAblate());
      if (target) await ablation.ablate(target.layer, target.head, target.mode);
    }),
    vscode.commands.registerCommand('residualLens.labelSaeFeature', () => saeFeatures.labelFeatureCommand()),
    vscode.commands.registerCommand('residualLens.exportSaeLabels', () => saeFeatures.exportLabelsCommand()),
    vscode.commands.registerCommand('residualLens.scanWorkspaceFeatures', () => featureScan.scanCommand()),
    vscode.commands.registerCommand('residualLens.openFeatureIndex', () => featureScan.openIndexCommand()),
    vscode.commands.registerCommand('residualLens.downloadSae', () => downloadSaeCommand(models)),
    vscode.commands.registerCommand('residualLens.restartEngine', () => engineRestart.restart()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('residualLens.model')) statusBar.update(session.settingChanged());
      void engineRestart.settingsChanged(e);
    }),
  );
}

/** Set by activate: closes the engine and waits for its worker to exit. */
let closeEngine: (() => Promise<void>) | undefined;

export function deactivate(): Promise<void> | undefined {
  // Everything else is disposed through context.subscriptions (after this); the engine worker is
  // closed here so VS Code waits for it to finish its current native call and exit cleanly.
  const close = closeEngine;
  closeEngine = undefined;
  return close?.();
}
