import { decodeForScale } from './decode.js';
import type { PreprocessSpec } from './preprocess-spec.js';
import { resample, type Window } from './resample.js';
import type { RawImage } from './raw-image.js';
import { reflectPad } from './reflect-pad.js';

/** Names how pixels are made (decoders, resampler): part of the feature-cache key, bumped when they change. */
export const PIXEL_PIPELINE = 'antialiased-separable-v1';

interface Geometry {
  /** The whole image resized to this size... */
  scaledWidth: number;
  scaledHeight: number;
  /** ...of which this window is kept. */
  window: Window;
}

/** fastai's Resize methods and timm's centre crop, as a resize of the whole image and a window of it. */
export function resizeGeometry(srcWidth: number, srcHeight: number, spec: PreprocessSpec): Geometry {
  const { width, height } = spec;
  switch (spec.resize) {
    case 'squish':
      return { scaledWidth: width, scaledHeight: height, window: { left: 0, top: 0, width, height } };
    case 'crop': {
      // timm-style: resize so the target is cropPct of the covering size, then take the centre.
      const coverW = Math.round(width / spec.cropPct);
      const coverH = Math.round(height / spec.cropPct);
      const scale = Math.max(coverW / srcWidth, coverH / srcHeight);
      const scaledWidth = Math.max(coverW, Math.round(srcWidth * scale));
      const scaledHeight = Math.max(coverH, Math.round(srcHeight * scale));
      const left = Math.floor((scaledWidth - width) / 2);
      const top = Math.floor((scaledHeight - height) / 2);
      return { scaledWidth, scaledHeight, window: { left, top, width, height } };
    }
    case 'pad': {
      const scale = Math.min(width / srcWidth, height / srcHeight);
      const scaledWidth = Math.max(1, Math.min(width, Math.round(srcWidth * scale)));
      const scaledHeight = Math.max(1, Math.min(height, Math.round(srcHeight * scale)));
      return { scaledWidth, scaledHeight, window: { left: 0, top: 0, width: scaledWidth, height: scaledHeight } };
    }
  }
}

/**
 * Decode (reduced on load when the photo is much larger than needed) and one antialiased resample of
 * just the pixels kept, giving an RGB image of exactly spec.width × spec.height.
 */
export async function resizeForModel(bytes: Buffer, path: string, spec: PreprocessSpec): Promise<RawImage> {
  return fitToModel(await decodeForScale(bytes, path, (w, h) => modelScale(w, h, spec)), spec);
}

/** How much an image of this size is scaled on its way to the model (the larger of the two axes' factors). */
export function modelScale(width: number, height: number, spec: PreprocessSpec): number {
  const g = resizeGeometry(width, height, spec);
  return Math.max(g.scaledWidth / width, g.scaledHeight / height);
}

/** The geometry of {@link resizeForModel} on an already decoded image. */
export function fitToModel(source: RawImage, spec: PreprocessSpec): RawImage {
  const { scaledWidth, scaledHeight, window } = resizeGeometry(source.width, source.height, spec);
  const resized = resample(source, scaledWidth, scaledHeight, spec.interpolation, window);
  return spec.resize === 'pad' ? reflectPad(resized, spec.width, spec.height) : resized;
}

/** Writes an RGB image as normalised CHW float32 into `out` at `offset` (one slot of a batch tensor). */
export function writeNormalizedChw(image: RawImage, spec: PreprocessSpec, out: Float32Array, offset: number): void {
  const { width, height, data, channels } = image;
  const plane = width * height;
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * spec.std[c]);
    const shift = spec.mean[c] / spec.std[c];
    const src = channels === 1 ? 0 : c;
    const base = offset + c * plane;
    for (let i = 0, j = src; i < plane; i++, j += channels) out[base + i] = data[j] * scale - shift;
  }
}
