/** A tiny element builder: text always goes through textContent (token text is untrusted). */

type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

/** A section with a heading, an optional toolbar and a body. */
export function section(id: string, title: string): { root: HTMLElement; tools: HTMLElement; body: HTMLElement } {
  const tools = h('div', { class: 'tools' });
  const body = h('div', { class: 'section-body' });
  const root = h('section', { id, 'aria-labelledby': `${id}-title` }, h('header', {}, h('h2', { id: `${id}-title`, text: title }), tools), body);
  return { root, tools, body };
}

/** A vscode-button (from @vscode-elements) with a click handler. */
export function button(label: string, onClick: () => void, attrs: Attrs = {}): HTMLElement {
  const b = h('vscode-button', { secondary: true, ...attrs }, label);
  b.addEventListener('click', onClick);
  return b;
}

/** A vscode-single-select with options; `onChange` gets the chosen value. */
export function select(label: string, options: readonly { value: string; label: string }[], value: string, onChange: (value: string) => void, attrs: Attrs = {}): HTMLElement {
  const sel = h('vscode-single-select', { 'aria-label': label, ...attrs }) as HTMLElement & { value: string };
  for (const o of options) sel.append(h('vscode-option', { value: o.value, selected: o.value === value }, o.label));
  sel.addEventListener('change', () => onChange(sel.value));
  return sel;
}
