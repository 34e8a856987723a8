import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRng } from '../../src/util/rng.js';

/** A seeded RGB test pattern with structure (gradients + blobs), so perceptual hashes are meaningful. */
export function patternPixels(width: number, height: number, seed: number): Buffer {
  const rng = createRng(seed);
  const blobs = Array.from({ length: 6 }, () => ({ x: rng.uniform(0, width), y: rng.uniform(0, height), r: rng.uniform(0.1, 0.4) * Math.min(width, height), c: [rng.int(256), rng.int(256), rng.int(256)] }));
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      let rgb = [(x * 255) / width, (y * 255) / height, 128];
      for (const b of blobs) if ((x - b.x) ** 2 + (y - b.y) ** 2 < b.r ** 2) rgb = b.c;
      data[o] = rgb[0];
      data[o + 1] = rgb[1];
      data[o + 2] = rgb[2];
    }
  }
  return data;
}

export function patternImage(width: number, height: number, seed: number) {
  return sharp(patternPixels(width, height, seed), { raw: { width, height, channels: 3 } });
}

export async function writePattern(path: string, width: number, height: number, seed: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const img = patternImage(width, height, seed);
  writeFileSync(path, await (format === 'png' ? img.png() : img.jpeg({ quality: 92 })).toBuffer());
}
