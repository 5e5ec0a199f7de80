/**
 * Minimal glob expansion for the CLI's --files (Node 20 has no fs.glob): `**` (any folders),
 * `*` and `?` (within one path segment), `{a,b}` alternatives; patterns are relative to the root,
 * '/'-separated. Hidden folders and node_modules are not entered unless the pattern names them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        const slash = pattern[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const close = pattern.indexOf('}', i);
      if (close < 0) re += '\\{';
      else {
        re += `(?:${pattern.slice(i + 1, close).split(',').map((p) => p.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('|')})`;
        i = close;
      }
    } else re += c.replace(/[.+^$()|[\]\\{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Absolute paths of the regular files under root matching any pattern, sorted. */
export function expandGlobs(root: string, patterns: readonly string[]): string[] {
  const res = patterns.map((p) => globToRegExp(p.replace(/\\/g, '/').replace(/^\.\//, '')));
  const named = patterns.join(' ');
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if ((e.name.startsWith('.') || e.name === 'node_modules') && !named.includes(e.name)) continue;
        walk(path.join(dir, e.name), r);
      } else if (e.isFile() && res.some((re) => re.test(r))) out.push(path.join(dir, e.name));
    }
  };
  walk(root, '');
  return out.sort();
}
