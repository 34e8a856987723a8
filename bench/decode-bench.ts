import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { readDataset } from '../src/dataset/read-dataset.js';
import { decodeJpegWasm } from '../src/images/jpeg-wasm.js';
import { decodeImage } from '../src/images/decode.js';
import { resizeForModel, resizeGeometry } from '../src/images/preprocess.js';
import { defaultPreprocess } from '../src/images/preprocess-spec.js';
import { resample } from '../src/images/resample.js';

export interface DecodeBenchResult {
  images: number;
  /** Milliseconds per image, one thread, for each step and its peer. */
  millis: Record<string, number>;
}

/** Mean milliseconds per call over `items` (after one warm-up pass), repeated `rounds` times; the best round. */
async function timePerItem<T>(items: T[], rounds: number, fn: (item: T) => unknown): Promise<number> {
  for (const item of items.slice(0, 20)) await fn(item);
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    for (const item of items) await fn(item);
    best = Math.min(best, (performance.now() - started) / items.length);
  }
  return best;
}

/**
 * Image → model input on one thread: sharp's single libvips pipeline (decode + resize + centre crop, what
 * lensemble used before) against ours (mozjpeg in WebAssembly + the SIMD resample), and each step apart.
 */
export async function runDecodeBench(options: { dataDir?: string; images?: number; rounds?: number; log?: (line: string) => void } = {}): Promise<DecodeBenchResult> {
  const log = options.log ?? console.log;
  const dataset = await readDataset(options.dataDir ?? '../shared/data/rice-leaf');
  const count = options.images ?? 300;
  const step = Math.max(1, Math.floor(dataset.records.length / count));
  const files = dataset.records.filter((_, i) => i % step === 0).slice(0, count).map((r) => ({ path: r.path, bytes: readFileSync(r.path) }));
  const jpegs = files.filter((f) => f.bytes[0] === 0xff && f.bytes[1] === 0xd8);
  const rounds = options.rounds ?? 3;
  const spec = defaultPreprocess;
  const cover = Math.round(spec.width / spec.cropPct);
  const sharpPipeline = (bytes: Buffer) =>
    sharp(bytes, { failOn: 'warning' })
      .rotate()
      .resize(cover, cover, { fit: 'cover', kernel: 'linear' })
      .extract({ left: (cover - spec.width) >> 1, top: (cover - spec.height) >> 1, width: spec.width, height: spec.height })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer();
  const sources = await Promise.all(jpegs.map((f) => decodeImage(f.path, f.bytes)));
  const fit = (source: (typeof sources)[number], backend: 'auto' | 'js') => {
    const g = resizeGeometry(source.width, source.height, spec);
    return resample(source, g.scaledWidth, g.scaledHeight, spec.interpolation, g.window, { backend });
  };
  const millis = {
    sharpDecodeResizeCrop: await timePerItem(jpegs, rounds, (f) => sharpPipeline(f.bytes)),
    oursDecodeResizeCrop: await timePerItem(jpegs, rounds, (f) => resizeForModel(f.bytes, f.path, spec)),
    sharpDecode: await timePerItem(jpegs, rounds, (f) => sharp(f.bytes).raw().toBuffer()),
    wasmJpegDecode: await timePerItem(jpegs, rounds, (f) => decodeJpegWasm(f.bytes)),
    resampleJs: await timePerItem(sources, rounds, (s) => fit(s, 'js')),
    resampleWasm: await timePerItem(sources, rounds, (s) => fit(s, 'auto')),
  };
  const f = (v: number) => `${v.toFixed(2)} ms`;
  log(`${jpegs.length} rice-leaf JPEGs (300×300) → 224 (resize 256, centre crop), one thread, best of ${rounds}:`);
  log(`  decode + resize + crop: sharp ${f(millis.sharpDecodeResizeCrop)}, ours ${f(millis.oursDecodeResizeCrop)} (${(millis.sharpDecodeResizeCrop / millis.oursDecodeResizeCrop).toFixed(1)}× faster)`);
  log(`  decode only:            sharp ${f(millis.sharpDecode)}, mozjpeg/wasm ${f(millis.wasmJpegDecode)} (${(millis.sharpDecode / millis.wasmJpegDecode).toFixed(1)}×)`);
  log(`  resample only:          TypeScript ${f(millis.resampleJs)}, wasm SIMD ${f(millis.resampleWasm)} (${(millis.resampleJs / millis.resampleWasm).toFixed(1)}×)`);
  return { images: jpegs.length, millis };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await runDecodeBench();
