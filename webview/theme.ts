/**
 * Colours from the VS Code theme (--vscode-* variables), re-read when the theme changes.
 * Sequential maps run from the editor background to charts-blue; the diverging map from
 * charts-red through the background to charts-blue, so each reads in light, dark and
 * high-contrast themes (high-contrast themes give bright chart colours on black/white).
 */
import { cssRgb, parseCssColor, readableOn, type Rgb } from '../src/viewModels/color';

export interface Palette {
  readonly background: Rgb;
  readonly foreground: Rgb;
  readonly high: Rgb;
  readonly negative: Rgb;
  readonly positive: Rgb;
  readonly accent: Rgb;
  readonly orange: Rgb;
  readonly purple: Rgb;
  readonly grid: string;
  readonly focus: string;
  readonly font: string;
  readonly editorFont: string;
  /** The better-contrast text colour for a cell of colour `c`. */
  readonly textOn: (c: Rgb) => string;
}

function read(style: CSSStyleDeclaration, name: string, fallback: string): Rgb {
  return parseCssColor(style.getPropertyValue(name)) ?? (parseCssColor(fallback) as Rgb);
}

export function readPalette(): Palette {
  const style = getComputedStyle(document.body);
  const dark = document.body.classList.contains('vscode-dark') || document.body.classList.contains('vscode-high-contrast');
  const background = read(style, '--vscode-editor-background', dark ? '#1e1e1e' : '#ffffff');
  const foreground = read(style, '--vscode-editor-foreground', dark ? '#d4d4d4' : '#333333');
  const str = (name: string, fallback: string): string => style.getPropertyValue(name).trim() || fallback;
  return {
    background,
    foreground,
    high: read(style, '--vscode-charts-blue', '#3794ff'),
    negative: read(style, '--vscode-charts-red', '#f14c4c'),
    positive: read(style, '--vscode-charts-blue', '#3794ff'),
    accent: read(style, '--vscode-focusBorder', '#007fd4'),
    orange: read(style, '--vscode-charts-orange', '#d18616'),
    purple: read(style, '--vscode-charts-purple', '#b180d7'),
    grid: str('--vscode-editorWidget-border', dark ? '#454545' : '#c8c8c8'),
    focus: str('--vscode-focusBorder', '#007fd4'),
    font: str('--vscode-font-family', 'sans-serif'),
    editorFont: str('--vscode-editor-font-family', 'monospace'),
    textOn: (c) => cssRgb(readableOn(c, foreground, background)),
  };
}

/** Calls `onChange` when VS Code switches theme (it rewrites the body's class). */
export function watchTheme(onChange: () => void): void {
  new MutationObserver(onChange).observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
}
