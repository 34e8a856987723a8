import type { RawImage } from './raw-image.js';

/** Reflects index i into [0, n) without repeating the edge pixel (like numpy/torch 'reflect'). */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let r = i % period;
  if (r < 0) r += period;
  return r < n ? r : period - r;
}

/** Centres `image` in a width × height canvas and fills the border by reflection (fastai's PadMode.Reflection). */
export function reflectPad(image: RawImage, width: number, height: number): RawImage {
  if (image.width === width && image.height === height) return image;
  const { channels } = image;
  const left = Math.floor((width - image.width) / 2);
  const top = Math.floor((height - image.height) / 2);
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const sy = reflectIndex(y - top, image.height);
    for (let x = 0; x < width; x++) {
      const sx = reflectIndex(x - left, image.width);
      const s = (sy * image.width + sx) * channels;
      const d = (y * width + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = image.data[s + c];
    }
  }
  return { data: out, width, height, channels };
}
