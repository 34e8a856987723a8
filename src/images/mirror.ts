import type { RawImage } from './raw-image.js';

/** Left-right mirror image. */
export function mirrorHorizontally(image: RawImage): RawImage {
  const { width, height, channels, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const rowStart = y * width * channels;
    for (let x = 0; x < width; x++) {
      const s = rowStart + x * channels;
      const d = rowStart + (width - 1 - x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = data[s + c];
    }
  }
  return { data: out, width, height, channels };
}
