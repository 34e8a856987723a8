/** What an EM pass reads: the kernel's geometry and a channel copied out of its image. */

/** The row/column offsets of an N-wide kernel: −⌊N/2⌋ … N−⌊N/2⌋−1. */
export function kernelOffsets(n: number): number[] {
  const lo = -Math.floor(n / 2);
  return Array.from({ length: n }, (_, i) => lo + i);
}

/** One channel of an image, row-major: pixel i is data[offset + i·step] (step > 1 for interleaved images). */
export interface ChannelView {
  data: Float64Array | Uint8Array;
  offset: number;
  step: number;
}

/** The smallest and largest value of a channel (NaN if it holds one). */
export interface ValueRange {
  min: number;
  max: number;
}

/** Copies a channel view into `out` (width·height values) and returns its range. */
export function copyChannel(view: ChannelView, out: Float64Array): ValueRange {
  const { data, offset, step } = view;
  return data instanceof Float64Array ? copyFloat64(data, offset, step, out) : copyBytes(data, offset, step, out);
}

// One loop per source type keeps each monomorphic (and fast) in V8.
function copyBytes(data: Uint8Array, offset: number, step: number, out: Float64Array): ValueRange {
  let min = 255;
  let max = 0;
  for (let i = 0, j = offset; i < out.length; i++, j += step) {
    const v = data[j];
    out[i] = v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

function copyFloat64(data: Float64Array, offset: number, step: number, out: Float64Array): ValueRange {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0, j = offset; i < out.length; i++, j += step) {
    const v = data[j];
    out[i] = v;
    // NaN fails both comparisons with itself; min/max of the rest would hide it.
    if (v !== v) return { min: NaN, max: NaN };
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** Where a channel's interior pixels lie and where their neighbours are, as flat indices. */
export interface PixelGrid {
  width: number;
  height: number;
  /** Interior pixels are x in [x0, x1), y in [y0, y1). */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** Flat index offset (dy·width + dx) of each non-centre neighbour, in kernel raster order. */
  neighbourOffsets: Int32Array;
}
