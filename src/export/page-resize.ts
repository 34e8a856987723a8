/**
 * The exported page's resize, as browser JavaScript: lensemble's own pixel pipeline (src/images/resample.ts,
 * preprocess.ts, reflect-pad.ts, decode.ts's power-of-two reduction) ported line by line, so the browser feeds
 * the model the pixels `lensemble predict` would — PIL's antialiased separable filters and pixel centres,
 * squish/crop/pad, reflection padding — rather than whatever the canvas's drawImage smoothing does.
 *
 * Kept as a string: it runs in the page, and tests evaluate the same text in Node (node:vm) to check it against
 * the TypeScript pipeline. Defines `lensembleResize()` → { geometry, reductionFor, reduce, resample, reflectPad, toModel }.
 */
export const RESIZE_SCRIPT = String.raw`
function lensembleResize() {
  'use strict';
  const FILTERS = {
    bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
    bicubic: {
      support: 2,
      weight(x) {
        const a = -0.5;
        const t = Math.abs(x);
        if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
        if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
        return 0;
      },
    },
    lanczos3: {
      support: 3,
      weight(x) {
        if (x === 0) return 1;
        if (Math.abs(x) >= 3) return 0;
        const px = Math.PI * x;
        return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
      },
    },
  };

  // fastai's Resize methods and timm's centre crop, as a resize of the whole image and a window of it.
  function geometry(srcWidth, srcHeight, spec) {
    const { width, height } = spec;
    if (spec.resize === 'squish') return { scaledWidth: width, scaledHeight: height, window: { left: 0, top: 0, width, height } };
    if (spec.resize === 'crop') {
      const coverW = Math.round(width / spec.cropPct);
      const coverH = Math.round(height / spec.cropPct);
      const scale = Math.max(coverW / srcWidth, coverH / srcHeight);
      const scaledWidth = Math.max(coverW, Math.round(srcWidth * scale));
      const scaledHeight = Math.max(coverH, Math.round(srcHeight * scale));
      return { scaledWidth, scaledHeight, window: { left: Math.floor((scaledWidth - width) / 2), top: Math.floor((scaledHeight - height) / 2), width, height } };
    }
    const scale = Math.min(width / srcWidth, height / srcHeight);
    const scaledWidth = Math.max(1, Math.min(width, Math.round(srcWidth * scale)));
    const scaledHeight = Math.max(1, Math.min(height, Math.round(srcHeight * scale)));
    return { scaledWidth, scaledHeight, window: { left: 0, top: 0, width: scaledWidth, height: scaledHeight } };
  }

  // The largest power of two (up to 8) the image can be shrunk by and still be scaled down, not up (lensemble
  // decodes such photos reduced: JPEG shrink-on-load, here a box filter).
  function reductionFor(srcWidth, srcHeight, spec) {
    const g = geometry(srcWidth, srcHeight, spec);
    const scale = Math.max(g.scaledWidth / srcWidth, g.scaledHeight / srcHeight);
    let reduction = 1;
    while (reduction < 8 && scale * reduction * 2 <= 1) reduction *= 2;
    return reduction;
  }

  // Box-averages factor × factor blocks (the last ones partial): ceil(w / factor) × ceil(h / factor).
  function reduce(data, width, height, channels, factor) {
    const w = Math.ceil(width / factor);
    const h = Math.ceil(height / factor);
    const out = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) {
      const y1 = Math.min(height, (y + 1) * factor);
      for (let x = 0; x < w; x++) {
        const x1 = Math.min(width, (x + 1) * factor);
        let r = 0, g = 0, b = 0, n = 0;
        for (let sy = y * factor; sy < y1; sy++) {
          for (let sx = x * factor, p = (sy * width + sx) * channels; sx < x1; sx++, p += channels) { r += data[p]; g += data[p + 1]; b += data[p + 2]; n++; }
        }
        const o = (y * w + x) * 3;
        out[o] = Math.round(r / n); out[o + 1] = Math.round(g / n); out[o + 2] = Math.round(b / n);
      }
    }
    return { data: out, width: w, height: h, channels: 3 };
  }

  // PIL's antialiased resampling taps: the filter is widened by the shrink factor.
  function axisTaps(inSize, outSize, offset, length, interpolation) {
    const { support: baseSupport, weight } = FILTERS[interpolation];
    const scale = inSize / outSize;
    const widen = Math.max(scale, 1);
    const support = baseSupport * widen;
    const stride = Math.ceil(support) * 2 + 1;
    const first = new Int32Array(length);
    const count = new Int32Array(length);
    const weights = new Float32Array(length * stride);
    for (let i = 0; i < length; i++) {
      const centre = (i + offset + 0.5) * scale;
      const lo = Math.max(0, Math.trunc(centre - support + 0.5));
      const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
      let sum = 0;
      for (let x = lo; x < hi; x++) sum += weight((x - centre + 0.5) / widen);
      for (let x = lo; x < hi; x++) weights[i * stride + x - lo] = sum === 0 ? 0 : weight((x - centre + 0.5) / widen) / sum;
      first[i] = lo;
      count[i] = hi - lo;
    }
    return { first, count, weights, stride };
  }

  // Resizes to scaledWidth × scaledHeight and returns 'win' of the result as RGB, computing only the window.
  function resample(src, scaledWidth, scaledHeight, interpolation, win) {
    win = win || { left: 0, top: 0, width: scaledWidth, height: scaledHeight };
    const c = src.channels;
    const xs = axisTaps(src.width, scaledWidth, win.left, win.width, interpolation);
    const ys = axisTaps(src.height, scaledHeight, win.top, win.height, interpolation);
    let rowFirst = Infinity, rowEnd = 0;
    for (let i = 0; i < ys.first.length; i++) { rowFirst = Math.min(rowFirst, ys.first[i]); rowEnd = Math.max(rowEnd, ys.first[i] + ys.count[i]); }
    const rowStride = win.width * 3;
    const across = new Float32Array((rowEnd - rowFirst) * rowStride);
    const data = src.data;
    for (let y = rowFirst; y < rowEnd; y++) {
      const srcRow = y * src.width * c;
      let o = (y - rowFirst) * rowStride;
      for (let i = 0; i < win.width; i++) {
        const n = xs.count[i];
        const wBase = i * xs.stride;
        let p = srcRow + xs.first[i] * c;
        let r = 0, g = 0, b = 0;
        for (let k = 0; k < n; k++, p += c) {
          const w = xs.weights[wBase + k];
          r += data[p] * w; g += data[p + 1] * w; b += data[p + 2] * w;
        }
        across[o++] = r; across[o++] = g; across[o++] = b;
      }
    }
    const out = new Uint8ClampedArray(win.height * rowStride);
    const row = new Float32Array(rowStride);
    for (let j = 0; j < win.height; j++) {
      const n = ys.count[j];
      const wBase = j * ys.stride;
      const base = (ys.first[j] - rowFirst) * rowStride;
      row.fill(0);
      for (let k = 0; k < n; k++) {
        const w = ys.weights[wBase + k];
        const from = base + k * rowStride;
        for (let x = 0; x < rowStride; x++) row[x] += across[from + x] * w;
      }
      out.set(row, j * rowStride);
    }
    return { data: new Uint8Array(out.buffer), width: win.width, height: win.height, channels: 3 };
  }

  function reflectIndex(i, n) {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    let r = i % period;
    if (r < 0) r += period;
    return r < n ? r : period - r;
  }

  // Centres the image in width × height and fills the border by reflection (fastai's PadMode.Reflection).
  function reflectPad(image, width, height) {
    if (image.width === width && image.height === height) return image;
    const left = Math.floor((width - image.width) / 2);
    const top = Math.floor((height - image.height) / 2);
    const out = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      const sy = reflectIndex(y - top, image.height);
      for (let x = 0; x < width; x++) {
        const s = (sy * image.width + reflectIndex(x - left, image.width)) * 3;
        const d = (y * width + x) * 3;
        out[d] = image.data[s]; out[d + 1] = image.data[s + 1]; out[d + 2] = image.data[s + 2];
      }
    }
    return { data: out, width, height, channels: 3 };
  }

  // RGB(A) pixels of a decoded photo → the RGB the model input expects (spec: width, height, resize, cropPct, interpolation).
  function toModel(image, spec) {
    const factor = reductionFor(image.width, image.height, spec);
    const source = factor > 1 ? reduce(image.data, image.width, image.height, image.channels, factor) : image;
    const g = geometry(source.width, source.height, spec);
    const resized = resample(source, g.scaledWidth, g.scaledHeight, spec.interpolation, g.window);
    return spec.resize === 'pad' ? reflectPad(resized, spec.width, spec.height) : resized;
  }

  return { geometry, reductionFor, reduce, resample, reflectPad, toModel };
}
`;
