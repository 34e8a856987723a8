/**
 * One file of a Hugging Face hub repo at a revision, downloaded once into a local cache.
 *
 * URL (as huggingface_hub's `hf_hub_url`): `{endpoint}/{repo}/resolve/{revision}/{file}`. The hub
 * answers LFS files with a 302 to its CDN carrying `X-Linked-Etag` (the file's sha256) and
 * `X-Repo-Commit`; redirects are followed by hand so that header is seen and the token is not sent
 * to another origin.
 *
 * Cache layout (plain files, no symlinks):
 *   <cacheDir>/hub/<org>--<name>/<revision>/<file>              the verified file
 *   <cacheDir>/hub/<org>--<name>/<revision>/<file>.incomplete   a download in progress, resumed with Range
 * `<revision>` is URI-encoded so `refs/pr/1` stays one directory; `<file>` keeps its subfolders.
 * A cached file is used without any network access; with `sha256` it is re-hashed first and
 * downloaded again if it differs. A moving revision such as `main` is therefore never re-checked
 * upstream: pin a commit or a sha256 to follow changes.
 *
 * Settings: endpoint from the option, else HF_ENDPOINT, else https://huggingface.co; token from the
 * option, else HF_TOKEN (sent as `Authorization: Bearer`); HF_HUB_OFFLINE or LENSEMBLE_OFFLINE set to
 * 1/true/yes/on means cached files only. Two processes downloading the same file at once are not
 * coordinated; within one process calls for the same file run one after another.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LensembleError, errorMessage } from '../util/errors.js';
import { sha256File } from '../util/hash.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface HubFileRef {
  /** `org/name` (or a legacy single-segment name). */
  repo: string;
  /** Path of the file inside the repo, `/`-separated. */
  file: string;
  /** Branch, tag or commit; defaults to `main`. */
  revision?: string;
}

export interface HubDownloadOptions extends HubFileRef {
  /** Expected hex sha256; without it the hub's `X-Linked-Etag` (LFS files) is checked when present. */
  sha256?: string;
  cacheDir: string;
  endpoint?: string;
  token?: string;
  /** Called as bytes arrive; `bytesDone` counts resumed bytes, `bytesTotal` is undefined when unknown. */
  onProgress?: (bytesDone: number, bytesTotal: number | undefined) => void;
  signal?: AbortSignal;
}

export interface HubDownload {
  path: string;
  sha256: string;
  bytes: number;
  fromCache: boolean;
}

interface CheckedRef {
  repo: string;
  file: string;
  revision: string;
  sha256?: string;
}

const MAX_REDIRECTS = 10;
/** Extra attempts after the connection drops mid-body; each resumes from what is on disk. */
const MAX_RESUMES = 3;
const RESUME_DELAY_MS = 200;

export function hubFileUrl({ repo, file, revision = 'main', endpoint }: HubFileRef & { endpoint?: string }): string {
  const base = (endpoint || process.env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  const encodedFile = file.split('/').map(encodeURIComponent).join('/');
  return `${base}/${repo}/resolve/${encodeURIComponent(revision)}/${encodedFile}`;
}

/** Where `downloadHubFile` keeps (or will keep) a file; see the layout at the top of this file. */
export function hubCachePath(cacheDir: string, { repo, file, revision = 'main' }: HubFileRef): string {
  return join(cacheDir, 'hub', repo.replace('/', '--'), encodeURIComponent(revision), ...file.split('/'));
}

export async function downloadHubFile(options: HubDownloadOptions): Promise<HubDownload> {
  const ref = checkedRef(options);
  const target = hubCachePath(options.cacheDir, ref);
  return oneAtATime(target, () => cachedOrDownloaded(options, ref, target));
}

async function cachedOrDownloaded(options: HubDownloadOptions, ref: CheckedRef, target: string): Promise<HubDownload> {
  const cached = await inspectCachedFile(target, ref.sha256);
  if (cached && !cached.stale) return { path: target, sha256: cached.sha256, bytes: cached.bytes, fromCache: true };

  const where = `file "${ref.file}" of repo "${ref.repo}" at revision "${ref.revision}"`;
  if (isOfflineMode()) {
    const why = cached
      ? `the cached copy has sha256 ${cached.sha256}, expected ${ref.sha256}`
      : `it is not in the cache (${target})`;
    throw new LensembleError(`offline mode (HF_HUB_OFFLINE/LENSEMBLE_OFFLINE) forbids downloading ${where}, and ${why}`);
  }

  const token = options.token || process.env.HF_TOKEN || undefined;
  const url = hubFileUrl({ ...ref, endpoint: options.endpoint });
  await mkdir(dirname(target), { recursive: true });
  return downloadIntoCache({ url, ref, target, token, onProgress: options.onProgress, signal: options.signal });
}

interface DownloadJob {
  url: string;
  ref: CheckedRef;
  target: string;
  token?: string;
  onProgress?: HubDownloadOptions['onProgress'];
  signal?: AbortSignal;
}

async function downloadIntoCache(job: DownloadJob): Promise<HubDownload> {
  const partial = `${job.target}.incomplete`;
  let resumes = 0;
  let restartedAfterMismatch = false;
  for (;;) {
    let fetched: FetchedFile;
    try {
      fetched = await fetchIntoFile(job, partial, await fileSize(partial));
    } catch (err) {
      if (!(err instanceof BodyInterrupted)) throw err;
      if (resumes < MAX_RESUMES) {
        resumes++;
        await sleep(RESUME_DELAY_MS * resumes, undefined, { signal: job.signal });
        continue;
      }
      throw new LensembleError(
        `download of ${job.url} was interrupted after ${err.bytesDone} bytes (${err.reason}); ` +
          `run again to resume from ${partial}, or set HF_HUB_OFFLINE=1 to use cached files only`,
      );
    }

    const expected = job.ref.sha256 ?? fetched.linkedSha256;
    if (expected !== undefined && fetched.sha256 !== expected) {
      await rm(partial, { force: true });
      // A partial left by an older version of the file (a moved branch) spoils the hash: start over once.
      if (fetched.resumedFrom > 0 && !restartedAfterMismatch) {
        restartedAfterMismatch = true;
        continue;
      }
      throw new LensembleError(
        `checksum mismatch for ${job.url}: expected sha256 ${expected}, got ${fetched.sha256}; the download was deleted`,
      );
    }
    await rename(partial, job.target);
    return { path: job.target, sha256: fetched.sha256, bytes: fetched.bytes, fromCache: false };
  }
}

interface FetchedFile {
  sha256: string;
  bytes: number;
  resumedFrom: number;
  linkedSha256?: string;
}

/** The connection dropped while the body was streaming; what arrived is on disk, ready to resume. */
class BodyInterrupted extends Error {
  constructor(readonly reason: string, readonly bytesDone: number) {
    super(reason);
  }
}

/** One GET into `partial`, appending from `resumeFrom` when the server honours Range. */
async function fetchIntoFile(job: DownloadJob, partial: string, resumeFrom: number): Promise<FetchedFile> {
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity', 'User-Agent': 'lensemble' };
  if (job.token) headers.Authorization = `Bearer ${job.token}`;
  if (resumeFrom > 0) headers.Range = `bytes=${resumeFrom}-`;
  const { response, linkedSha256 } = await fetchFollowingRedirects(job.url, headers, job.signal);

  if (response.status === 416 && resumeFrom > 0) {
    // The partial is not a prefix the server can continue (e.g. the file shrank): start over.
    await response.body?.cancel();
    await rm(partial, { force: true });
    return fetchIntoFile(job, partial, 0);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw httpError(response, job);
  }

  const bodyStart = response.status === 206 ? contentRangeStart(response.headers) : 0;
  if (bodyStart !== 0 && bodyStart !== resumeFrom) {
    await response.body?.cancel();
    if (resumeFrom === 0) {
      throw new LensembleError(`${job.url} answered with a partial body (${response.headers.get('content-range')}) to a plain GET`);
    }
    await rm(partial, { force: true });
    return fetchIntoFile(job, partial, 0);
  }
  // bodyStart 0 with resumeFrom > 0: the server ignored Range and sent the whole file, so rewrite from scratch.

  const total = totalSize(response.headers, bodyStart);
  const hash = createHash('sha256');
  if (bodyStart > 0) await hashFilePrefix(partial, bodyStart, hash);
  const bytesDone = await streamBody(response, partial, bodyStart, hash, (done) => job.onProgress?.(done, total), job.signal);
  if (total !== undefined && bytesDone !== total) {
    throw new BodyInterrupted(`the body ended at ${bytesDone} of ${total} bytes`, bytesDone);
  }
  return { sha256: hash.digest('hex'), bytes: bytesDone, resumedFrom: bodyStart, linkedSha256 };
}

/** Streams the body to disk chunk by chunk (memory stays bounded), hashing as it goes; returns the file size. */
async function streamBody(
  response: Response,
  partial: string,
  startAt: number,
  hash: ReturnType<typeof createHash>,
  onProgress: (bytesDone: number) => void,
  signal: AbortSignal | undefined,
): Promise<number> {
  const file = await open(partial, startAt > 0 ? 'a' : 'w');
  let bytesDone = startAt;
  try {
    onProgress(bytesDone);
    const reader = response.body?.getReader();
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array } | undefined;
      try {
        chunk = await reader?.read();
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new BodyInterrupted(networkReason(err), bytesDone);
      }
      if (!chunk || chunk.done || !chunk.value) break;
      hash.update(chunk.value);
      await file.write(chunk.value);
      bytesDone += chunk.value.byteLength;
      onProgress(bytesDone);
    }
    await file.datasync();
  } finally {
    await file.close();
  }
  return bytesDone;
}

async function fetchFollowingRedirects(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<{ response: Response; linkedSha256?: string }> {
  let current = url;
  let linkedSha256: string | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let response: Response;
    try {
      response = await fetch(current, { headers, signal, redirect: 'manual' });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new LensembleError(
        `cannot reach ${current} (${networkReason(err)}); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached files only`,
      );
    }
    linkedSha256 ??= sha256FromEtag(response.headers.get('x-linked-etag'));
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || response.status === 304 || !location) {
      return { response, linkedSha256 };
    }
    await response.body?.cancel();
    const next = new URL(location, current);
    if (next.origin !== new URL(current).origin) {
      // Like requests and browsers: the hub token is not handed to the CDN.
      const { Authorization: _dropped, ...rest } = headers;
      headers = rest;
    }
    current = next.href;
  }
  throw new LensembleError(`more than ${MAX_REDIRECTS} redirects while downloading ${url}`);
}

function httpError(response: Response, job: DownloadJob): LensembleError {
  const { repo, file, revision } = job.ref;
  const { status } = response;
  const { url } = job;
  const errorCode = response.headers.get('x-error-code');
  if (errorCode === 'GatedRepo') {
    return new LensembleError(
      `repo "${repo}" is gated (HTTP ${status}): accept its terms on the hub, then set HF_TOKEN to a token of that account (${url})`,
    );
  }
  if (status === 401 || status === 403) {
    return new LensembleError(
      job.token
        ? `access denied (HTTP ${status}) to repo "${repo}": the token (option or HF_TOKEN) has no access; the repo may be gated, private or missing (${url})`
        : `access denied (HTTP ${status}) to repo "${repo}": it may be gated, private or missing; set HF_TOKEN to a Hugging Face access token (${url})`,
    );
  }
  if (status === 404) {
    if (errorCode === 'RepoNotFound') return new LensembleError(`repo "${repo}" not found (HTTP 404, ${url})`);
    if (errorCode === 'RevisionNotFound') {
      return new LensembleError(`revision "${revision}" not found in repo "${repo}" (HTTP 404, ${url})`);
    }
    return new LensembleError(
      `not found (HTTP 404): file "${file}" in repo "${repo}" at revision "${revision}"; check all three (${url})`,
    );
  }
  return new LensembleError(`HTTP ${status} ${response.statusText} while downloading ${url}`.replace(/\s+/g, ' '));
}

async function inspectCachedFile(
  target: string,
  expectedSha256: string | undefined,
): Promise<{ sha256: string; bytes: number; stale: boolean } | undefined> {
  const bytes = await fileSize(target, -1);
  if (bytes < 0) return undefined;
  const sha256 = await sha256File(target);
  return { sha256, bytes, stale: expectedSha256 !== undefined && sha256 !== expectedSha256 };
}

function checkedRef({ repo, file, revision = 'main', sha256 }: HubDownloadOptions): CheckedRef {
  const name = /^[A-Za-z0-9][\w.-]*$/;
  const parts = repo.split('/');
  if (parts.length > 2 || !parts.every((part) => name.test(part) && !part.includes('--') && !part.includes('..'))) {
    throw new LensembleError(`invalid hub repo "${repo}": expected "org/name"`);
  }
  if (!file || file.startsWith('/') || file.includes('\\') || file.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new LensembleError(`invalid file "${file}" for hub repo "${repo}": expected a relative path like "onnx/model.onnx"`);
  }
  if (!revision || revision.startsWith('.') || revision.includes('..')) {
    throw new LensembleError(`invalid revision "${revision}" for hub repo "${repo}"`);
  }
  if (sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha256)) {
    throw new LensembleError(`invalid sha256 "${sha256}" for "${file}" of hub repo "${repo}": expected 64 hex digits`);
  }
  return { repo, file, revision, sha256: sha256?.toLowerCase() };
}

function isOfflineMode(): boolean {
  const truthy = (value: string | undefined) => ['1', 'true', 'yes', 'on'].includes((value ?? '').trim().toLowerCase());
  return truthy(process.env.HF_HUB_OFFLINE) || truthy(process.env.LENSEMBLE_OFFLINE);
}

/** `bytes 100-199/1000` → 100; undefined when absent or unreadable. */
function contentRangeStart(headers: Headers): number | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(headers.get('content-range')?.trim() ?? '');
  return match ? Number(match[1]) : undefined;
}

function totalSize(headers: Headers, bodyStart: number): number | undefined {
  const ofRange = /\/(\d+)$/.exec(headers.get('content-range') ?? '');
  if (ofRange) return Number(ofRange[1]);
  const length = headers.get('content-length');
  return length !== null && /^\d+$/.test(length) ? bodyStart + Number(length) : undefined;
}

/** The hub's ETag of an LFS file is its sha256; git-stored files carry a sha1 instead, which is ignored. */
function sha256FromEtag(etag: string | null): string | undefined {
  const value = etag?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  return value && /^[0-9a-f]{64}$/.test(value) ? value : undefined;
}

async function hashFilePrefix(path: string, length: number, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
}

async function fileSize(path: string, whenMissing = 0): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return whenMissing;
    throw err;
  }
}

/** undici hides the useful part (ECONNREFUSED, "other side closed") in `cause`. */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? errorMessage(err);
}

const queues = new Map<string, Promise<unknown>>();

/** Runs calls for the same key one after another, so two loads of one backbone never share a `.incomplete`. */
function oneAtATime<T>(key: string, run: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const result = previous.then(run, run);
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return result;
}
