import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { downloadHubFile, hubCachePath, hubFileUrl } from '../src/backbone/hub.js';
import { LensembleError } from '../src/util/errors.js';
import { canonicalJson, sha256Buffer, sha256File } from '../src/util/hash.js';

/** Deterministic bytes that differ per seed, big enough to arrive in several chunks. */
function fakeModel(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let state = seed >>> 0;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

const MODEL = fakeModel(600_000, 1);
const MODEL_SHA = sha256Buffer(MODEL);
const LFS_MODEL = fakeModel(700_000, 2);
const LFS_SHA = sha256Buffer(LFS_MODEL);
const PRIVATE_MODEL = fakeModel(50_000, 3);
const TOKEN = 'hf_test_secret';
const COMMIT = 'a'.repeat(40);

interface LoggedRequest {
  server: 'hub' | 'cdn';
  path: string;
  range?: string;
  authorization?: string;
  status?: number;
}

/** What the servers do next; reset before each test. */
const behaviour = {
  /** Responses still to cut off after `dropAfterBytes` body bytes. */
  drops: 0,
  dropAfterBytes: 100_000,
  ignoreRange: false,
  /** The CDN serves these bytes instead of the real LFS file (X-Linked-Etag stays the real sha256). */
  tamperedCdn: undefined as Buffer | undefined,
};
let requests: LoggedRequest[] = [];
let hub: Server;
let cdn: Server;
let hubUrl = '';
let cdnUrl = '';
let deadUrl = '';
let cacheDir = '';

function sendBytes(req: IncomingMessage, res: ServerResponse, bytes: Buffer, log: LoggedRequest, extra: Record<string, string> = {}): void {
  const size = bytes.length;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  let body = bytes;
  if (range && !behaviour.ignoreRange) {
    const start = Number(range[1]);
    if (start >= size) {
      log.status = 416;
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    body = bytes.subarray(start);
    log.status = 206;
    res.writeHead(206, { ...extra, 'Content-Range': `bytes ${start}-${size - 1}/${size}`, 'Content-Length': body.length, 'Accept-Ranges': 'bytes' });
  } else {
    log.status = 200;
    res.writeHead(200, { ...extra, 'Content-Length': size, 'Accept-Ranges': behaviour.ignoreRange ? 'none' : 'bytes' });
  }
  if (behaviour.drops > 0) {
    behaviour.drops--;
    // Pause before cutting off: a body stream that errors discards chunks the client has not read yet.
    res.write(body.subarray(0, behaviour.dropAfterBytes), () => setTimeout(() => req.socket.destroy(), 150));
    return;
  }
  res.end(body);
}

function handleHub(req: IncomingMessage, res: ServerResponse): void {
  const log: LoggedRequest = { server: 'hub', path: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization };
  requests.push(log);
  const fail = (status: number, errorCode?: string) => {
    log.status = status;
    res.writeHead(status, errorCode ? { 'X-Error-Code': errorCode } : {}).end(`error ${status}`);
  };
  const commit = { 'X-Repo-Commit': COMMIT };
  switch (req.url) {
    case '/org/model/resolve/main/model.onnx':
    case '/org/model/resolve/v1.0/onnx/model%20fp16.onnx':
      return sendBytes(req, res, MODEL, log, { ...commit, ETag: `"${'b'.repeat(40)}"` });
    case '/org/lfs/resolve/main/model.onnx':
      // Like the hub for LFS files: a 302 to the CDN, with the file's sha256 as X-Linked-Etag.
      log.status = 302;
      res.writeHead(302, { ...commit, Location: `${cdnUrl}/repos/lfs/${LFS_SHA}`, 'X-Linked-Etag': `"${LFS_SHA}"`, 'X-Linked-Size': String(LFS_MODEL.length) });
      res.end();
      return;
    case '/org/private/resolve/main/model.onnx':
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return fail(401);
      return sendBytes(req, res, PRIVATE_MODEL, log, commit);
    case '/org/gated/resolve/main/model.onnx':
      return fail(403, 'GatedRepo');
    default:
      return fail(404, 'EntryNotFound');
  }
}

function handleCdn(req: IncomingMessage, res: ServerResponse): void {
  const log: LoggedRequest = { server: 'cdn', path: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization };
  requests.push(log);
  if (req.url === `/repos/lfs/${LFS_SHA}`) return sendBytes(req, res, behaviour.tamperedCdn ?? LFS_MODEL, log);
  log.status = 404;
  res.writeHead(404).end();
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  hub = createServer(handleHub);
  cdn = createServer(handleCdn);
  hubUrl = await listen(hub);
  cdnUrl = await listen(cdn);
  // A port that was just free: connecting to it is refused.
  const closed = createServer();
  deadUrl = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
});

afterAll(async () => {
  for (const server of [hub, cdn]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

beforeEach(async () => {
  for (const name of ['HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'LENSEMBLE_OFFLINE']) vi.stubEnv(name, undefined);
  Object.assign(behaviour, { drops: 0, dropAfterBytes: 100_000, ignoreRange: false, tamperedCdn: undefined });
  requests = [];
  cacheDir = await mkdtemp(join(tmpdir(), 'lensemble-hub-'));
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(cacheDir, { recursive: true, force: true });
});

const modelRef = { repo: 'org/model', file: 'model.onnx' };
const modelPath = () => hubCachePath(cacheDir, modelRef);

async function expectLensembleError(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LensembleError);
  const message = (err as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

async function seedPartial(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.incomplete`, bytes);
}

describe('hubFileUrl and hubCachePath', () => {
  it('builds the hub resolve URL', () => {
    expect(hubFileUrl({ repo: 'org/name', file: 'model.onnx' })).toBe('https://huggingface.co/org/name/resolve/main/model.onnx');
    expect(hubFileUrl({ repo: 'org/name', file: 'onnx/model fp16.onnx', revision: 'refs/pr/1', endpoint: 'http://mirror.local/' })).toBe(
      'http://mirror.local/org/name/resolve/refs%2Fpr%2F1/onnx/model%20fp16.onnx',
    );
  });

  it('takes the endpoint from HF_ENDPOINT when no option is given', () => {
    vi.stubEnv('HF_ENDPOINT', 'http://127.0.0.1:9');
    expect(hubFileUrl({ repo: 'org/name', file: 'a.onnx', revision: 'v2' })).toBe('http://127.0.0.1:9/org/name/resolve/v2/a.onnx');
  });

  it('lays the cache out as hub/<org>--<name>/<revision>/<file>', () => {
    expect(hubCachePath('/c', { repo: 'org/name', file: 'onnx/m.onnx' })).toBe(join('/c', 'hub', 'org--name', 'main', 'onnx', 'm.onnx'));
    expect(hubCachePath('/c', { repo: 'org/name', file: 'm.onnx', revision: 'refs/pr/1' })).toBe(join('/c', 'hub', 'org--name', 'refs%2Fpr%2F1', 'm.onnx'));
  });
});

describe('downloadHubFile', () => {
  it('downloads and verifies on first use, then serves the cache without any request', async () => {
    const progress: Array<[number, number | undefined]> = [];
    const first = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl, onProgress: (done, total) => progress.push([done, total]) });
    expect(first).toEqual({ path: modelPath(), sha256: MODEL_SHA, bytes: MODEL.length, fromCache: false });
    expect((await readFile(first.path)).equals(MODEL)).toBe(true);
    expect(existsSync(`${first.path}.incomplete`)).toBe(false);
    expect(requests).toHaveLength(1);
    expect(requests[0].range).toBeUndefined();
    expect(progress.length).toBeGreaterThan(2);
    expect(progress.at(-1)).toEqual([MODEL.length, MODEL.length]);
    expect(progress.every(([done], i) => i === 0 || done >= progress[i - 1][0])).toBe(true);

    const second = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl });
    expect(second).toEqual({ ...first, fromCache: true });
    const unpinned = await downloadHubFile({ ...modelRef, cacheDir, endpoint: deadUrl });
    expect(unpinned).toEqual({ ...first, fromCache: true });
    expect(requests).toHaveLength(1);
  });

  it('uses HF_ENDPOINT, nested file paths and revisions', async () => {
    vi.stubEnv('HF_ENDPOINT', hubUrl);
    const ref = { repo: 'org/model', file: 'onnx/model fp16.onnx', revision: 'v1.0' };
    const result = await downloadHubFile({ ...ref, cacheDir });
    expect(result.path).toBe(join(cacheDir, 'hub', 'org--model', 'v1.0', 'onnx', 'model fp16.onnx'));
    expect(result.sha256).toBe(MODEL_SHA);
    expect(requests.map((r) => r.path)).toEqual(['/org/model/resolve/v1.0/onnx/model%20fp16.onnx']);
  });

  it('follows the redirect to the CDN, checks X-Linked-Etag, and keeps the token off the CDN', async () => {
    const result = await downloadHubFile({ repo: 'org/lfs', file: 'model.onnx', cacheDir, endpoint: hubUrl, token: TOKEN });
    expect(result.sha256).toBe(LFS_SHA);
    expect((await readFile(result.path)).equals(LFS_MODEL)).toBe(true);
    expect(requests.map((r) => [r.server, r.status])).toEqual([
      ['hub', 302],
      ['cdn', 200],
    ]);
    expect(requests[0].authorization).toBe(`Bearer ${TOKEN}`);
    expect(requests[1].authorization).toBeUndefined();
  });

  it('rejects a CDN body that does not match X-Linked-Etag even without a pinned sha256', async () => {
    behaviour.tamperedCdn = fakeModel(LFS_MODEL.length, 99);
    const message = await expectLensembleError(downloadHubFile({ repo: 'org/lfs', file: 'model.onnx', cacheDir, endpoint: hubUrl }));
    expect(message).toContain(LFS_SHA);
    expect(message).toContain(sha256Buffer(behaviour.tamperedCdn));
    const target = hubCachePath(cacheDir, { repo: 'org/lfs', file: 'model.onnx' });
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.incomplete`)).toBe(false);
  });

  it('resumes with a Range request when the connection drops mid-body', async () => {
    behaviour.drops = 1;
    behaviour.dropAfterBytes = 150_000;
    const result = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl });
    expect(result).toMatchObject({ sha256: MODEL_SHA, bytes: MODEL.length, fromCache: false });
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    expect(requests).toHaveLength(2);
    expect(requests[0].range).toBeUndefined();
    expect(requests[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(requests[1].status).toBe(206);
  });

  it('resumes through the CDN redirect', async () => {
    behaviour.drops = 1;
    behaviour.dropAfterBytes = 200_000;
    const result = await downloadHubFile({ repo: 'org/lfs', file: 'model.onnx', cacheDir, endpoint: hubUrl });
    expect(result.sha256).toBe(LFS_SHA);
    const cdnRequests = requests.filter((r) => r.server === 'cdn');
    expect(cdnRequests).toHaveLength(2);
    expect(cdnRequests[1].range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(cdnRequests[1].status).toBe(206);
  });

  it('resumes a partial .incomplete left by an earlier run', async () => {
    await seedPartial(modelPath(), MODEL.subarray(0, 123_456));
    const progress: number[] = [];
    const result = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl, onProgress: (done) => progress.push(done) });
    expect(result).toMatchObject({ sha256: MODEL_SHA, bytes: MODEL.length });
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    expect(requests.map((r) => [r.range, r.status])).toEqual([['bytes=123456-', 206]]);
    expect(progress[0]).toBe(123_456);
  });

  it('gives up after repeated drops, keeps the partial outside the final place, and a later run finishes it', async () => {
    behaviour.drops = 100;
    behaviour.dropAfterBytes = 50_000;
    await seedPartial(modelPath(), MODEL.subarray(0, 10_000));
    const message = await expectLensembleError(downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl }));
    expect(message).toMatch(/interrupted/);
    expect(message).toContain(`${hubUrl}/org/model/resolve/main/model.onnx`);
    expect(message).toContain('HF_HUB_OFFLINE');
    expect(existsSync(modelPath())).toBe(false);
    const partialSize = (await stat(`${modelPath()}.incomplete`)).size;
    expect(partialSize).toBeGreaterThanOrEqual(10_000);
    expect(requests).toHaveLength(4); // the first try and three resumes
    expect(requests.every((r) => /^bytes=[1-9]\d*-$/.test(r.range ?? ''))).toBe(true);

    behaviour.drops = 0;
    requests = [];
    const result = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl });
    expect(result.sha256).toBe(MODEL_SHA);
    expect(requests.map((r) => r.range)).toEqual([`bytes=${partialSize}-`]);
  });

  it('restarts cleanly when the server ignores Range and sends the whole file', async () => {
    behaviour.ignoreRange = true;
    // Garbage prefix: appending the full body after it would give the wrong bytes.
    await seedPartial(modelPath(), Buffer.alloc(77_777, 0xab));
    const result = await downloadHubFile({ ...modelRef, cacheDir, endpoint: hubUrl });
    expect(result).toMatchObject({ sha256: MODEL_SHA, bytes: MODEL.length });
    expect((await readFile(result.path)).equals(MODEL)).toBe(true);
    expect(requests.map((r) => [r.range, r.status])).toEqual([['bytes=77777-', 200]]);
  });

  it('starts over once when a resumed file fails its checksum (a stale partial)', async () => {
    await seedPartial(modelPath(), fakeModel(100_000, 42));
    const result = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl });
    expect(result.sha256).toBe(MODEL_SHA);
    expect(requests.map((r) => [r.range, r.status])).toEqual([
      ['bytes=100000-', 206],
      [undefined, 200],
    ]);
  });

  it('starts over when the partial is longer than the file (416)', async () => {
    await seedPartial(modelPath(), Buffer.alloc(MODEL.length + 10));
    const result = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl });
    expect(result.sha256).toBe(MODEL_SHA);
    expect(requests.map((r) => r.status)).toEqual([416, 200]);
  });

  it('throws on a checksum mismatch, naming the URL and both hashes, and leaves no file', async () => {
    const wrong = 'f'.repeat(64);
    const message = await expectLensembleError(downloadHubFile({ ...modelRef, sha256: wrong, cacheDir, endpoint: hubUrl }));
    expect(message).toContain(`${hubUrl}/org/model/resolve/main/model.onnx`);
    expect(message).toContain(wrong);
    expect(message).toContain(MODEL_SHA);
    expect(existsSync(modelPath())).toBe(false);
    expect(existsSync(`${modelPath()}.incomplete`)).toBe(false);
  });

  it('downloads again when the cached file no longer matches the pinned sha256', async () => {
    await mkdir(dirname(modelPath()), { recursive: true });
    await writeFile(modelPath(), 'an older version');
    const result = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl });
    expect(result).toMatchObject({ sha256: MODEL_SHA, fromCache: false });
    expect(requests).toHaveLength(1);
  });

  it('asks for HF_TOKEN on 401 and succeeds with it', async () => {
    const ref = { repo: 'org/private', file: 'model.onnx', cacheDir, endpoint: hubUrl };
    const message = await expectLensembleError(downloadHubFile(ref));
    expect(message).toContain('HTTP 401');
    expect(message).toContain('HF_TOKEN');
    expect(message).toContain('org/private');
    expect(existsSync(hubCachePath(cacheDir, ref))).toBe(false);

    expect(await expectLensembleError(downloadHubFile({ ...ref, token: 'hf_wrong' }))).toMatch(/has no access/);

    vi.stubEnv('HF_TOKEN', TOKEN);
    const result = await downloadHubFile(ref);
    expect(result.sha256).toBe(sha256Buffer(PRIVATE_MODEL));
    expect(requests.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('explains a gated repo', async () => {
    const message = await expectLensembleError(downloadHubFile({ repo: 'org/gated', file: 'model.onnx', cacheDir, endpoint: hubUrl }));
    expect(message).toMatch(/gated/);
    expect(message).toContain('HF_TOKEN');
  });

  it('names repo, file and revision on 404 and leaves nothing behind', async () => {
    const ref = { repo: 'org/model', file: 'missing.onnx', revision: 'v9', cacheDir, endpoint: hubUrl };
    const message = await expectLensembleError(downloadHubFile(ref));
    expect(message).toContain('404');
    expect(message).toContain('"org/model"');
    expect(message).toContain('"missing.onnx"');
    expect(message).toContain('"v9"');
    const target = hubCachePath(cacheDir, ref);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.incomplete`)).toBe(false);
  });

  it('reports an unreachable endpoint with the URL and offline mode', async () => {
    const message = await expectLensembleError(downloadHubFile({ ...modelRef, cacheDir, endpoint: deadUrl }));
    expect(message).toContain(`${deadUrl}/org/model/resolve/main/model.onnx`);
    expect(message).toContain('HF_HUB_OFFLINE=1');
    expect(message).toContain('ECONNREFUSED');
  });

  it('never touches the network in offline mode', async () => {
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    const message = await expectLensembleError(downloadHubFile({ ...modelRef, cacheDir, endpoint: hubUrl }));
    expect(message).toMatch(/offline/);
    expect(message).toContain(modelPath());
    expect(requests).toHaveLength(0);

    vi.stubEnv('HF_HUB_OFFLINE', undefined);
    await downloadHubFile({ ...modelRef, cacheDir, endpoint: hubUrl });
    vi.stubEnv('LENSEMBLE_OFFLINE', 'true');
    requests = [];
    const cached = await downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl });
    expect(cached).toMatchObject({ fromCache: true, sha256: MODEL_SHA });
    const stale = await expectLensembleError(downloadHubFile({ ...modelRef, sha256: 'e'.repeat(64), cacheDir, endpoint: hubUrl }));
    expect(stale).toContain(MODEL_SHA);
    expect(stale).toContain('e'.repeat(64));
    expect(requests).toHaveLength(0);
  });

  it('runs concurrent calls for one file one after another: a single download', async () => {
    const results = await Promise.all([1, 2, 3].map(() => downloadHubFile({ ...modelRef, sha256: MODEL_SHA, cacheDir, endpoint: hubUrl })));
    expect(results.map((r) => r.fromCache).sort()).toEqual([false, true, true]);
    expect(requests).toHaveLength(1);
  });

  it('stops on abort and keeps the partial for a later resume', async () => {
    const controller = new AbortController();
    const download = downloadHubFile({
      ...modelRef,
      cacheDir,
      endpoint: hubUrl,
      signal: controller.signal,
      onProgress: (done) => {
        if (done > 0) controller.abort();
      },
    });
    await expect(download).rejects.toThrow(/abort/i);
    expect(existsSync(modelPath())).toBe(false);
    expect(existsSync(`${modelPath()}.incomplete`)).toBe(true);
  });

  it('rejects repo, file, revision and sha256 values that could escape the cache or are malformed', async () => {
    for (const bad of [
      { repo: '../etc', file: 'a.onnx' },
      { repo: 'a/b/c', file: 'a.onnx' },
      { repo: 'org/model', file: '../../x.onnx' },
      { repo: 'org/model', file: '/abs.onnx' },
      { repo: 'org/model', file: 'a.onnx', revision: '..' },
      { repo: 'org/model', file: 'a.onnx', sha256: 'abc' },
    ]) {
      await expectLensembleError(downloadHubFile({ ...bad, cacheDir, endpoint: hubUrl }));
    }
    expect(requests).toHaveLength(0);
  });
});

describe('util/hash', () => {
  it('hashes files by streaming, and buffers', async () => {
    const path = join(cacheDir, 'blob.bin');
    await writeFile(path, MODEL);
    expect(await sha256File(path)).toBe(MODEL_SHA);
    expect(sha256Buffer('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('writes canonical JSON with sorted keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ z: { b: 2, a: 1 }, y: [1, 2] })).toBe(canonicalJson({ y: [1, 2], z: { a: 1, b: 2 } }));
    expect(canonicalJson({ '10': 1, '2': 2, x: 0 })).toBe(canonicalJson({ x: 0, '2': 2, '10': 1 }));
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson([NaN, undefined, new Date(0)])).toBe('[null,null,"1970-01-01T00:00:00.000Z"]');
  });
});
