import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveDataConfig } from '../src/backbone/data-config.js';
import { resolveBackbone } from '../src/backbone/resolve.js';
import { openBackbone } from '../src/backbone/session.js';
import { identifyImages } from '../src/dataset/identify.js';
import { readDataset } from '../src/dataset/read-dataset.js';
import { extractFeatures } from '../src/features/extract.js';
import { createRenderPool, sharedRenderPool, type RenderPool } from '../src/features/render-pool.js';
import { mapConcurrent } from '../src/util/concurrency.js';
import { resizeForModel, writeNormalizedChw } from '../src/images/preprocess.js';

export interface ExtractionBenchOptions {
  dataDir?: string;
  backbone?: string;
  images?: number;
  batchSize?: number;
  size?: number;
  decodeConcurrency?: number;
  /** ONNX Runtime sessions sharing the cores (default: lensemble's default). */
  sessions?: number;
  /** Also time the whole path on a pool of this many render threads, as a third contender. */
  compareRenderThreads?: number;
  rounds?: number;
  log?: (line: string) => void;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export interface ExtractionBenchResult {
  backbone: string;
  images: number;
  batchSize: number;
  size: number;
  sessions: number;
  threadsPerSession: number;
  /** onnxruntime alone on pre-decoded, pre-normalised tensors. */
  ortOnlyImagesPerSecond: number;
  /** decode → resize → normalise → onnxruntime → feature cache, as `lensemble train` runs it. */
  wholePathImagesPerSecond: number;
  /** wholePath / ortOnly: the share of backbone throughput the full path keeps. */
  ratio: number;
  /** The whole path on `compareRenderThreads` render threads. */
  pooledImagesPerSecond?: number;
  renderThreads: number;
}

/** Feature-extraction throughput: the whole path against onnxruntime alone, in one run. */
export async function runExtractionBench(options: ExtractionBenchOptions = {}): Promise<ExtractionBenchResult> {
  const log = options.log ?? console.log;
  const dataDir = options.dataDir ?? '../shared/data/rice-leaf';
  const count = options.images ?? 512;
  const batchSize = options.batchSize ?? 32;
  const dataset = await readDataset(dataDir);
  const step = Math.max(1, Math.floor(dataset.records.length / count));
  const records = dataset.records.filter((_, i) => i % step === 0).slice(0, count);
  const { ok } = await identifyImages(records);
  const session = await openBackbone(await resolveBackbone(options.backbone ?? 'mobilenetv2_100'), { sessions: options.sessions });
  const preprocess = resolveDataConfig(session.spec, { size: options.size ?? 224 });
  const pixels = 3 * preprocess.width * preprocess.height;

  // Peer: the backbone alone, fed tensors prepared in advance.
  const tensors: Float32Array[] = [];
  for (let i = 0; i < ok.length; i += batchSize) {
    const batch = ok.slice(i, i + batchSize);
    const t = new Float32Array(batch.length * pixels);
    for (let j = 0; j < batch.length; j++) {
      const img = await resizeForModel(readFileSync(batch[j].record.path), batch[j].record.path, preprocess);
      writeNormalizedChw(img, preprocess, t, j * pixels);
    }
    tensors.push(t);
  }
  // Each round gets its own copies, made before the clock starts, handed over without a copy as the whole path does.
  const backboneAlone = (copies: Float32Array[]) =>
    mapConcurrent(copies, session.parallelism, (t) => session.embed(t, t.length / pixels, preprocess.width, preprocess.height, { transfer: true }));
  await backboneAlone(tensors.map((t) => t.slice())); // warm-up: every session's first run allocates
  // Alternate the two contenders over several rounds (the machine's load falls on both alike); report medians.
  const items = ok.map((o) => ({ id: o.record.id, path: o.record.path, contentHash: o.contentHash }));
  const comparePool = options.compareRenderThreads ? createRenderPool(options.compareRenderThreads) : undefined;
  const wholePath = async (renderPool?: RenderPool) => {
    const cacheRoot = mkdtempSync(join(tmpdir(), 'lensemble-bench-'));
    const started = performance.now();
    const result = await extractFeatures({ session, preprocess, items, cacheRoot, batchSize, decodeConcurrency: options.decodeConcurrency, renderPool, progress: false });
    const perSecond = result.computed / ((performance.now() - started) / 1000);
    rmSync(cacheRoot, { recursive: true, force: true });
    return perSecond;
  };
  await wholePath(); // warm-up: starts any render threads
  if (comparePool) await wholePath(comparePool);
  const ortRuns: number[] = [];
  const wholeRuns: number[] = [];
  const pooledRuns: number[] = [];
  for (let round = 0; round < (options.rounds ?? 3); round++) {
    const copies = tensors.map((t) => t.slice());
    const started = performance.now();
    await backboneAlone(copies);
    ortRuns.push(ok.length / ((performance.now() - started) / 1000));
    wholeRuns.push(await wholePath());
    if (comparePool) pooledRuns.push(await wholePath(comparePool));
  }
  const ortOnly = median(ortRuns);
  const whole = median(wholeRuns);
  await session.close();
  const out = {
    backbone: session.spec.name,
    images: ok.length,
    batchSize,
    size: preprocess.width,
    sessions: session.parallelism,
    threadsPerSession: Math.max(1, Math.floor(availableParallelism() / session.parallelism)),
    ortOnlyImagesPerSecond: ortOnly,
    wholePathImagesPerSecond: whole,
    ratio: whole / ortOnly,
    renderThreads: sharedRenderPool(session.device).size,
    ...(pooledRuns.length ? { pooledImagesPerSecond: median(pooledRuns) } : {}),
  };
  log(
    `extraction ${out.backbone}@${out.size}, ${out.sessions} session(s) × ${out.threadsPerSession} thread(s), ${out.images} images, median of ${ortRuns.length} alternating rounds: ` +
      `onnxruntime alone ${ortOnly.toFixed(1)} img/s, whole path ${whole.toFixed(1)} img/s, ratio ${out.ratio.toFixed(2)} ` +
      `(rounds: ${ortRuns.map((v) => v.toFixed(0)).join('/')} vs ${wholeRuns.map((v) => v.toFixed(0)).join('/')}; ${out.renderThreads} render thread(s))`,
  );
  if (out.pooledImagesPerSecond)
    log(`  on ${options.compareRenderThreads} render thread(s) instead: ${out.pooledImagesPerSecond.toFixed(1)} img/s, ratio ${(out.pooledImagesPerSecond / ortOnly).toFixed(2)}`);
  await comparePool?.close();
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  await runExtractionBench({ batchSize: Number(arg('batch') ?? 32), decodeConcurrency: arg('decode') ? Number(arg('decode')) : undefined, sessions: arg('sessions') ? Number(arg('sessions')) : undefined, compareRenderThreads: arg('render-threads') ? Number(arg('render-threads')) : undefined, images: Number(arg('images') ?? 512) });
}
