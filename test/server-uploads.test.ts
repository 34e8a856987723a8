// The server's upload path as a client can break it: aborted bodies, non-ASCII names, decompression bombs,
// truncated files. A real server over a small real model; multipart bodies written byte by byte.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/server/server.js';
import { runCli } from './support/cli.js';
import { heldOutRice, trainSmallRiceModel } from './support/rice.js';
import { SHARED_DIR } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-uploads-test-'));
const cacheDir = join(work, 'cache');
const json = (r: Response): Promise<any> => r.json();
const names = (body: { predictions: { name: string }[] }) => body.predictions.map((p) => p.name);

/** A multipart/form-data body written by hand: each part's Content-Disposition parameters exactly as given. */
function multipart(parts: { disposition: string; body: Buffer }[]): { body: Buffer; type: string } {
  const boundary = '----lensemble-test-boundary';
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; ${part.disposition}\r\nContent-Type: application/octet-stream\r\n\r\n`, 'utf8'));
    chunks.push(part.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

const openFileHandles = (): number => readdirSync('/proc/self/fd').length;

/** Sends the start of a request on a raw socket and closes it at once, as a client that gives up mid-upload. */
function abortedUpload(port: number, head: string, bodyStart: Buffer): Promise<void> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.concat([Buffer.from(head), bodyStart]), () => socket.destroy()));
    socket.on('close', () => done());
    socket.on('error', () => undefined);
  });
}

/** A flat PNG of `width`×`height`: a few KB that decode to width × height pixels (a decompression bomb when large). */
const flatPng = (width: number, height: number, green = 160): Promise<Buffer> =>
  sharp({ create: { width, height, channels: 3, background: { r: 40, g: green, b: 60 } } }).png({ compressionLevel: 9 }).toBuffer();

describe.skipIf(!SHARED_DIR)('uploads a client can get wrong', () => {
  let model: string;
  let server: RunningServer;

  beforeAll(async () => {
    model = await trainSmallRiceModel(work, cacheDir);
    server = await startServer({ model, port: 0, cacheDir, tta: false, maxPixels: 40_000_000, maxRequestPixels: 60_000_000 });
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('leaves no temp folder, file or open handle behind a client that aborts its upload', async () => {
    const leaf = heldOutRice('blast', 0);
    // Warm up, so handles the server keeps for good (sessions, worker pipes) are already open.
    expect((await fetch(`${server.url}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: leaf })).status).toBe(200);
    const before = openFileHandles();
    const raw = 'POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n';
    const form =
      'POST /api/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 100000\r\n\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="leaf.jpg"\r\nContent-Type: image/jpeg\r\n\r\n';
    for (let round = 0; round < 50; round++) {
      await Promise.all([abortedUpload(server.port, raw, leaf.subarray(0, 1000)), abortedUpload(server.port, form, leaf.subarray(0, 1000)), abortedUpload(server.port, raw, Buffer.alloc(0))]);
    }
    for (let i = 0; i < 100 && readdirSync(server.tempDir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync(server.tempDir)).toEqual([]);
    expect(openFileHandles() - before).toBeLessThanOrEqual(2);
    expect((await fetch(`${server.url}/api/predict`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: leaf })).status).toBe(200);
  });

  it('keeps non-ASCII file names: raw UTF-8 (browsers, curl), RFC 5987 filename*, and from FormData', async () => {
    const leaf = heldOutRice('tungro', 0);
    const { body, type } = multipart([
      { disposition: 'filename="lá lúa.jpg"', body: leaf },
      { disposition: `filename*=UTF-8''%E7%A8%BB%E7%98%9F%E7%97%85.jpg`, body: heldOutRice('tungro', 1) },
      { disposition: `filename="fallback.jpg"; filename*=utf-8''l%C3%A1%20%C3%BAa.jpg`, body: heldOutRice('tungro', 2) },
    ]);
    const reply = await json(await fetch(`${server.url}/api/predict`, { method: 'POST', headers: { 'Content-Type': type }, body }));
    expect(reply.skipped).toEqual([]);
    expect(names(reply)).toEqual(['lá lúa.jpg', '稻瘟病.jpg', 'lá úa.jpg']);

    const form = new FormData();
    form.append('file', new Blob([leaf]), 'hạt gạo – ảnh 1.jpg');
    expect(names(await json(await fetch(`${server.url}/api/predict`, { method: 'POST', body: form })))).toEqual(['hạt gạo – ảnh 1.jpg']);

    const raw = await json(await fetch(`${server.url}/api/predict?name=${encodeURIComponent('lá lúa.jpg')}`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: leaf }));
    expect(names(raw)).toEqual(['lá lúa.jpg']);
  });

  it('refuses an image over --max-pixels from its header, with the reason, and predicts the rest', async () => {
    const bomb = await flatPng(16000, 16000);
    const form = new FormData();
    form.append('file', new Blob([bomb]), 'bomb.png');
    form.append('file', new Blob([heldOutRice('blast', 1)]), 'leaf.jpg');
    const r = await fetch(`${server.url}/api/predict`, { method: 'POST', body: form });
    expect(r.status).toBe(200);
    const body = await json(r);
    expect(names(body)).toEqual(['leaf.jpg']);
    expect(body.skipped).toEqual([
      { name: 'bomb.png', limit: 'max-pixels', reason: '16000×16000 pixels (256 MP) is over the 40 MP limit per image (--max-pixels)' },
    ]);

    const alone = await fetch(`${server.url}/api/predict?name=bomb.png`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: bomb });
    expect(alone.status).toBe(413);
    expect(await json(alone)).toEqual({
      error: 'bomb.png: 16000×16000 pixels (256 MP) is over the 40 MP limit per image (--max-pixels)',
      predictions: [],
      skipped: [{ name: 'bomb.png', limit: 'max-pixels', reason: '16000×16000 pixels (256 MP) is over the 40 MP limit per image (--max-pixels)' }],
    });
  });

  it('keeps each request within --max-request-pixels: what does not fit is skipped, to send again', async () => {
    const form = new FormData();
    form.append('file', new Blob([await flatPng(6000, 5000, 100)]), 'a.png'); // 30 MP
    form.append('file', new Blob([await flatPng(6000, 5000, 110)]), 'b.png'); // 30 MP: 60 in all, the budget
    form.append('file', new Blob([await flatPng(2000, 1000, 120)]), 'c.png'); // 2 MP: over
    form.append('file', new Blob([Buffer.from('not an image')]), 'notes.txt');
    const body = await json(await fetch(`${server.url}/api/predict`, { method: 'POST', body: form }));
    expect(names(body)).toEqual(['a.png', 'b.png']);
    expect(body.skipped).toEqual([
      { name: 'c.png', limit: 'max-request-pixels', reason: '2000×1000 pixels (2 MP) would take this request past its 60 MP budget (--max-request-pixels): send it in another request' },
      { name: 'notes.txt', reason: 'not an image (unrecognised format)' },
    ]);
    const info = await json(await fetch(`${server.url}/api/model`));
    expect(info.serving).toEqual(expect.objectContaining({ maxPixels: 40_000_000, maxRequestPixels: 60_000_000, maxFiles: 64 }));
  });

  it('gives a truncated JPEG one short line of reason, in the server and in `lensemble predict`', async () => {
    const leaf = heldOutRice('blast', 2);
    // Cut before the start of scan (FF DA): libvips' header read fails, and its message repeats itself.
    const truncated = leaf.subarray(0, leaf.indexOf(Buffer.from([0xff, 0xda])));
    const expectOneLine = (reason: string) => {
      expect(reason).toMatch(/^corrupt or truncated image \(/);
      expect(reason).not.toMatch(/\n/);
      const clauses = reason.slice(reason.indexOf('(') + 1, -1).split('; ');
      expect(new Set(clauses).size).toBe(clauses.length);
      expect(reason.length).toBeLessThan(120);
    };
    const reply = await json(await fetch(`${server.url}/api/predict?name=cut.jpg`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: truncated }));
    expect(reply.skipped).toHaveLength(1);
    expectOneLine(reply.skipped[0].reason);

    const dir = join(work, 'predict-input');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cut.jpg'), truncated);
    writeFileSync(join(dir, 'leaf.jpg'), leaf);
    const run = await runCli(['predict', '--model', model, '--cache-dir', cacheDir, '--json', dir]);
    expect(run.code, run.stderr).toBe(1); // an input was skipped: predict says so with its exit code
    const out = JSON.parse(run.stdout);
    expect(out.predictions).toHaveLength(1);
    expect(out.skipped).toHaveLength(1);
    expectOneLine(out.skipped[0].reason);
  }, 60_000);
});
