import type { Matrix } from '../util/matrix.js';
import type { Pooling } from './spec.js';

/**
 * Turns a backbone output into one feature row per image: [N, D] as is, [N, C, H, W] by global average
 * pooling, [N, T, D] by the CLS token (or the token mean with pooling 'mean-tokens'); 'flatten' keeps everything.
 */
export function poolOutput(data: Float32Array, dims: readonly number[], pooling: Pooling): Matrix {
  const n = dims[0];
  if (pooling === 'flatten') {
    // The whole activation per image (e.g. a fine-tuning prefix's output, cached for the trainable tail).
    const cols = dims.slice(1).reduce((a, b) => a * b, 1);
    return { rows: n, cols, data: data.slice(0, n * cols) };
  }
  if (dims.length === 2) return { rows: n, cols: dims[1], data: data.slice(0, n * dims[1]) };
  if (dims.length === 4) {
    const [, c, h, w] = dims;
    const plane = h * w;
    const out = new Float32Array(n * c);
    for (let i = 0; i < n * c; i++) {
      let s = 0;
      const base = i * plane;
      for (let p = 0; p < plane; p++) s += data[base + p];
      out[i] = s / plane;
    }
    return { rows: n, cols: c, data: out };
  }
  if (dims.length === 3) {
    const [, t, d] = dims;
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      if (pooling === 'mean-tokens') {
        for (let k = 0; k < t; k++) for (let j = 0; j < d; j++) out[i * d + j] += data[(i * t + k) * d + j] / t;
      } else {
        out.set(data.subarray(i * t * d, i * t * d + d), i * d);
      }
    }
    return { rows: n, cols: d, data: out };
  }
  throw new Error(`cannot pool a backbone output of shape [${dims.join(', ')}]`);
}
