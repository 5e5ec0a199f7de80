/**
 * Proxies from the environment, for the CLI's downloads: HTTPS_PROXY for https URLs, HTTP_PROXY for
 * http ones (lower-case names too, a non-empty lower-case one first, as curl reads them), NO_PROXY
 * to exempt hosts.
 * The extension does not use this: VS Code routes node:https through its own proxy settings.
 */
import type * as http from 'node:http';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';

export type ProxyEnv = Readonly<Record<string, string | undefined>>;

/** The first non-empty of the lower-case and upper-case variable. */
function envValue(env: ProxyEnv, name: string): string | undefined {
  for (const v of [env[name.toLowerCase()], env[name.toUpperCase()]]) if (v !== undefined && v.trim() !== '') return v.trim();
  return undefined;
}

/**
 * Whether NO_PROXY exempts `url`: `*` exempts everything; otherwise a comma/space-separated list of
 * host names (a leading dot or `*.` optional: `example.com` covers `hub.example.com`), IP
 * addresses, each with an optional `:port`.
 */
export function bypassesProxy(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    // "[::1]:8080" and "::1" are IPv6 (a bare one has no port); "host:port" otherwise.
    const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(entry);
    const bareIpv6 = !bracketed && (entry.match(/:/g) ?? []).length > 1;
    const hostPort = bracketed || bareIpv6 ? undefined : /^(.*?)(?::(\d+))?$/.exec(entry);
    const name = (bracketed?.[1] ?? (bareIpv6 ? entry : (hostPort?.[1] ?? entry))).replace(/^\*?\./, '');
    const entryPort = bracketed?.[2] ?? hostPort?.[2];
    if (entryPort !== undefined && entryPort !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** The proxy URL to use for `url` under `env`, or undefined to connect directly. */
export function proxyFor(url: URL, env: ProxyEnv): URL | undefined {
  if (bypassesProxy(url, envValue(env, 'no_proxy'))) return undefined;
  const value = envValue(env, url.protocol === 'https:' ? 'https_proxy' : 'http_proxy');
  if (value === undefined) return undefined;
  try {
    // "proxy.corp:3128" without a scheme means http://proxy.corp:3128, as curl reads it.
    const proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') throw new Error(`unsupported proxy scheme ${proxy.protocol}`);
    return proxy;
  } catch (err) {
    throw new Error(`The proxy ${url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY'}=${JSON.stringify(value)} is not a usable http(s) URL (${err instanceof Error ? err.message : String(err)}).`);
  }
}

/**
 * An agent choosing per URL: through the environment's proxy (CONNECT for https targets, absolute
 * URLs for http ones) or undefined for a direct connection. Agents are reused per proxy.
 */
export function envProxyAgents(env: ProxyEnv): (url: URL) => http.Agent | undefined {
  const agents = new Map<string, http.Agent>();
  return (url) => {
    const proxy = proxyFor(url, env);
    if (proxy === undefined) return undefined;
    const key = `${url.protocol}${proxy.href}`;
    let agent = agents.get(key);
    if (!agent) {
      agent = url.protocol === 'https:' ? new HttpsProxyAgent(proxy) : new HttpProxyAgent(proxy);
      agents.set(key, agent);
    }
    return agent;
  };
}
