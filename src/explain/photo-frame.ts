import { resizeGeometry } from '../images/preprocess.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { Grid } from './grad-cam.js';

/** The long side of the heatmap grid in the photo's frame (its aspect ratio kept). */
export const HEATMAP_LONG_SIDE = 56;

export function photoGridSize(photoWidth: number, photoHeight: number, longSide = HEATMAP_LONG_SIDE): { width: number; height: number } {
  const scale = longSide / Math.max(photoWidth, photoHeight);
  return { width: Math.max(1, Math.round(photoWidth * scale)), height: Math.max(1, Math.round(photoHeight * scale)) };
}

/** Bilinear sample of a grid at continuous cell coordinates (cell centres at integers), edges clamped. */
function sample(grid: Grid, x: number, y: number): number {
  const cx = Math.min(Math.max(x, 0), grid.width - 1);
  const cy = Math.min(Math.max(y, 0), grid.height - 1);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, grid.width - 1);
  const y1 = Math.min(y0 + 1, grid.height - 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const at = (xx: number, yy: number) => grid.values[yy * grid.width + xx];
  return (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) + (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy;
}

/**
 * A member's map (over its model input) carried back onto the photo: each cell of an out.width × out.height grid
 * over the whole photo looks up where that point landed in the member's input — through the member's own resize
 * rule (squish, centre crop, pad) — and samples the map there. Photo regions the member never saw (outside a
 * centre crop) get 0. Members at different sizes and resize rules so meet in one frame.
 */
export function toPhotoFrame(map: Grid, spec: PreprocessSpec, photoWidth: number, photoHeight: number, out: { width: number; height: number }): Grid {
  const g = resizeGeometry(photoWidth, photoHeight, spec);
  const padLeft = spec.resize === 'pad' ? Math.floor((spec.width - g.scaledWidth) / 2) : 0;
  const padTop = spec.resize === 'pad' ? Math.floor((spec.height - g.scaledHeight) / 2) : 0;
  const values = new Float32Array(out.width * out.height);
  const seen = new Uint8Array(out.width * out.height);
  for (let y = 0; y < out.height; y++) {
    const v = ((y + 0.5) / out.height) * g.scaledHeight - g.window.top + padTop;
    for (let x = 0; x < out.width; x++) {
      const u = ((x + 0.5) / out.width) * g.scaledWidth - g.window.left + padLeft;
      if (u < 0 || v < 0 || u >= spec.width || v >= spec.height) continue;
      seen[y * out.width + x] = 1;
      values[y * out.width + x] = sample(map, (u / spec.width) * map.width - 0.5, (v / spec.height) * map.height - 0.5);
    }
  }
  return { width: out.width, height: out.height, values, seen };
}
