import sharp from 'sharp';
import { openImage } from '../images/decode.js';
import type { Grid } from './grad-cam.js';

/** Largest side of the photos heatmaps are drawn on. */
export const OVERLAY_MAX_SIDE = 448;

/** Google's Turbo colour map (Mikhailov 2019), polynomial fit: 0 → dark blue, 1 → dark red. */
export function turbo(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  const r = 0.13572138 + x * (4.6153926 + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
  const g = 0.09140261 + x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
  const b = 0.1066733 + x * (12.64194608 + x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
  const byte = (v: number) => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [byte(r), byte(g), byte(b)];
}

/** Bilinear upsampling of a grid to width × height (cell centres aligned). */
function upsample(grid: Grid, width: number, height: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(Math.max(((y + 0.5) / height) * grid.height - 0.5, 0), grid.height - 1);
    const y0 = Math.floor(gy);
    const y1 = Math.min(y0 + 1, grid.height - 1);
    const fy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = Math.min(Math.max(((x + 0.5) / width) * grid.width - 0.5, 0), grid.width - 1);
      const x0 = Math.floor(gx);
      const x1 = Math.min(x0 + 1, grid.width - 1);
      const fx = gx - x0;
      const v = grid.values;
      const top = v[y0 * grid.width + x0] * (1 - fx) + v[y0 * grid.width + x1] * fx;
      const bottom = v[y1 * grid.width + x0] * (1 - fx) + v[y1 * grid.width + x1] * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

export interface DrawnImage {
  png: Buffer;
  width: number;
  height: number;
}

/** The photo (EXIF-oriented), at most `maxSide` pixels on its longer side, as RGB. */
export async function displayPhoto(bytes: Buffer, maxSide = OVERLAY_MAX_SIDE): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await openImage(bytes)
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export async function rgbToPng(rgb: { data: Uint8Array; width: number; height: number }): Promise<DrawnImage> {
  const png = await sharp(Buffer.from(rgb.data.buffer, rgb.data.byteOffset, rgb.data.length), { raw: { width: rgb.width, height: rgb.height, channels: 3 } }).png().toBuffer();
  return { png, width: rgb.width, height: rgb.height };
}

/** The photo with the heatmap blended over it in the Turbo colour map (45 % heatmap), as PNG. */
export async function heatmapOverlay(bytes: Buffer, heatmap: Grid, maxSide = OVERLAY_MAX_SIDE): Promise<DrawnImage> {
  const photo = await displayPhoto(bytes, maxSide);
  const heat = upsample(heatmap, photo.width, photo.height);
  // Parts of the photo no member saw (outside a centre crop) stay untinted.
  const seen = heatmap.seen ? upsample({ ...heatmap, values: Float32Array.from(heatmap.seen) }, photo.width, photo.height) : undefined;
  const out = new Uint8Array(photo.data.length);
  for (let p = 0; p < heat.length; p++) {
    const alpha = 0.45 * (seen ? seen[p] : 1);
    const colour = turbo(heat[p]);
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round((1 - alpha) * photo.data[p * 3 + c] + alpha * colour[c]);
  }
  return rgbToPng({ data: out, width: photo.width, height: photo.height });
}

/** The heatmap as a PNG data URL of the overlay (for JSON answers and the web page). */
export async function overlayDataUrl(bytes: Buffer, heatmap: Grid, maxSide = 320): Promise<string> {
  const { png } = await heatmapOverlay(bytes, heatmap, maxSide);
  return `data:image/png;base64,${png.toString('base64')}`;
}
