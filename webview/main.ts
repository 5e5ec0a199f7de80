/**
 * The one front-end bundle (dist/webview.js), shared by the trace panel, the side view and the
 * circuits panel; <body data-view> says which one this page is.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import { post } from './api';
import { startCircuitsPanel } from './circuitsPanel';
import { startPatchingPanel } from './patchingPanel';
import styles from './styles.css';
import { startSideView } from './sideView';
import { startTracePanel } from './tracePanel';

// A constructable stylesheet: styles without a <style> element or 'unsafe-inline' in the CSP.
const sheet = new CSSStyleSheet();
sheet.replaceSync(styles);
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

window.addEventListener('error', (e) => post({ type: 'log', message: `${e.message} (${e.filename}:${e.lineno})` }));
window.addEventListener('unhandledrejection', (e) => post({ type: 'log', message: `unhandled rejection: ${String(e.reason)}` }));

const app = document.getElementById('app') ?? document.body;
switch (document.body.dataset.view) {
  case 'trace':
    startTracePanel(app);
    break;
  case 'side':
    startSideView(app);
    break;
  case 'circuits':
    startCircuitsPanel(app);
    break;
  case 'patching':
    startPatchingPanel(app);
    break;
  default:
    post({ type: 'log', message: `unknown view ${String(document.body.dataset.view)}` });
}
