import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { augment } from '../src/images/augment.js';
import { fastaiDefaults, type AugmentSpec } from '../src/images/augment-spec.js';
import type { RawImage } from '../src/images/raw-image.js';

export interface AugmentBenchOptions {
  /** Folder of class folders of images. */
  dataDir?: string;
  /** How many images to decode (spread evenly over the class folders). */
  maxImages?: number;
  /** Square output sizes to time. */
  sizes?: number[];
  spec?: AugmentSpec;
  /** Each size is timed for at least this long (after one warm-up pass). */
  minMillis?: number;
}

export interface AugmentBenchResult {
  images: number;
  /** Mean source size, for context. */
  meanSourcePixels: number;
  decodeMillis: number;
  /**
   * Per output size. imagesPerSecond is wall-clock; imagesPerCpuSecond divides by this process's CPU time,
   * which is the steadier number on a shared machine (the loop is single-threaded).
   */
  sizes: { size: number; views: number; millis: number; imagesPerSecond: number; imagesPerCpuSecond: number }[];
}

const defaultDataDir = '/work/shared/data/rice-leaf';

async function pickImagePaths(dataDir: string, maxImages: number): Promise<string[]> {
  const classes = (await readdir(dataDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const perClass = Math.ceil(maxImages / Math.max(1, classes.length));
  const paths: string[] = [];
  for (const cls of classes) {
    const files = (await readdir(join(dataDir, cls))).filter((f) => /\.jpe?g$/i.test(f)).sort();
    for (const f of files.slice(0, perClass)) paths.push(join(dataDir, cls, f));
  }
  return paths.slice(0, maxImages);
}

async function decode(path: string): Promise<RawImage> {
  const { data, info } = await sharp(path).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

/** Decodes the images once, then times `augment` (one fresh random view per call) at each output size. */
export async function runAugmentBench(options: AugmentBenchOptions = {}): Promise<AugmentBenchResult> {
  const { dataDir = defaultDataDir, maxImages = 100, sizes = [224, 320], spec = fastaiDefaults, minMillis = 2000 } = options;
  const paths = await pickImagePaths(dataDir, maxImages);
  if (paths.length === 0) throw new Error(`no .jpg images under ${dataDir}/*/`);
  const decodeStart = performance.now();
  const images: RawImage[] = [];
  for (const p of paths) images.push(await decode(p));
  const decodeMillis = performance.now() - decodeStart;

  const results: AugmentBenchResult['sizes'] = [];
  let checksum = 0;
  for (const size of sizes) {
    for (let k = 0; k < images.length; k++) checksum += augment(images[k], spec, k, size, size).data[0];
    let views = 0;
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < minMillis) {
      for (let k = 0; k < images.length; k++, views++) checksum += augment(images[k], spec, 1000 + views, size, size).data[0];
      elapsed = performance.now() - start;
    }
    const cpu = process.cpuUsage(cpuStart);
    const cpuMillis = (cpu.user + cpu.system) / 1000;
    results.push({
      size,
      views,
      millis: elapsed,
      imagesPerSecond: (views / elapsed) * 1000,
      imagesPerCpuSecond: (views / cpuMillis) * 1000,
    });
  }
  if (checksum < 0) console.log(checksum); // keeps the work observable
  const meanSourcePixels = images.reduce((s, im) => s + im.width * im.height, 0) / images.length;
  return { images: images.length, meanSourcePixels, decodeMillis, sizes: results };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runAugmentBench();
  console.log(`decoded ${result.images} images (mean ${Math.round(result.meanSourcePixels)} px) in ${result.decodeMillis.toFixed(0)} ms`);
  for (const r of result.sizes) {
    console.log(
      `augment -> ${r.size}x${r.size}: ${r.imagesPerSecond.toFixed(0)} images/s wall, ` +
        `${r.imagesPerCpuSecond.toFixed(0)} per CPU-second (${r.views} views in ${r.millis.toFixed(0)} ms)`,
    );
  }
}
