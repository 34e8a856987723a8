import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseByteSize, parsePixelCount } from '../src/cli/commands/serve.js';
import { parseMemberString, train } from '../src/index.js';
import { createSerialQueue } from '../src/server/serial-queue.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { uploadLimits } from '../src/server/upload-limits.js';
import { heldOutRice, RICE_LABELS, riceSubset } from './support/rice.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-serve-test-'));
const cacheDir = join(work, 'cache');
const LABELS = RICE_LABELS;

const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const cliEntry = resolve('test/support/cli-entry.ts');

/** `lensemble serve …` from source in a child process; resolves with its URL line once it listens (or its exit). */
function spawnServe(args: string[]) {
  const child = spawn(process.execPath, ['--import', tsxLoader, cliEntry, 'serve', ...args], {
    env: { ...process.env, LENSEMBLE_QUIET: '1', ...(SHARED_DIR ? { LENSEMBLE_SHARED: SHARED_DIR } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number>((done) => child.on('exit', (code, signal) => done(code ?? (signal ? 128 : -1))));
  const listening = new Promise<string | undefined>((done) => {
    child.stdout.on('data', () => {
      const m = /(http:\/\/\S+)/.exec(stdout);
      if (m) done(m[1]);
    });
    void exited.then(() => done(undefined));
  });
  return { child, listening, exited, output: () => ({ stdout, stderr }) };
}

const heldOut = heldOutRice;

const json = (r: Response): Promise<any> => r.json();

const sum = (p: Record<string, number>) => Object.values(p).reduce((a, b) => a + b, 0);

function expectPrediction(p: { label: string; confidence: number; probabilities: Record<string, number> }) {
  expect(LABELS).toContain(p.label);
  expect(Object.keys(p.probabilities).sort()).toEqual(LABELS);
  expect(sum(p.probabilities)).toBeCloseTo(1, 4);
  expect(p.confidence).toBe(Math.max(...Object.values(p.probabilities)));
  expect(p.probabilities[p.label]).toBe(p.confidence);
}

/** POST with a body streamed in chunks and no Content-Length (chunked), as a client that does not know the size. */
function postChunked(url: string, chunks: Buffer[], contentType: string): Promise<{ status: number; body: any }> {
  return new Promise((done, fail) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': contentType } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', fail);
    const writeNext = (i: number): void => {
      if (i === chunks.length) {
        req.end();
        return;
      }
      if (req.write(chunks[i])) setImmediate(() => writeNext(i + 1));
      else req.once('drain', () => writeNext(i + 1));
    };
    writeNext(0);
  });
}

describe('serve helpers', () => {
  it('parses --max-bytes sizes', () => {
    expect(parseByteSize('20MB')).toBe(20 * 1024 * 1024);
    expect(parseByteSize('512k')).toBe(512 * 1024);
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(() => parseByteSize('lots')).toThrow(/--max-bytes must be a size/);
  });

  it('parses --max-pixels counts (decimal megapixels) and keeps the request budget at least the image cap', () => {
    const parse = parsePixelCount('--max-pixels');
    expect(parse('64MP')).toBe(64_000_000);
    expect(parse('12.5m')).toBe(12_500_000);
    expect(parse('16000000')).toBe(16_000_000);
    expect(() => parse('big')).toThrow(/--max-pixels must be a pixel count/);
    expect(uploadLimits({})).toEqual({ maxBytes: 20 * 1024 * 1024, maxFiles: 64, maxPixels: 64_000_000, maxRequestPixels: 128_000_000 });
    expect(uploadLimits({ maxPixels: 200_000_000 }).maxRequestPixels).toBe(200_000_000);
    expect(() => uploadLimits({ maxPixels: 64_000_000, maxRequestPixels: 10_000_000 })).toThrow(/--max-request-pixels \(10 MP\) must be at least --max-pixels \(64 MP\)/);
  });

  it('runs queued jobs one at a time, in order, errors staying with their caller', async () => {
    const queue = createSerialQueue();
    const order: string[] = [];
    let running = 0;
    const job = (name: string, ms: number, fail = false) => async () => {
      running++;
      expect(running).toBe(1);
      order.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      order.push(`end ${name}`);
      running--;
      if (fail) throw new Error(`${name} failed`);
      return name;
    };
    const results = await Promise.allSettled([queue.run(job('a', 20)), queue.run(job('b', 5, true)), queue.run(job('c', 1))]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a', 'b failed', 'c']);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(queue.peakRunning).toBe(1);
    await queue.idle();
    expect(queue.waiting).toBe(0);
  });

  it("the web page's script parses", async () => {
    const { PAGE_SCRIPT } = await import('../src/server/page-assets.js');
    expect(() => new Function(PAGE_SCRIPT)).not.toThrow();
  });

  it('fails fast with a one-line error when the folder is not a model bundle', async () => {
    const serve = spawnServe(['--model', work, '--port', '0']);
    expect(await serve.exited).toBe(1);
    expect(await serve.listening).toBeUndefined();
    expect(serve.output().stderr.trim()).toMatch(/^lensemble: .*: not a lensemble model \(no lensemble\.json\)[^\n]*$/);
  }, 60_000);
});

describe.skipIf(!SHARED_DIR)('lensemble serve over a real trained bundle', () => {
  const model = join(work, 'model');
  let server: RunningServer;
  let base: string;

  beforeAll(async () => {
    const data = riceSubset(join(work, 'data'), 12);
    await train({ data, members: [parseMemberString('squeezenet1_1,size=128,views=0,tta=none,head=linear')], out: model, cacheDir, progress: false });
    server = await startServer({ model, port: 0, host: '127.0.0.1', cacheDir, maxBytes: 4 * 1024 * 1024 });
    base = server.url;
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('listens on a free port and answers /healthz', async () => {
    expect(server.port).toBeGreaterThan(0);
    expect(base).toBe(`http://127.0.0.1:${server.port}`);
    const r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(await json(r)).toEqual({ ok: true });
  });

  it('describes the model: labels, members, validation metrics', async () => {
    const info = await json(await fetch(`${base}/api/model`));
    expect(info.labels).toEqual(LABELS);
    expect(info.members).toEqual([
      expect.objectContaining({ kind: 'backbone', backbone: 'squeezenet1_1', inputSize: expect.objectContaining({ width: 128, height: 128 }), head: 'linear', tta: 'none' }),
    ]);
    expect(info.validation).toEqual(expect.objectContaining({ n: expect.any(Number), accuracy: expect.any(Number), errorRate: expect.any(Number), logLoss: expect.any(Number) }));
    expect(info.serving).toEqual({ tta: true, device: 'cpu', maxBytes: 4 * 1024 * 1024, maxFiles: 64, maxPixels: 64_000_000, maxRequestPixels: 128_000_000, cacheRows: 20_000 });
  });

  it('predicts a raw JPEG body', async () => {
    const r = await fetch(`${base}/api/predict?name=leaf.jpg`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: heldOut('blast', 0) });
    expect(r.status).toBe(200);
    const body = await json(r);
    expect(body.skipped).toEqual([]);
    expect(body.predictions).toHaveLength(1);
    expect(body.predictions[0].name).toBe('leaf.jpg');
    expect(body.predictions[0].targets).toBeUndefined();
    expectPrediction(body.predictions[0]);
  });

  it('predicts every file of a multipart form, keeping their names apart', async () => {
    const form = new FormData();
    form.append('file', new Blob([heldOut('tungro', 1)], { type: 'image/jpeg' }), 'a.jpg');
    form.append('file', new Blob([heldOut('brown_spot', 1)], { type: 'image/jpeg' }), 'a.jpg');
    const r = await fetch(`${base}/api/predict`, { method: 'POST', body: form });
    expect(r.status).toBe(200);
    const body = await json(r);
    expect(body.predictions.map((p: { name: string }) => p.name)).toEqual(['a.jpg', 'a.jpg (2)']);
    body.predictions.forEach(expectPrediction);
    expect(body.skipped).toEqual([]);
  });

  it('skips what is not an image beside images, and refuses a request with no image at all (400)', async () => {
    const text = Buffer.from('hello, this is not an image\n');
    const mixed = new FormData();
    mixed.append('file', new Blob([heldOut('blast', 2)]), 'leaf.jpg');
    mixed.append('file', new Blob([text]), 'notes.txt');
    mixed.append('file', new Blob([]), 'empty.jpg');
    mixed.append('file', new Blob([heldOut('blast', 2).subarray(0, 3000)]), 'truncated.jpg');
    const ok = await json(await fetch(`${base}/api/predict`, { method: 'POST', body: mixed }));
    expect(ok.predictions.map((p: { name: string }) => p.name)).toEqual(['leaf.jpg']);
    expect(ok.skipped).toEqual([
      { name: 'notes.txt', reason: 'not an image (unrecognised format)' },
      { name: 'empty.jpg', reason: 'empty file (0 bytes)' },
      { name: 'truncated.jpg', reason: expect.stringMatching(/^corrupt or truncated image/) },
    ]);

    const raw = await fetch(`${base}/api/predict?name=notes.txt`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: text });
    expect(raw.status).toBe(400);
    expect((await json(raw)).error).toBe('notes.txt: not an image (unrecognised format)');

    const onlyText = new FormData();
    onlyText.append('file', new Blob([text], { type: 'text/plain' }), 'notes.txt');
    const form = await fetch(`${base}/api/predict`, { method: 'POST', body: onlyText });
    expect(form.status).toBe(400);
    expect(await json(form)).toEqual({ error: 'notes.txt: not an image (unrecognised format)', predictions: [], skipped: [{ name: 'notes.txt', reason: 'not an image (unrecognised format)' }] });

    const empty = await fetch(`${base}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: Buffer.alloc(0) });
    expect(empty.status).toBe(400);
    expect((await json(empty)).error).toMatch(/^empty request body/);

    const noFiles = new FormData();
    noFiles.append('comment', 'no files here');
    const none = await fetch(`${base}/api/predict`, { method: 'POST', body: noFiles });
    expect(none.status).toBe(400);
    expect((await json(none)).error).toMatch(/no files in the form/);

    const asJson = await fetch(`${base}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(asJson.status).toBe(415);
    expect((await json(asJson)).error).toMatch(/unsupported Content-Type "application\/json"/);
  });

  it('refuses bodies over --max-bytes with a 413, declared or streamed', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    const declared = await fetch(`${base}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: big });
    expect(declared.status).toBe(413);
    expect((await json(declared)).error).toMatch(/larger than the 4 MB limit/);

    const chunks = Array.from({ length: 80 }, () => Buffer.alloc(64 * 1024, 1));
    const streamed = await postChunked(`${base}/api/predict`, chunks, 'image/jpeg');
    expect(streamed.status).toBe(413);
    expect(streamed.body.error).toMatch(/larger than the 4 MB limit/);

    const form = new FormData();
    form.append('file', new Blob([heldOut('blast', 3)]), 'small.jpg');
    form.append('file', new Blob([big]), 'huge.jpg');
    const multipart = await fetch(`${base}/api/predict`, { method: 'POST', body: form });
    expect(multipart.status).toBe(413);

    // The server is still fine afterwards.
    const after = await fetch(`${base}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: heldOut('blast', 3) });
    expect(after.status).toBe(200);
  });

  it('answers unknown routes and wrong methods with JSON errors', async () => {
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect((await json(missing)).error).toMatch(/no such route: GET \/nope/);
    const wrong = await fetch(`${base}/api/predict`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await json(wrong)).error).toMatch(/GET is not allowed/);
  });

  it('serves a self-contained web page with the upload form', async () => {
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(r.headers.get('content-security-policy')).toMatch(/script-src 'sha256-/);
    const html = await r.text();
    expect(html).toMatch(/<form[^>]*action="api\/predict"[^>]*enctype="multipart\/form-data"/);
    expect(html).toMatch(/<input[^>]*type="file"[^>]*multiple/);
    expect(html).toMatch(/<label[^>]*for="files"/);
    expect(html).toMatch(/<script>[\s\S]*api\/predict[\s\S]*<\/script>/);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/); // nothing from a CDN
  });

  it('serialises concurrent requests: all succeed, one inference at a time, temp files removed', async () => {
    const images = LABELS.flatMap((label) => [heldOut(label, 4), heldOut(label, 5)]);
    const replies = await Promise.all(
      images.map((body, i) => fetch(`${base}/api/predict?name=img${i}.jpg`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body })),
    );
    expect(replies.map((r) => r.status)).toEqual(images.map(() => 200));
    const bodies = await Promise.all(replies.map(json));
    bodies.forEach((b, i) => {
      expect(b.predictions[0].name).toBe(`img${i}.jpg`);
      expectPrediction(b.predictions[0]);
    });
    expect(server.queue.peakRunning).toBe(1);
    expect(server.queue.waiting).toBe(0);
    expect(readdirSync(server.tempDir)).toEqual([]);
  });

  it('gives the same answer for a repeated image (features from the cache)', async () => {
    const post = async () => (await json(await fetch(`${base}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: heldOut('tungro', 6) }))).predictions[0];
    const first = await post();
    const second = await post();
    expect(second).toEqual(first);
  });

  it('cleans up after a client that disconnects mid-upload, and keeps serving', async () => {
    await new Promise<void>((done) => {
      const req = request(`${base}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg', 'Content-Length': '100000' } });
      req.on('error', () => done());
      req.write(heldOut('blast', 7).subarray(0, 1000), () => setTimeout(() => req.destroy(), 50));
    });
    for (let i = 0; i < 50 && readdirSync(server.tempDir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(server.tempDir)).toEqual([]);
    expect(await json(await fetch(`${base}/healthz`))).toEqual({ ok: true });
  });

  it('limits files per request; shuts down gracefully: a request in progress is answered, then the port is closed', async () => {
    const other = await startServer({ model, port: 0, cacheDir, tta: false, maxFiles: 4 });
    const tooMany = new FormData();
    for (let i = 0; i < 6; i++) tooMany.append('file', new Blob([heldOut('blast', i)]), `${i}.jpg`);
    const refused = await fetch(`${other.url}/api/predict`, { method: 'POST', body: tooMany });
    expect(refused.status).toBe(413);
    expect((await json(refused)).error).toBe('too many files: at most 4 per request');
    expect(await json(await fetch(`${other.url}/healthz`))).toEqual({ ok: true });

    const form = new FormData();
    LABELS.forEach((label, i) => form.append('file', new Blob([heldOut(label, 8)]), `${i}.jpg`));
    const inFlight = fetch(`${other.url}/api/predict`, { method: 'POST', body: form });
    while (!other.queue.running) await new Promise((r) => setImmediate(r));
    await other.close();
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect((await json(reply)).predictions).toHaveLength(4);
    await expect(fetch(`${other.url}/healthz`)).rejects.toThrow();
    expect(() => readdirSync(other.tempDir)).toThrow(/ENOENT/);
  });

  it('keeps answering while a model runs (inference is in a worker thread)', async () => {
    const form = new FormData();
    const files = readdirSync(sharedPath('data', 'rice-leaf', 'brown_spot')).sort().slice(-60, -20); // not seen before: no cached features
    for (const f of files) form.append('file', new Blob([readFileSync(sharedPath('data', 'rice-leaf', 'brown_spot', f))]), f);
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const started = performance.now();
    const reply = await fetch(`${base}/api/predict`, { method: 'POST', body: form });
    delay.disable();
    expect(reply.status).toBe(200);
    expect((await json(reply)).predictions).toHaveLength(files.length);
    // Running ONNX Runtime on this thread stalled it for 300–800 ms per request.
    expect(delay.max / 1e6, `event loop stalled for ${(delay.max / 1e6).toFixed(0)} ms during a ${Math.round(performance.now() - started)} ms request`).toBeLessThan(250);
  });

  it('predicts extra targets (variety) when the bundle has them', async () => {
    const kaggle = join(work, 'kaggle');
    const rows = ['image_id,label,variety,age'];
    for (const label of LABELS) {
      mkdirSync(join(kaggle, 'train_images', label), { recursive: true });
      readdirSync(join(work, 'data', label)).forEach((f, i) => {
        copyFileSync(join(work, 'data', label, f), join(kaggle, 'train_images', label, f));
        rows.push(`${f},${label},${i % 2 ? 'ADT45' : 'KarnatakaPonni'},${50 + i}`);
      });
    }
    writeFileSync(join(kaggle, 'train.csv'), rows.join('\n') + '\n');
    const multi = join(work, 'multi-model');
    await train({ data: kaggle, targets: ['variety'], members: [parseMemberString('squeezenet1_1,size=128,views=0,tta=none,head=linear')], out: multi, cacheDir, progress: false });
    const other = await startServer({ model: multi, port: 0, cacheDir });
    try {
      expect((await json(await fetch(`${other.url}/api/model`))).extraTargets).toEqual({ variety: ['ADT45', 'KarnatakaPonni'] });
      const body = await json(await fetch(`${other.url}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: heldOut('tungro', 9) }));
      const p = body.predictions[0];
      expectPrediction(p);
      expect(['ADT45', 'KarnatakaPonni']).toContain(p.targets.variety.label);
      expect(sum(p.targets.variety.probabilities)).toBeCloseTo(1, 4);
      expect(p.targets.variety.confidence).toBe(p.targets.variety.probabilities[p.targets.variety.label]);
    } finally {
      await other.close();
    }
  }, 120_000);

  it('runs from the command line, prints its URL, and stops cleanly on SIGTERM', async () => {
    const serve = spawnServe(['--model', model, '--port', '0', '--cache-dir', cacheDir, '--no-tta', '--quiet']);
    const url = await serve.listening;
    expect(url, serve.output().stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(serve.output().stdout).toContain(`serving ${model}`);
    const health = await fetch(`${url}/healthz`);
    expect(await json(health)).toEqual({ ok: true });
    const info = await json(await fetch(`${url}/api/model`));
    expect(info.serving.tta).toBe(false);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(serve.output().stderr).toBe('');
  }, 60_000);

  it('refuses to start when a backbone is missing or is not the file the bundle was trained with', async () => {
    const variant = (name: string, change: (member: any) => void): string => {
      const dir = join(work, name);
      mkdirSync(dir, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(model, 'lensemble.json'), 'utf8'));
      change(manifest.members[0]);
      writeFileSync(join(dir, 'lensemble.json'), JSON.stringify(manifest));
      copyFileSync(join(model, 'heads.safetensors'), join(dir, 'heads.safetensors'));
      return dir;
    };
    const missing = variant('missing-backbone', (m) => {
      m.source.backbone.spec.source = { kind: 'file', path: join(work, 'gone.onnx') };
      m.source.backbone.sha256 = '1'.repeat(64); // and no other known model file has these weights
    });
    await expect(startServer({ model: missing, port: 0, cacheDir })).rejects.toThrow(`${join(work, 'gone.onnx')}: backbone ONNX file not found`);
    const other = variant('other-backbone', (m) => (m.source.backbone.sha256 = '0'.repeat(64)));
    await expect(startServer({ model: other, port: 0, cacheDir })).rejects.toThrow(/backbone squeezenet1_1 has sha256 \w+, but 0{64} was expected/);
  });
});
