import { createServer, type Server } from 'node:http';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDataConfig } from '../src/backbone/data-config.js';
import { findRegisteredBackbone } from '../src/backbone/registry.js';
import { resolveBackbone, resolveBackboneSpec, specFor } from '../src/backbone/resolve.js';
import { cudaProviderInstalled, openBackbone } from '../src/backbone/session.js';
import { resizeForModel, writeNormalizedChw } from '../src/images/preprocess.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

describe('backbone registry and references', () => {
  it('knows the shared models by name and folder alias, with their data config', () => {
    expect(findRegisteredBackbone('mobilenetv2')?.name).toBe('mobilenetv2_100');
    expect(findRegisteredBackbone('squeezenet1.1')?.inputName).toBe('data');
    expect(resolveDataConfig(findRegisteredBackbone('mobilenetv2_100')!, { size: '320x240', resize: 'pad' })).toMatchObject({ width: 320, height: 240, resize: 'pad', cropPct: 0.875 });
    expect(() => resolveDataConfig(findRegisteredBackbone('mobilenetv2_100.int8')!, { size: 320 })).toThrow(/only accepts 224×224/);
    expect(resolveDataConfig(findRegisteredBackbone('dinov2_small')!, { size: 230 }).width).toBe(224); // rounded to the patch multiple
  });
  it('parses hub references and rejects unknown names clearly', () => {
    expect(specFor('hf:org/repo/onnx/model.onnx@v2').source).toEqual({ kind: 'hub', repo: 'org/repo', file: 'onnx/model.onnx', revision: 'v2' });
    expect(() => specFor('resnet9000')).toThrow(/unknown backbone "resnet9000"/);
  });
  it('names a bare model.onnx by its folder', () => {
    expect(specFor('/x/models/mobilenetv2/model.onnx').name).toBe('mobilenetv2');
  });
});

describe.skipIf(!SHARED_DIR)('ONNX Runtime sessions (real models)', () => {
  it('fills input/output names from a bare .onnx file and extracts finite 1280-d features', async () => {
    const resolved = await resolveBackbone(sharedPath('models', 'mobilenetv2', 'model.onnx'));
    const session = await openBackbone(resolved);
    expect(session.spec).toMatchObject({ inputName: 'input', featureOutput: 'features' });
    const pre = resolveDataConfig(session.spec);
    const batch = new Float32Array(2 * 3 * 224 * 224);
    for (const [i, f] of ['blast/BLAST1_001.jpg', 'tungro/TUNGRO1_143.JPG'].entries()) {
      const p = sharedPath('data', 'rice-leaf', f);
      writeNormalizedChw(await resizeForModel(readFileSync(p), p, pre), pre, batch, i * 3 * 224 * 224);
    }
    const features = await session.embed(batch, 2, 224, 224);
    expect([features.rows, features.cols]).toEqual([2, 1280]);
    expect(features.data.every(Number.isFinite)).toBe(true);
    await session.close();
  });

  it('a pool of sessions gives the same features as one, takes over transferred batches and recycles them', async () => {
    const resolved = await resolveBackbone(sharedPath('models', 'squeezenet1.1', 'model.onnx'));
    const one = await openBackbone(resolved, { sessions: 1 });
    const two = await openBackbone(resolved, { sessions: 2, threads: 2 });
    expect([one.parallelism, two.parallelism]).toEqual([1, 2]);
    const pre = resolveDataConfig(one.spec);
    const pixels = 3 * pre.width * pre.height;
    const batch = new Float32Array(2 * pixels);
    for (const [i, f] of ['blast/BLAST1_001.jpg', 'tungro/TUNGRO1_143.JPG'].entries()) {
      const p = sharedPath('data', 'rice-leaf', f);
      writeNormalizedChw(await resizeForModel(readFileSync(p), p, pre), pre, batch, i * pixels);
    }
    const reference = await one.embed(batch, 2, pre.width, pre.height);
    expect(batch.length).toBe(2 * pixels); // copied, not taken
    const runs = await Promise.all([0, 1, 2].map(() => two.embed(batch, 2, pre.width, pre.height)));
    for (const r of runs) for (let i = 0; i < r.data.length; i++) expect(r.data[i]).toBeCloseTo(reference.data[i], 4);
    const owned = two.batchBuffer(2 * pixels);
    owned.set(batch);
    const viaTransfer = await two.embed(owned, 2, pre.width, pre.height, { transfer: true });
    expect(owned.length).toBe(0); // detached: the backbone took it
    expect(viaTransfer.data[0]).toBeCloseTo(reference.data[0], 4);
    const recycled = two.batchBuffer(2 * pixels);
    expect(recycled.length).toBe(2 * pixels);
    expect(recycled[5]).toBe(batch[5]); // the same memory came back, contents and all
    await Promise.all([one.close(), two.close()]);
  });

  it('--device cuda fails with the install instruction when the CUDA provider is absent', async () => {
    if (cudaProviderInstalled()) return;
    const resolved = await resolveBackbone('squeezenet1_1');
    await expect(openBackbone(resolved, { device: 'cuda' })).rejects.toThrow(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('a bundle whose backbone file moved finds the same weights by sha256', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lensemble-moved-'));
    const copy = join(dir, 'model.onnx');
    copyFileSync(sharedPath('models', 'squeezenet1.1', 'model.onnx'), copy);
    const original = await resolveBackbone(copy);
    const moved = { ...original.spec, source: { kind: 'file' as const, path: join(dir, 'gone.onnx') } };
    const found = await resolveBackboneSpec(moved, { expectedSha256: original.sha256, cacheDir: dir });
    expect(found.modelPath).toBe(sharedPath('models', 'squeezenet1.1', 'model.onnx'));
    await expect(resolveBackboneSpec(moved, { expectedSha256: 'f'.repeat(64), cacheDir: dir })).rejects.toThrow(/gone\.onnx: backbone ONNX file not found/);
  });
});

describe.skipIf(!SHARED_DIR)('hub backbones through a local server with the hub layout', () => {
  let server: Server;
  let endpoint: string;
  const requests: string[] = [];
  beforeAll(async () => {
    const bytes = readFileSync(sharedPath('models', 'squeezenet1.1', 'model.onnx'));
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/acme/squeeze/resolve/main/onnx/model.onnx') {
        res.writeHead(200, { 'content-length': bytes.length });
        res.end(bytes);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('downloads once into the cache, then runs it', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'lensemble-hubbb-'));
    process.env.HF_ENDPOINT = endpoint;
    try {
      const first = await resolveBackbone('hf:acme/squeeze/onnx/model.onnx', { cacheDir });
      const second = await resolveBackbone('hf:acme/squeeze/onnx/model.onnx', { cacheDir });
      expect(requests.filter((u) => u.includes('model.onnx'))).toHaveLength(1);
      expect(second.modelPath).toBe(first.modelPath);
      const session = await openBackbone(first);
      expect(session.spec.inputName).toBe('data');
      const f = await session.embed(new Float32Array(3 * 64 * 64), 1, 64, 64);
      expect(f.cols).toBe(512);
      await session.close();
    } finally {
      delete process.env.HF_ENDPOINT;
    }
  });
});
