import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RawImage } from '../../src/images/raw-image.js';
import { createRng } from '../../src/util/rng.js';
import { SHARED_DIR } from './shared.js';

/** Images for the EM trace tests: real photos and GAN faces from ../shared, and generated textures. */
export const FACES_DIR: string | undefined = SHARED_DIR ? join(SHARED_DIR, 'data', 'fake-faces') : undefined;

/** Decoded 8-bit sRGB pixels, as the trace pipeline sees them. */
export async function decodeRgb(path: string): Promise<RawImage> {
  const { data, info } = await sharp(path).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
}

/** Every `step`-th file of real/ and of fake/, `count` of each; none without ../shared. */
export function faceFiles(count: number, step: number): string[] {
  const faces = FACES_DIR;
  if (!faces || !existsSync(faces)) return [];
  return ['real', 'fake'].flatMap((dir) =>
    readdirSync(join(faces, dir))
      .sort()
      .filter((_, i) => i % step === 0)
      .slice(0, count)
      .map((f) => join(faces, dir, f)),
  );
}

/** A smooth, textured 8-bit image with noise (RGB or grayscale), different per seed. */
export function texturedImage(width: number, height: number, channels: number, seed: number): RawImage {
  const rng = createRng(seed);
  const waves = Array.from({ length: 4 * channels }, () => ({
    fx: rng.uniform(-0.2, 0.2),
    fy: rng.uniform(-0.2, 0.2),
    phase: rng.uniform(0, 6.3),
    amp: rng.uniform(10, 30),
  }));
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let v = 128 + 6 * rng.normal();
        for (const w of waves.slice(4 * c, 4 * c + 4)) v += w.amp * Math.sin(w.fx * x + w.fy * y + w.phase);
        data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { data, width, height, channels };
}
