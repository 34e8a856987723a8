import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { readDataset } from '../src/dataset/read-dataset.js';
import { decodeJpegWasm } from '../src/images/jpeg-wasm.js';
import { decodeImage } from '../src/images/decode.js';
import { resizeForModel, resizeGeometry } from '../src/images/preprocess.js';
import { defaultPreprocess } from '../src/images/preprocess-spec.js';
import type { RawImage } from '../src/images/raw-image.js';
import { resample } from '../src/images/resample.js';

export interface DecodeBenchRow {
  dataset: string;
  images: number;
  meanBytes: number;
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

const DATASETS = [
  { name: 'rice-leaf', dir: '../shared/data/rice-leaf' },
  { name: 'paddy-doctor-mini', dir: '../shared/data/paddy-doctor-mini' },
];

/**
 * Image → model input on one thread: sharp's single libvips pipeline (decode + resize + centre crop, what
 * lensemble used before) against ours (mozjpeg in WebAssembly for small files, else sharp's decode, then the
 * SIMD resample), and each step apart, on small and on photo-sized JPEGs.
 */
export async function runDecodeBench(options: { images?: number; rounds?: number; log?: (line: string) => void } = {}): Promise<DecodeBenchRow[]> {
  const log = options.log ?? console.log;
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
  const fit = (source: RawImage, backend: 'auto' | 'js') => {
    const g = resizeGeometry(source.width, source.height, spec);
    return resample(source, g.scaledWidth, g.scaledHeight, spec.interpolation, g.window, { backend });
  };
  const f = (v: number) => `${v.toFixed(2)} ms`;
  const rows: DecodeBenchRow[] = [];
  log(`JPEG → 224 (resize 256, centre crop), one thread, best of ${rounds} passes:`);
  for (const { name, dir } of DATASETS) {
    const dataset = await readDataset(dir);
    const count = options.images ?? 300;
    const step = Math.max(1, Math.floor(dataset.records.length / count));
    const files = dataset.records.filter((_, i) => i % step === 0).slice(0, count).map((r) => ({ path: r.path, bytes: readFileSync(r.path) }));
    const jpegs = files.filter((file) => file.bytes[0] === 0xff && file.bytes[1] === 0xd8);
    const sources = await Promise.all(jpegs.map((file) => decodeImage(file.path, file.bytes)));
    const millis = {
      sharpDecodeResizeCrop: await timePerItem(jpegs, rounds, (file) => sharpPipeline(file.bytes)),
      oursDecodeResizeCrop: await timePerItem(jpegs, rounds, (file) => resizeForModel(file.bytes, file.path, spec)),
      sharpDecode: await timePerItem(jpegs, rounds, (file) => sharp(file.bytes).raw().toBuffer()),
      wasmJpegDecode: await timePerItem(jpegs, rounds, (file) => decodeJpegWasm(file.bytes)),
      resampleJs: await timePerItem(sources, rounds, (source) => fit(source, 'js')),
      resampleWasm: await timePerItem(sources, rounds, (source) => fit(source, 'auto')),
    };
    const meanBytes = jpegs.reduce((sum, file) => sum + file.bytes.length, 0) / jpegs.length;
    rows.push({ dataset: name, images: jpegs.length, meanBytes, millis });
    const medianBytes = jpegs.map((file) => file.bytes.length).sort((a, b) => a - b)[jpegs.length >> 1];
    log(`${name}, ${jpegs.length} JPEGs of ${sources[0].width}×${sources[0].height}, median ${(medianBytes / 1000).toFixed(0)} KB:`);
    log(`  decode + resize + crop: sharp ${f(millis.sharpDecodeResizeCrop)}, ours ${f(millis.oursDecodeResizeCrop)} (${(millis.sharpDecodeResizeCrop / millis.oursDecodeResizeCrop).toFixed(1)}×)`);
    log(`  decode only:            sharp ${f(millis.sharpDecode)}, mozjpeg/wasm ${f(millis.wasmJpegDecode)} (${(millis.sharpDecode / millis.wasmJpegDecode).toFixed(1)}×)`);
    log(`  resample only:          TypeScript ${f(millis.resampleJs)}, wasm SIMD ${f(millis.resampleWasm)} (${(millis.resampleJs / millis.resampleWasm).toFixed(1)}×)`);
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await runDecodeBench();
