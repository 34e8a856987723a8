import type { KernelEnum } from 'sharp';
import { openImage, renderRgb } from './decode.js';
import type { PreprocessSpec, Interpolation } from './preprocess-spec.js';
import type { RawImage } from './raw-image.js';
import { reflectPad } from './reflect-pad.js';

const sharpKernel: Record<Interpolation, keyof KernelEnum> = {
  bilinear: 'linear',
  bicubic: 'cubic',
  lanczos3: 'lanczos3',
};

/**
 * Decode + geometry in one libvips pipeline (JPEG shrink-on-load makes large photos cheap), giving an
 * RGB image of exactly spec.width × spec.height.
 */
export async function resizeForModel(bytes: Buffer, path: string, spec: PreprocessSpec): Promise<RawImage> {
  const { width, height } = spec;
  const kernel = sharpKernel[spec.interpolation];
  const pipeline = openImage(bytes);
  switch (spec.resize) {
    case 'squish':
      return renderRgb(pipeline.resize(width, height, { fit: 'fill', kernel }), path);
    case 'crop': {
      // timm-style: resize so the target is cropPct of the covering size, then take the centre.
      const coverW = Math.round(width / spec.cropPct);
      const coverH = Math.round(height / spec.cropPct);
      const resized = pipeline.resize(coverW, coverH, { fit: 'cover', position: 'centre', kernel });
      if (coverW === width && coverH === height) return renderRgb(resized, path);
      const left = Math.floor((coverW - width) / 2);
      const top = Math.floor((coverH - height) / 2);
      return renderRgb(resized.extract({ left, top, width, height }), path);
    }
    case 'pad': {
      const inside = await renderRgb(pipeline.resize(width, height, { fit: 'inside', kernel }), path);
      return reflectPad(inside, width, height);
    }
  }
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
