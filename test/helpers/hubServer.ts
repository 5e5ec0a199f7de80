/**
 * A Hugging Face-shaped HTTP server on 127.0.0.1 for download tests.
 *
 *   GET /{org}/{repo}/resolve/{main|commit}/{file}
 *     LFS file  → 302 to /cdn/{sha256}/{file} with X-Linked-Etag (sha256), X-Linked-Size, ETag, X-Repo-Commit
 *     git file  → 200 with ETag = git blob sha1, Content-Length, X-Repo-Commit (Range honoured)
 *     unknown   → 404 {"error":"Entry not found"}
 *   GET /cdn/{sha256}/{file} → the bytes, Range → 206 + Content-Range, with a CDN-style ETag that is
 *     NOT the sha256 (so a client that trusts it fails).
 *
 * Misbehaviour is planned per file and per body response (`plan`), and every body byte actually
 * written to a socket is counted per file (`bodyBytes`), with every request logged (`requests`).
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubFile {
  readonly content: Buffer;
  /** Served through the CDN redirect with X-Linked-* headers (the weights); else as a git file. */
  readonly lfs: boolean;
  /** Override the advertised hash (sha256 of an LFS file, git blob id of a git file) — to test a wrong one. */
  readonly advertisedHash?: string;
}

/** What to do to one body response of a file. */
export type Misbehaviour =
  | { readonly kind: 'reset-after'; readonly bytes: number } // destroy the socket after N body bytes (server crash)
  | { readonly kind: 'short'; readonly bytes: number } // announce and send only N bytes (a cut-off body)
  | { readonly kind: 'stall-after'; readonly bytes: number } // send N bytes, then hang until the client leaves
  | { readonly kind: 'status'; readonly status: number } // answer with this status instead
  | { readonly kind: 'ignore-range' }; // answer 200 with the whole file even if Range was asked

export interface LoggedRequest {
  readonly path: string;
  readonly range?: string;
  readonly status: number;
  /** Body bytes this response wrote to the socket. */
  bytes: number;
}

export const HUB_COMMIT = '0123456789abcdef0123456789abcdef01234567';

export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const gitBlobSha1 = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export class HubServer {
  /** "org/repo" → file path → file */
  readonly repos = new Map<string, Map<string, HubFile>>();
  readonly requests: LoggedRequest[] = [];
  /** file path → body bytes written to sockets */
  readonly bodyBytes = new Map<string, number>();
  /** Resolve URLs of these repos redirect in a circle. */
  readonly loopingRepos = new Set<string>();
  /** Serve git files as huggingface.co does now: 307 (X-Repo-Commit only) to /api/resolve-cache/…, whose 200 has the ETag. */
  resolveCache = false;
  private readonly plans = new Map<string, Misbehaviour[]>();
  private server: http.Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();
  url = '';

  setFile(repo: string, file: string, f: HubFile): void {
    let files = this.repos.get(repo);
    if (!files) this.repos.set(repo, (files = new Map()));
    files.set(file, f);
  }

  /** The next body responses of `file` misbehave in this order, then it serves normally. */
  plan(file: string, ...steps: Misbehaviour[]): void {
    this.plans.set(file, [...(this.plans.get(file) ?? []), ...steps]);
  }

  bytesServed(file: string): number {
    return this.bodyBytes.get(file) ?? 0;
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Forgets files, plans, logs and counters. */
  reset(): void {
    this.repos.clear();
    this.requests.length = 0;
    this.bodyBytes.clear();
    this.loopingRepos.clear();
    this.plans.clear();
    this.resolveCache = false;
  }

  private log(req: http.IncomingMessage, status: number): LoggedRequest {
    const entry: LoggedRequest = { path: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}), status, bytes: 0 };
    this.requests.push(entry);
    return entry;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'loop') {
      const next = parts[1] === 'a' ? '/loop/b' : '/loop/a';
      this.log(req, 302);
      res.writeHead(302, { Location: next }).end();
      return;
    }
    if (parts[0] === 'api' && parts[1] === 'resolve-cache' && parts.length >= 7) {
      // /api/resolve-cache/models/{org}/{repo}/{commit}/{file}
      const f = this.repos.get(`${parts[3]}/${parts[4]}`)?.get(parts.slice(6).join('/'));
      if (!f || parts[5] !== HUB_COMMIT) return this.notFound(req, res);
      this.serveBody(req, res, parts.slice(6).join('/'), f.content, { ETag: `"${f.advertisedHash ?? gitBlobSha1(f.content)}"`, 'X-Repo-Commit': HUB_COMMIT });
      return;
    }
    if (parts[0] === 'cdn' && parts.length >= 3) {
      const file = parts.slice(2).join('/');
      const found = [...this.repos.values()].map((m) => m.get(file)).find((f) => f && sha256Hex(f.content) === parts[1]);
      if (!found) return this.notFound(req, res);
      this.serveBody(req, res, file, found.content, { ETag: `"cdn-${parts[1]?.slice(0, 8)}"` });
      return;
    }
    // /{org}/{repo}/resolve/{revision}/{file...}
    if (parts.length < 5 || parts[2] !== 'resolve') return this.notFound(req, res);
    const repo = `${parts[0]}/${parts[1]}`;
    const revision = parts[3];
    const file = parts.slice(4).join('/');
    if (this.loopingRepos.has(repo)) {
      this.log(req, 302);
      res.writeHead(302, { Location: '/loop/a', 'X-Repo-Commit': HUB_COMMIT }).end();
      return;
    }
    const f = this.repos.get(repo)?.get(file);
    if (!f || (revision !== 'main' && revision !== HUB_COMMIT)) return this.notFound(req, res);
    if (f.lfs) {
      const sha = sha256Hex(f.content);
      const advertised = f.advertisedHash ?? sha;
      this.log(req, 302);
      res.writeHead(302, {
        Location: `/cdn/${sha}/${encodeURIComponent(file)}`,
        'X-Repo-Commit': HUB_COMMIT,
        'X-Linked-Etag': `"${advertised}"`,
        'X-Linked-Size': String(f.content.length),
        ETag: `"${advertised}"`,
      }).end();
      return;
    }
    if (this.resolveCache) {
      this.log(req, 307);
      res.writeHead(307, { Location: `/api/resolve-cache/models/${repo}/${HUB_COMMIT}/${encodeURIComponent(file)}?etag=x`, 'X-Repo-Commit': HUB_COMMIT }).end();
      return;
    }
    this.serveBody(req, res, file, f.content, { ETag: `"${f.advertisedHash ?? gitBlobSha1(f.content)}"`, 'X-Repo-Commit': HUB_COMMIT });
  }

  private notFound(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.log(req, 404);
    res.writeHead(404, { 'Content-Type': 'application/json', 'X-Error-Code': 'EntryNotFound' }).end('{"error":"Entry not found"}');
  }

  private serveBody(req: http.IncomingMessage, res: http.ServerResponse, file: string, content: Buffer, headers: Record<string, string>): void {
    const step = this.plans.get(file)?.shift();
    if (step?.kind === 'status') {
      this.log(req, step.status);
      res.writeHead(step.status, { 'Content-Type': 'text/plain' }).end('planned failure');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && step?.kind !== 'ignore-range') {
      start = Number(m[1]);
      if (start >= content.length) {
        this.log(req, 416);
        res.writeHead(416, { 'Content-Range': `bytes */${content.length}` }).end();
        return;
      }
    }
    const body = content.subarray(start);
    const status = start > 0 ? 206 : 200;
    const announced = step?.kind === 'short' ? Math.min(step.bytes, body.length) : body.length;
    const logged = this.log(req, status);
    res.writeHead(status, {
      ...headers,
      'Content-Length': String(announced),
      'Accept-Ranges': 'bytes',
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${content.length - 1}/${content.length}` } : {}),
    });
    const limit = step && step.kind !== 'ignore-range' ? Math.min(step.bytes, announced) : announced;
    const chunk = 64 * 1024;
    let sent = 0;
    const pump = (): void => {
      while (sent < limit) {
        const piece = body.subarray(sent, Math.min(limit, sent + chunk));
        sent += piece.length;
        this.bodyBytes.set(file, this.bytesServed(file) + piece.length);
        logged.bytes += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      if (step?.kind === 'reset-after') {
        // Let the bytes leave, then cut the connection as a crashing server would.
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (step?.kind === 'stall-after') {
        // Keep the response open; the client cancels.
      } else {
        res.end();
      }
    };
    pump();
  }
}
