/**
 * Downloads a manifest model from a Hugging Face-style hub, verified and resumable.
 *
 * For each file: GET {endpoint}/{repo}/resolve/{revision}/{file}, following redirects (at most
 * MAX_REDIRECTS; a loop is reported as such). The expected size and hash come from the hub's
 * headers: an LFS file (the weights) has `X-Linked-Etag` (or the resolve response's `ETag`) = its
 * sha256 and `X-Linked-Size`; a small git file such as config.json has `ETag` = its git blob id,
 * sha1("blob <size>\0" + content), and `Content-Length`. A sha256 pinned in the manifest must match.
 *
 * Bytes go to `<file>.part` (with `<file>.part.json` recording the expected size, hash and commit)
 * and are hashed as they arrive; the file is renamed to its final name only when size and hash
 * match, so a model folder never holds a partial or wrong file under a model file's name. After a
 * cancel, a network error or a restart, the next call resumes with `Range: bytes=<part size>-`
 * (the part's bytes are re-hashed from disk, not fetched again); if the hub's file changed
 * meanwhile the part is discarded. Free space is checked before each file's body is written.
 * The commit the hub resolved (`X-Repo-Commit`) pins the remaining files and is written to
 * revision.json beside them.
 *
 * Only https is used (http only to 127.0.0.1, localhost or ::1, for tests), also after redirects.
 * Requests go through node:https, which VS Code's extension host routes through its proxy
 * settings (http.proxy, http.proxySupport); the CLI passes `agentFor` from HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY (proxy.ts).
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { modelFolder, REVISION_FILE, type ManifestEntry, type ManifestFile } from './registry';

export interface DownloadProgress {
  readonly file: string;
  readonly bytesDone: number;
  /** 0 while unknown. */
  readonly bytesTotal: number;
  readonly bytesPerSecond: number;
}

export type DownloadErrorCode = 'cancelled' | 'http' | 'integrity' | 'disk' | 'network' | 'bad-endpoint';

/** A failed download; the message is one line naming the repo/file and what to do. */
export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(readonly code: DownloadErrorCode, message: string) {
    super(message);
  }
}

/** File-system hooks, replaceable by tests (disk full, tiny volumes). */
export interface DownloadIo {
  /** Free bytes available to us on the volume holding `dir`. Default: fs.statfs. */
  freeBytes?(dir: string): Promise<number>;
  /** Appends a chunk to the open part file. Default: FileHandle.write of the whole chunk. */
  write?(file: fsp.FileHandle, chunk: Uint8Array): Promise<void>;
}

export interface DownloadOptions {
  /** Hub base URL, e.g. https://huggingface.co (a mirror may add a path prefix). */
  readonly endpoint: string;
  /** The model goes to <cacheDir>/<entry.name>/. */
  readonly cacheDir: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: DownloadProgress) => void;
  readonly io?: DownloadIo;
  /** Give up on a connection silent for this long. Default 60 s. */
  readonly idleTimeoutMs?: number;
  /** The agent for each request (a proxy), or undefined for node's default; may throw a message for a bad proxy setting. */
  readonly agentFor?: (url: URL) => http.Agent | undefined;
}

/** What revision.json records for each file. */
export interface DownloadedFile {
  readonly path: string;
  readonly size: number;
  readonly sha256?: string;
  readonly gitBlobSha1?: string;
}

export interface RevisionRecord {
  readonly repo: string;
  readonly revision: string;
  /** The commit the hub resolved (X-Repo-Commit), when it said. */
  readonly commit?: string;
  readonly endpoint: string;
  readonly files: readonly DownloadedFile[];
  readonly downloadedAt: string;
}

export const MAX_REDIRECTS = 10;
/** Kept free beyond the file itself. */
const DISK_MARGIN_BYTES = 16 * 1024 * 1024;
const PROGRESS_INTERVAL_MS = 200;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

type Expected = { readonly kind: 'sha256' | 'git-sha1'; readonly hex: string };

interface PartRecord {
  readonly size: number;
  readonly expected: Expected;
  readonly commit?: string;
}

/** The endpoint as a URL with no trailing slash; refuses anything but https (or loopback http). */
export function parseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint.trim());
  } catch {
    throw new DownloadError('bad-endpoint', `Hub endpoint "${endpoint}" is not a URL (expected e.g. https://huggingface.co).`);
  }
  checkAllowed(url, `Hub endpoint ${endpoint}`);
  if (url.username || url.password) throw new DownloadError('bad-endpoint', `Hub endpoint ${url.host} must not contain credentials.`);
  url.pathname = url.pathname.replace(/\/+$/, '');
  url.search = '';
  url.hash = '';
  return url;
}

function checkAllowed(url: URL, what: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return;
  throw new DownloadError('bad-endpoint', `${what} uses ${url.protocol.replace(':', '')}; only https is allowed (http only to 127.0.0.1, localhost or ::1).`);
}

/** {endpoint}/{repo}/resolve/{revision}/{file} */
export function resolveUrl(endpoint: URL, repo: string, revision: string, file: string): URL {
  const segments = [...repo.split('/'), 'resolve', revision, ...file.split('/')].map(encodeURIComponent);
  return new URL(`${endpoint.href.replace(/\/+$/, '')}/${segments.join('/')}`);
}

function formatMb(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Downloads every file of `entry` into <cacheDir>/<name>/ and returns that folder. */
export async function downloadModel(entry: ManifestEntry, opts: DownloadOptions): Promise<string> {
  const endpoint = parseEndpoint(opts.endpoint);
  const folder = modelFolder(entry, opts.cacheDir);
  try {
    await fsp.mkdir(folder, { recursive: true });
  } catch (err) {
    throw new DownloadError('disk', `Cannot create the model folder ${folder}: ${errorText(err)}`);
  }
  const release = await acquireLock(folder, entry.name);
  try {
    const previous = readRevisionRecord(folder);
    let revision = entry.revision;
    let commit: string | undefined;
    const files: DownloadedFile[] = [];
    for (const file of entry.files) {
      const finalPath = path.join(folder, file.path);
      if (fs.existsSync(finalPath)) {
        // Only verified files ever get their final name.
        const known = previous?.files.find((f) => f.path === file.path);
        files.push(known ?? { path: file.path, size: fs.statSync(finalPath).size });
        commit ??= previous?.commit;
        continue;
      }
      const done = await downloadFile({ entry, file, endpoint, folder, revision, opts });
      files.push(done.file);
      if (done.commit) {
        commit ??= done.commit;
        // Later files come from the same commit, even if the branch moves meanwhile.
        if (revision === entry.revision && done.commit === commit) revision = done.commit;
      }
    }
    const record: RevisionRecord = {
      repo: entry.repo,
      revision: entry.revision,
      ...(commit ? { commit } : {}),
      endpoint: endpoint.href.replace(/\/+$/, ''),
      files,
      downloadedAt: new Date().toISOString(),
    };
    await writeAtomically(path.join(folder, REVISION_FILE), `${JSON.stringify(record, null, 2)}\n`);
    return folder;
  } finally {
    await release();
  }
}

/** revision.json of a downloaded model, if readable. */
export function readRevisionRecord(folder: string): RevisionRecord | undefined {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(folder, REVISION_FILE), 'utf8')) as RevisionRecord;
    return Array.isArray(json.files) ? json : undefined;
  } catch {
    return undefined;
  }
}

interface FileJob {
  readonly entry: ManifestEntry;
  readonly file: ManifestFile;
  readonly endpoint: URL;
  readonly folder: string;
  readonly revision: string;
  readonly opts: DownloadOptions;
}

async function downloadFile(job: FileJob): Promise<{ file: DownloadedFile; commit?: string }> {
  const { entry, file, folder, opts } = job;
  const label = `${entry.repo}/${file.path}`;
  const finalPath = path.join(folder, file.path);
  const partPath = `${finalPath}.part`;
  const recordPath = `${finalPath}.part.json`;
  await fsp.mkdir(path.dirname(finalPath), { recursive: true });

  let record = readPartRecord(recordPath);
  let partSize = fileSize(partPath);
  if (partSize > 0 && (!record || partSize > record.size)) {
    // A part we cannot vouch for: start over.
    await removeQuietly(partPath);
    partSize = 0;
  }
  if (partSize === 0) {
    await removeQuietly(recordPath);
    record = undefined;
  }

  for (let attempt = 0; ; attempt++) {
    const revision = record?.commit ?? job.revision;
    const url = resolveUrl(job.endpoint, entry.repo, revision, file.path);
    const response = await get(url, partSize > 0 ? { Range: `bytes=${partSize}-` } : {}, label, opts);
    const { res } = response;
    const status = res.statusCode ?? 0;
    const commit = response.commit;

    if (status === 416 && partSize > 0 && record && partSize === record.size) {
      // Everything was already on disk: just verify it.
      res.resume();
      return finish(job, record, undefined, partPath, recordPath, finalPath, commit);
    }
    const via = viaProxy(url, opts);
    if (status === 407) {
      res.resume();
      throw new DownloadError('http', `${label}: the proxy${via} asks for credentials (HTTP 407); put them in the proxy URL, e.g. HTTPS_PROXY=http://user:password@proxy:3128.`);
    }
    if (status === 404 || status === 401 || status === 403) {
      res.resume();
      throw new DownloadError('http', `${label} was not found at ${job.endpoint.host}${via} (HTTP ${status}) for revision "${revision}"; check the model name, the revision and the hub endpoint${via ? ', and that the proxy lets it through' : ''}.`);
    }
    if (status !== 200 && status !== 206) {
      res.resume();
      if (partSize > 0 && status === 416 && attempt === 0) {
        await discardPart(partPath, recordPath);
        partSize = 0;
        record = undefined;
        continue;
      }
      throw new DownloadError('http', `${label}: the hub answered HTTP ${status}${via}${status >= 500 ? ' (server error; try again later, the download resumes)' : ''}.`);
    }

    const expected = expectedHash(file, response, label);
    const rangeStart = status === 206 ? contentRangeStart(res) : 0;
    const size = file.size ?? response.linkedSize ?? (status === 206 ? contentRangeTotal(res) : contentLength(res));
    if (size === undefined) {
      res.resume();
      throw new DownloadError('integrity', `${label}: the hub did not say how large the file is (no X-Linked-Size or Content-Length); refusing an unverifiable download.`);
    }
    const stale = record && (record.expected.hex !== expected.hex || record.size !== size);
    const misplaced = status === 206 && rangeStart !== partSize;
    if (partSize > 0 && (stale || misplaced)) {
      // The hub's file changed since the part was written, or the range came back wrong: restart from 0.
      res.destroy();
      await discardPart(partPath, recordPath);
      partSize = 0;
      record = undefined;
      if (attempt > 2) throw new DownloadError('http', `${label}: the hub keeps answering inconsistent ranges; try again later.`);
      continue;
    }
    const start = status === 206 ? partSize : 0; // 200: the server ignored Range, so start over
    await checkFreeSpace(folder, size - start, label, opts, res);
    const pinned = commit ?? record?.commit;
    const fresh: PartRecord = { size, expected, ...(pinned ? { commit: pinned } : {}) };
    await writeAtomically(recordPath, JSON.stringify(fresh));
    const digests = await receiveBody(job, res, partPath, start, fresh, label);
    return finish(job, fresh, digests, partPath, recordPath, finalPath, commit ?? fresh.commit);
  }
}

interface Digests {
  readonly sha256: string;
  readonly gitBlobSha1: string;
}

/**
 * Streams the body into the part file (appending at `start`), hashing as bytes arrive; the
 * part's first `start` bytes (an earlier session's) are hashed from disk first, not fetched again.
 */
async function receiveBody(job: FileJob, res: http.IncomingMessage, partPath: string, start: number, record: PartRecord, label: string): Promise<Digests> {
  const { opts, file } = job;
  const write = opts.io?.write ?? (async (fh: fsp.FileHandle, chunk: Uint8Array) => { await fh.write(chunk); });
  const hashes = newHashes(record.size);
  let handle: fsp.FileHandle;
  try {
    if (start > 0) await hashPrefix(partPath, start, hashes);
    handle = await fsp.open(partPath, start === 0 ? 'w' : 'a');
  } catch (err) {
    res.destroy();
    throw new DownloadError('disk', `Cannot write ${partPath}: ${errorText(err)}`);
  }
  let done = start;
  const began = Date.now();
  let lastReport = 0;
  let trailing: NodeJS.Timeout | undefined;
  /** At most one report per interval; a throttled report is sent later, so a stall still shows the last bytes. */
  const report = (force: boolean): void => {
    const onProgress = opts.onProgress;
    if (!onProgress) return;
    const now = Date.now();
    if (!force && now - lastReport < PROGRESS_INTERVAL_MS) {
      trailing ??= setTimeout(() => {
        trailing = undefined;
        report(true);
      }, PROGRESS_INTERVAL_MS - (now - lastReport));
      return;
    }
    clearTimeout(trailing);
    trailing = undefined;
    lastReport = now;
    const seconds = (now - began) / 1000;
    onProgress({ file: file.path, bytesDone: done, bytesTotal: record.size, bytesPerSecond: seconds > 0 ? (done - start) / seconds : 0 });
  };
  try {
    report(true);
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (done + chunk.length > record.size) {
        throw new DownloadError('integrity', `${label}: the hub sent more than the announced ${record.size} bytes; nothing was installed.`);
      }
      try {
        await write(handle, chunk);
      } catch (err) {
        throw writeError(err, partPath, label);
      }
      hashes.sha256.update(chunk);
      hashes.sha1.update(chunk);
      done += chunk.length;
      report(false);
    }
    report(true);
  } catch (err) {
    res.destroy();
    if (err instanceof DownloadError) throw err;
    if (opts.signal?.aborted) throw cancelled(label, done, record.size);
    throw new DownloadError('network', `${label}: the connection failed after ${formatMb(done)} of ${formatMb(record.size)} (${errorText(err)}); run the download again to resume.`);
  } finally {
    clearTimeout(trailing);
    await handle.close().catch(() => undefined);
  }
  if (opts.signal?.aborted) throw cancelled(label, done, record.size);
  if (done < record.size) {
    throw new DownloadError('network', `${label}: the connection ended after ${formatMb(done)} of ${formatMb(record.size)}; run the download again to resume.`);
  }
  return { sha256: hashes.sha256.digest('hex'), gitBlobSha1: hashes.sha1.digest('hex') };
}

/** sha256 and git blob sha1 (sha1 of "blob <size>\0" + content) side by side. */
function newHashes(size: number): { sha256: Hash; sha1: Hash } {
  return { sha256: createHash('sha256'), sha1: createHash('sha1').update(`blob ${size}\0`) };
}

async function hashPrefix(file: string, length: number, hashes: { sha256: Hash; sha1: Hash }): Promise<void> {
  if (length <= 0) return;
  for await (const chunk of fs.createReadStream(file, { start: 0, end: length - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hashes.sha256.update(chunk);
    hashes.sha1.update(chunk);
  }
}

/** Verifies the complete part against its record, then renames it into place. */
async function finish(
  job: FileJob, record: PartRecord, digests: Digests | undefined, partPath: string, recordPath: string, finalPath: string, commit: string | undefined,
): Promise<{ file: DownloadedFile; commit?: string }> {
  const label = `${job.entry.repo}/${job.file.path}`;
  const size = fileSize(partPath);
  if (size !== record.size) {
    throw new DownloadError('network', `${label}: ${formatMb(size)} of ${formatMb(record.size)} on disk; run the download again to resume.`);
  }
  const { sha256, gitBlobSha1 } = digests ?? (await hashFile(partPath, size));
  const actual = record.expected.kind === 'sha256' ? sha256 : gitBlobSha1;
  if (actual !== record.expected.hex) {
    await discardPart(partPath, recordPath);
    const what = record.expected.kind === 'sha256' ? 'sha256' : 'git blob id';
    throw new DownloadError('integrity', `${label}: ${what} mismatch (expected ${record.expected.hex}, got ${actual}); the download was deleted and nothing was installed.`);
  }
  try {
    await fsp.rename(partPath, finalPath);
  } catch (err) {
    throw new DownloadError('disk', `Cannot move ${partPath} into place: ${errorText(err)}`);
  }
  await removeQuietly(recordPath);
  return {
    file: { path: job.file.path, size, sha256, ...(record.expected.kind === 'git-sha1' ? { gitBlobSha1 } : {}) },
    ...(commit ? { commit } : {}),
  };
}

/** Digests of a complete part already on disk (a session that ended right after the last byte). */
async function hashFile(file: string, size: number): Promise<Digests> {
  const hashes = newHashes(size);
  await hashPrefix(file, size, hashes);
  return { sha256: hashes.sha256.digest('hex'), gitBlobSha1: hashes.sha1.digest('hex') };
}

async function checkFreeSpace(folder: string, needed: number, label: string, opts: DownloadOptions, res: http.IncomingMessage): Promise<void> {
  let free: number;
  try {
    free = opts.io?.freeBytes ? await opts.io.freeBytes(folder) : await statfsFree(folder);
  } catch {
    return; // statfs unsupported here: the write itself will report a full disk
  }
  if (free < needed + DISK_MARGIN_BYTES) {
    res.destroy();
    throw new DownloadError('disk', `Not enough free space in ${folder} for ${label}: it needs ${formatMb(needed)} more and ${formatMb(free)} is free.`);
  }
}

async function statfsFree(dir: string): Promise<number> {
  const s = await fsp.statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

// ---- HTTP ---------------------------------------------------------------------------------------

interface HubResponse {
  readonly res: http.IncomingMessage;
  /** X-Repo-Commit of any hop (a 40-hex commit id). */
  readonly commit?: string;
  /** X-Linked-Etag of any hop. */
  readonly linkedEtag?: string;
  /** The first hash-like ETag from a hop on the hub's own host: not the CDN's. */
  readonly hubEtag?: string;
  readonly linkedSize?: number;
}

/** GET with bounded redirects; collects the hub's metadata headers from every hop. */
async function get(url: URL, headers: Record<string, string>, label: string, opts: DownloadOptions): Promise<HubResponse> {
  const visited = new Set<string>();
  let current = url;
  let commit: string | undefined;
  let linkedEtag: string | undefined;
  let hubEtag: string | undefined;
  let linkedSize: number | undefined;
  for (let hop = 0; ; hop++) {
    if (visited.has(current.href)) {
      throw new DownloadError('http', `${label}: redirect loop (${current.href} was reached twice); check the hub endpoint.`);
    }
    if (hop > MAX_REDIRECTS) throw new DownloadError('http', `${label}: more than ${MAX_REDIRECTS} redirects; check the hub endpoint.`);
    visited.add(current.href);
    checkAllowed(current, `${label}: a redirect to ${current.host}`);
    const res = await request(current, headers, label, opts);
    const h = res.headers;
    const repoCommit = header(h, 'x-repo-commit');
    if (repoCommit && /^[0-9a-f]{40}$/.test(repoCommit)) commit ??= repoCommit;
    linkedEtag ??= header(h, 'x-linked-etag');
    // The hub's own ETag (a hop on the endpoint's host that looks like a git or LFS hash), never a
    // CDN's (often an MD5). Hugging Face answers a git file with a 307 to /api/resolve-cache/….
    const etag = header(h, 'etag');
    if (hubEtag === undefined && current.host === url.host && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etagValue(etag) ?? '')) hubEtag = etag;
    const size = Number(header(h, 'x-linked-size'));
    if (linkedSize === undefined && Number.isSafeInteger(size) && size >= 0 && header(h, 'x-linked-size') !== undefined) linkedSize = size;
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status)) {
      res.resume();
      const location = header(h, 'location');
      if (!location) throw new DownloadError('http', `${label}: HTTP ${status} redirect without a Location header.`);
      try {
        current = new URL(location, current);
      } catch {
        throw new DownloadError('http', `${label}: redirect to an invalid URL ${JSON.stringify(location.slice(0, 200))}.`);
      }
      continue;
    }
    return { res, ...(commit ? { commit } : {}), ...(linkedEtag ? { linkedEtag } : {}), ...(hubEtag ? { hubEtag } : {}), ...(linkedSize !== undefined ? { linkedSize } : {}) };
  }
}

function request(url: URL, headers: Record<string, string>, label: string, opts: DownloadOptions): Promise<http.IncomingMessage> {
  if (opts.signal?.aborted) return Promise.reject(cancelled(label, 0, 0));
  const client = url.protocol === 'https:' ? https : http;
  const idle = opts.idleTimeoutMs ?? 60_000;
  let agent: http.Agent | undefined;
  try {
    agent = opts.agentFor?.(url);
  } catch (err) {
    return Promise.reject(new DownloadError('network', `${label}: ${errorText(err)}`));
  }
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers: { 'User-Agent': 'residual-lens', ...headers }, ...(opts.signal ? { signal: opts.signal } : {}), ...(agent ? { agent } : {}) }, (res) => {
      res.setTimeout(idle, () => res.destroy(new Error(`no data for ${idle / 1000} s`)));
      resolve(res);
    });
    req.setTimeout(idle, () => req.destroy(new Error(`no answer for ${idle / 1000} s`)));
    req.on('error', (err) => {
      if (opts.signal?.aborted) reject(cancelled(label, 0, 0));
      else reject(new DownloadError('network', `${label}: cannot reach ${url.host}${viaProxy(url, opts)} (${errorText(err)}); check the connection, the hub endpoint${agent ? ' and the proxy' : ''}.`));
    });
  });
}

/** " through the proxy host:port" when a proxy carries the request for `url` (never its credentials), else "". */
function viaProxy(url: URL, opts: DownloadOptions): string {
  try {
    const proxy = (opts.agentFor?.(url) as { readonly proxy?: unknown } | undefined)?.proxy;
    return proxy instanceof URL ? ` through the proxy ${proxy.host}` : '';
  } catch {
    return '';
  }
}

function header(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = h[name];
  return Array.isArray(value) ? value[0] : value;
}

/** "W/\"abc\"" → abc */
function etagValue(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
}

function expectedHash(file: ManifestFile, r: HubResponse, label: string): Expected {
  const fromHub = etagValue(r.linkedEtag) ?? etagValue(r.hubEtag);
  const hub: Expected | undefined =
    fromHub && /^[0-9a-f]{64}$/.test(fromHub) ? { kind: 'sha256', hex: fromHub }
      : fromHub && /^[0-9a-f]{40}$/.test(fromHub) ? { kind: 'git-sha1', hex: fromHub }
        : undefined;
  if (file.sha256) {
    if (hub && hub.kind === 'sha256' && hub.hex !== file.sha256) {
      r.res.resume();
      throw new DownloadError('integrity', `${label}: the hub's sha256 ${hub.hex} differs from the one pinned in the manifest (${file.sha256}); nothing was downloaded.`);
    }
    return { kind: 'sha256', hex: file.sha256 };
  }
  if (!hub) {
    r.res.resume();
    throw new DownloadError('integrity', `${label}: the hub sent no sha256 or git ETag to verify the file against; refusing an unverifiable download.`);
  }
  return hub;
}

function contentLength(res: http.IncomingMessage): number | undefined {
  const n = Number(res.headers['content-length']);
  return res.headers['content-length'] !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** "bytes 100-199/1000" → 100 and 1000 */
function contentRange(res: http.IncomingMessage): { start: number; total?: number } | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), ...(m[2] !== '*' ? { total: Number(m[2]) } : {}) };
}
const contentRangeStart = (res: http.IncomingMessage): number => contentRange(res)?.start ?? -1;
const contentRangeTotal = (res: http.IncomingMessage): number | undefined => contentRange(res)?.total;

// ---- files --------------------------------------------------------------------------------------

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

function readPartRecord(p: string): PartRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(p, 'utf8')) as PartRecord;
    const ok = Number.isSafeInteger(r.size) && r.size >= 0 && (r.expected?.kind === 'sha256' || r.expected?.kind === 'git-sha1') && /^[0-9a-f]+$/.test(r.expected.hex);
    return ok ? r : undefined;
  } catch {
    return undefined;
  }
}

async function removeQuietly(p: string): Promise<void> {
  await fsp.rm(p, { force: true }).catch(() => undefined);
}

async function discardPart(partPath: string, recordPath: string): Promise<void> {
  await removeQuietly(partPath);
  await removeQuietly(recordPath);
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}`;
  try {
    await fsp.writeFile(temporary, text);
    await fsp.rename(temporary, file);
  } catch (err) {
    await removeQuietly(temporary);
    throw writeError(err, file, path.basename(file));
  }
}

function writeError(err: unknown, file: string, label: string): DownloadError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DownloadError('disk', `The disk is full while writing ${file} (${label}); free some space and run the download again to resume.`);
  }
  return new DownloadError('disk', `Cannot write ${file} (${label}): ${errorText(err)}`);
}

function cancelled(label: string, done: number, total: number): DownloadError {
  const kept = done > 0 ? ` (${formatMb(done)}${total > 0 ? ` of ${formatMb(total)}` : ''} kept)` : '';
  return new DownloadError('cancelled', `Download of ${label} cancelled${kept}; run it again to resume.`);
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const text = e?.message ?? String(err);
  return (e?.code && !text.includes(e.code) ? `${e.code}: ${text}` : text).split('\n')[0] ?? '';
}

/**
 * One download per model folder at a time: `<folder>/.download.lock` holds the owner's pid; a lock
 * whose process is gone is taken over.
 */
async function acquireLock(folder: string, name: string): Promise<() => Promise<void>> {
  const lock = path.join(folder, '.download.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(lock, String(process.pid), { flag: 'wx' });
      return () => removeQuietly(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(err, lock, name);
      const owner = Number(fs.readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new DownloadError('disk', `Another download of ${name} is running (process ${owner}); wait for it or stop it.`);
      }
      if (owner === process.pid) {
        throw new DownloadError('disk', `A download of ${name} is already running in this process.`);
      }
      await removeQuietly(lock);
    }
  }
  throw new DownloadError('disk', `Cannot lock ${folder} for downloading ${name}.`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
