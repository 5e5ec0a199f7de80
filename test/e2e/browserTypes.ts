/**
 * The few DOM shapes that code evaluated inside the page uses. The project compiles without the
 * DOM library (it is Node code), so page functions reach the DOM through these.
 */
export interface DomText {
  readonly textContent: string | null;
}
export interface DomRect {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}
export interface DomRange {
  setStart(node: DomText, offset: number): void;
  setEnd(node: DomText, offset: number): void;
  getBoundingClientRect(): DomRect;
}
export interface DomDocument {
  querySelectorAll(selector: string): ArrayLike<DomText>;
  createTreeWalker(root: DomText, whatToShow: number): { nextNode(): DomText | null };
  createRange(): DomRange;
}
export interface DomCanvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { readonly data: ArrayLike<number> } } | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { readonly width: number };
}
/** NodeFilter.SHOW_TEXT */
export const SHOW_TEXT = 4;
export interface DomStyle {
  getPropertyValue(name: string): string;
  readonly color: string;
  readonly backgroundColor: string;
}
export interface DomElement {
  readonly dataset: Record<string, string | undefined>;
  querySelector(selector: string): unknown;
  querySelectorAll(selector: string): ArrayLike<unknown>;
}
/** The page's window, as far as theme checks need it. */
export interface DomWindow {
  readonly document: {
    readonly body: DomElement;
    readonly activeElement: { getAttribute(name: string): string | null } | null;
    createElement(tag: 'canvas'): { getContext(kind: '2d'): { fillStyle: string } | null };
  };
  getComputedStyle(element: unknown): DomStyle;
}
