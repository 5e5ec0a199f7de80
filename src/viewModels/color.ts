/**
 * Colour arithmetic for heatmaps and table cells. The webview reads the endpoints from
 * --vscode-* theme variables and passes them in, so the same maps work in light, dark and
 * high-contrast themes: sequential scales run from the editor background to a chart colour,
 * the diverging scale from one chart colour through the background to another.
 */

/** [r, g, b] each 0..255. */
export type Rgb = readonly [number, number, number];

/** Parses `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb(...)`, `rgba(...)`; alpha is dropped. */
export function parseCssColor(text: string): Rgb | undefined {
  const s = text.trim().toLowerCase();
  const hex = /^#([0-9a-f]{3,8})$/.exec(s);
  if (hex) {
    const h = hex[1];
    if (h.length === 3 || h.length === 4) return [0, 1, 2].map((i) => parseInt(h[i] + h[i], 16)) as unknown as Rgb;
    if (h.length === 6 || h.length === 8) return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as unknown as Rgb;
    return undefined;
  }
  const fn = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(s);
  if (fn) return [Number(fn[1]), Number(fn[2]), Number(fn[3])].map((x) => Math.max(0, Math.min(255, Math.round(x)))) as unknown as Rgb;
  return undefined;
}

/** Linear mix: t = 0 → a, t = 1 → b (t clamped). */
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const u = Number.isFinite(t) ? Math.max(0, Math.min(1, t)) : 0;
  return [Math.round(a[0] + (b[0] - a[0]) * u), Math.round(a[1] + (b[1] - a[1]) * u), Math.round(a[2] + (b[2] - a[2]) * u)];
}

export function cssRgb(c: Rgb): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** WCAG relative luminance. */
export function luminance(c: Rgb): number {
  const lin = (x: number): number => {
    const v = x / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
}

/** WCAG contrast ratio (1..21). */
export function contrast(a: Rgb, b: Rgb): number {
  const la = luminance(a);
  const lb = luminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** WCAG AA for normal text. */
export const TEXT_CONTRAST = 4.5;
const BLACK: Rgb = [0, 0, 0];
const WHITE: Rgb = [255, 255, 255];

/**
 * Whichever of the two text colours (the theme's foreground and background) reads better on
 * `background`, if it reaches 4.5:1; else black or white. A mid-tone cell, halfway between the
 * editor background and a chart colour, is too close to both theme colours (3.3:1 measured in
 * Dark Modern), while black or white always reaches √21 ≈ 4.58:1 on any colour.
 */
export function readableOn(background: Rgb, first: Rgb, second: Rgb): Rgb {
  const a = contrast(background, first);
  const b = contrast(background, second);
  if (Math.max(a, b) >= TEXT_CONTRAST) return a >= b ? first : second;
  return contrast(background, BLACK) >= contrast(background, WHITE) ? BLACK : WHITE;
}

/** Sequential scale: value in [lo, hi] → background … high colour. */
export function sequentialColor(value: number, lo: number, hi: number, background: Rgb, high: Rgb): Rgb {
  const t = hi > lo ? (value - lo) / (hi - lo) : 0;
  return mix(background, high, t);
}

/** Diverging scale centred on zero: −maxAbs → negative colour, 0 → background, +maxAbs → positive colour. */
export function divergingColor(value: number, maxAbs: number, negative: Rgb, background: Rgb, positive: Rgb): Rgb {
  if (!(maxAbs > 0) || !Number.isFinite(value)) return background;
  const t = Math.min(1, Math.abs(value) / maxAbs);
  return mix(background, value < 0 ? negative : positive, t);
}

/** Min and max of the finite values (NaN/±Inf skipped); `{min: 0, max: 0}` when there are none. */
export function finiteRange(values: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? { min: 0, max: 0 } : { min, max };
}

/** Largest finite |value|, 0 for none. */
export function maxAbs(values: ArrayLike<number>): number {
  const { min, max } = finiteRange(values);
  return Math.max(Math.abs(min), Math.abs(max));
}
