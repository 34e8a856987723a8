import { LensembleError } from '../util/errors.js';
import { createRng, type Rng } from '../util/rng.js';
import type { AugmentSpec, PadMode, PresizeSpec } from './augment-spec.js';
import type { RawImage } from './raw-image.js';

/*
 * fastai's augmentation pipeline for `item_tfms=Resize(...)` + `batch_tfms=aug_transforms(size, min_scale)`:
 *
 *   source --Resize (PIL, bilinear)--> intermediate I (Wi x Hi)
 *          --AffineCoordTfm (flip, warp, rotate, zoom; output size = I's size)--> I'
 *          --RandomResizedCropGPU (crop box of I', resized to size)--> output
 *          --LightingTfm (brightness, contrast in logit space)
 *
 * Each geometric stage is a coordinate map, so we compose them into one projective map from output pixels to
 * intermediate pixels (plus a per-axis linear map from intermediate to source pixels) and resample once.
 */

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Every random choice for one augmented view: plain JSON, so a view can be logged, replayed and tested. */
export interface AugmentParams {
  /** Source size these params were drawn for. */
  srcWidth: number;
  srcHeight: number;
  /**
   * Item-level fastai `Resize`: `box` (source pixels; outside the source for method 'pad') is stretched to
   * width x height, which becomes the intermediate image. Null: the source is the intermediate image.
   */
  presize: { width: number; height: number; box: Box } | null;
  /** RandomResizedCropGPU box, in intermediate pixels, stretched to the output size. */
  crop: Box;
  /** Horizontal flip (fastai `Flip`). */
  flip: boolean;
  /** fastai `dihedral_mat` index 0..7 (0 = identity, 1 = horizontal flip); used when flipVert is on. */
  dihedral: number;
  /** Degrees, fastai `rotate_mat` convention; 0 when not applied. */
  rotateDeg: number;
  /** Zoom factor (1 = none) and its centre as fractions of the image (fastai `zoom_mat` col_pct/row_pct). */
  zoom: number;
  zoomCol: number;
  zoomRow: number;
  /** fastai `_WarpCoord` x_t / y_t magnitudes; 0 when not applied. */
  warpX: number;
  warpY: number;
  /** fastai `_BrightnessLogit` change (0.5 = none) and `_ContrastLogit` change (1 = none). */
  brightness: number;
  contrast: number;
  padMode: PadMode;
  antialias: boolean;
  /** Which random transforms fired; fastai draws each one with its own probability. */
  applied: {
    flip: boolean;
    warpX: boolean;
    warpY: boolean;
    rotate: boolean;
    zoom: boolean;
    brightness: boolean;
    contrast: boolean;
  };
}

const notApplied: AugmentParams['applied'] = {
  flip: false,
  warpX: false,
  warpY: false,
  rotate: false,
  zoom: false,
  brightness: false,
  contrast: false,
};

// ---------------------------------------------------------------------------------------------------------
// Sampling

/**
 * Draws one training view's parameters. The same number of values is drawn in the same order whatever the
 * spec (the random crop's retries come last), so changing one setting does not reshuffle the others.
 */
export function sampleAugmentParams(spec: AugmentSpec, rng: Rng, srcW: number, srcH: number): AugmentParams {
  checkSize(srcW, srcH, 'source image');
  const pctX = rng.next();
  const pctY = rng.next();
  const presize = presizeBox(spec.presize, srcW, srcH, pctX, pctY);

  const flipDraw = rng.next() < spec.pFlip;
  const dihedralDraw = rng.int(8);
  const flip = spec.doFlip && !spec.flipVert && flipDraw;
  const dihedral = spec.doFlip && spec.flipVert && flipDraw ? dihedralDraw : 0;

  const warpXDraw = rng.uniform(-spec.maxWarp, spec.maxWarp);
  const warpXOn = rng.next() < spec.pAffine && spec.maxWarp > 0;
  const warpYDraw = rng.uniform(-spec.maxWarp, spec.maxWarp);
  const warpYOn = rng.next() < spec.pAffine && spec.maxWarp > 0;

  const rotateDraw = rng.uniform(-spec.maxRotate, spec.maxRotate);
  const rotateOn = rng.next() < spec.pAffine && spec.maxRotate > 0;

  const zoomDraw = rng.uniform(spec.minZoom, spec.maxZoom);
  const zoomOn = rng.next() < spec.pAffine && (spec.minZoom < 1 || spec.maxZoom > 1);
  const zoomCol = rng.next();
  const zoomRow = rng.next();

  const lighting = spec.maxLighting;
  const brightnessDraw = rng.uniform(0.5 * (1 - lighting), 0.5 * (1 + lighting));
  const brightnessOn = rng.next() < spec.pLighting && lighting > 0;
  const contrastDraw = Math.exp(rng.uniform(Math.log(1 - lighting), -Math.log(1 - lighting)));
  const contrastOn = rng.next() < spec.pLighting && lighting > 0;

  const interW = presize ? presize.width : srcW;
  const interH = presize ? presize.height : srcH;
  return {
    srcWidth: srcW,
    srcHeight: srcH,
    presize,
    crop: randomResizedCropBox(spec, interW, interH, rng),
    flip,
    dihedral,
    rotateDeg: rotateOn ? rotateDraw : 0,
    zoom: zoomOn ? zoomDraw : 1,
    zoomCol: zoomOn ? zoomCol : 0.5,
    zoomRow: zoomOn ? zoomRow : 0.5,
    warpX: warpXOn ? warpXDraw : 0,
    warpY: warpYOn ? warpYDraw : 0,
    brightness: brightnessOn ? brightnessDraw : 0.5,
    contrast: contrastOn ? contrastDraw : 1,
    padMode: spec.padMode,
    antialias: spec.antialias,
    applied: {
      flip: flip || dihedral !== 0,
      warpX: warpXOn,
      warpY: warpYOn,
      rotate: rotateOn,
      zoom: zoomOn,
      brightness: brightnessOn,
      contrast: contrastOn,
    },
  };
}

/**
 * The validation view fastai gives for `spec` (split_idx=1): centred Resize, RandomResizedCropGPU's centre
 * crop, identity affine, no lighting. `flip` adds a horizontal flip, for flip TTA.
 */
export function validationParams(spec: AugmentSpec, srcW: number, srcH: number, options: { flip?: boolean } = {}): AugmentParams {
  checkSize(srcW, srcH, 'source image');
  const presize = presizeBox(spec.presize, srcW, srcH, 0.5, 0.5);
  const interW = presize ? presize.width : srcW;
  const interH = presize ? presize.height : srcH;
  const flip = options.flip ?? false;
  return {
    ...identityParams(srcW, srcH, spec.padMode),
    presize,
    crop: randomResizedCropBox(spec, interW, interH, null),
    flip,
    antialias: spec.antialias,
    applied: { ...notApplied, flip },
  };
}

/** Parameters that leave the source untouched (apart from resizing it to the output size). */
export function identityParams(srcW: number, srcH: number, padMode: PadMode = 'reflection'): AugmentParams {
  return {
    srcWidth: srcW,
    srcHeight: srcH,
    presize: null,
    crop: { x: 0, y: 0, width: srcW, height: srcH },
    flip: false,
    dihedral: 0,
    rotateDeg: 0,
    zoom: 1,
    zoomCol: 0.5,
    zoomRow: 0.5,
    warpX: 0,
    warpY: 0,
    brightness: 0.5,
    contrast: 1,
    padMode,
    antialias: true,
    applied: { ...notApplied },
  };
}

/** fastai `Resize.encodes`: the source region that is stretched to the presize (pcts 0.5 at validation). */
function presizeBox(presize: PresizeSpec | null, w: number, h: number, pctX: number, pctY: number): AugmentParams['presize'] {
  if (!presize) return null;
  const { width, height, method } = presize;
  if (method === 'squish') return { width, height, box: { x: 0, y: 0, width: w, height: h } };
  // crop: largest region of the target aspect inside the source; pad: smallest one containing the source.
  const rw = w / width;
  const rh = h / height;
  const m = method === 'crop' ? Math.min(rw, rh) : Math.max(rw, rh);
  // The epsilon stops 299.99999 from truncating to 299 where fastai's float happens to land on 300.
  const boxW = Math.trunc(m * width + 1e-9);
  const boxH = Math.trunc(m * height + 1e-9);
  return {
    width,
    height,
    box: { x: Math.trunc(pctX * (w - boxW)), y: Math.trunc(pctY * (h - boxH)), width: boxW, height: boxH },
  };
}

/**
 * fastai `RandomResizedCropGPU.before_call`: up to 10 tries at an area fraction ~ U(minScale, 1) and a
 * log-uniform aspect in `ratio`; if none fits, the centre crop closest to `ratio` (which is also the
 * validation crop, `rng` null). aug_transforms adds no random crop when min_scale == 1.
 */
function randomResizedCropBox(spec: AugmentSpec, w: number, h: number, rng: Rng | null): Box {
  if (spec.minScale >= 1) return { x: 0, y: 0, width: w, height: h };
  const [lo, hi] = spec.ratio;
  if (rng) {
    for (let attempt = 0; attempt < 10; attempt++) {
      const area = rng.uniform(spec.minScale, 1) * w * h;
      const ratio = Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
      const cropW = Math.max(1, Math.round(Math.sqrt(area * ratio)));
      const cropH = Math.max(1, Math.round(Math.sqrt(area / ratio)));
      if (cropW <= w && cropH <= h) {
        return { x: rng.int(w - cropW + 1), y: rng.int(h - cropH + 1), width: cropW, height: cropH };
      }
    }
  }
  let cropW = w;
  let cropH = h;
  if (w / h < lo) cropH = Math.trunc(w / lo);
  else if (w / h > hi) cropW = Math.trunc(h * hi);
  return { x: Math.floor((w - cropW) / 2), y: Math.floor((h - cropH) / 2), width: cropW, height: cropH };
}

// ---------------------------------------------------------------------------------------------------------
// Geometry: 3x3 row-major matrices acting on column vectors (x, y, 1)

type Mat3 = number[];

function matMul(a: Mat3, b: Mat3): Mat3 {
  const r = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  }
  return r;
}

const identity3: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

/** fastai `dihedral_mat` tables, indexed by k. */
const dihedralXs = [1, -1, 1, -1, -1, 1, 1, -1];
const dihedralYs = [1, 1, -1, 1, -1, -1, 1, -1];
const dihedralM0 = [1, 1, 1, 0, 1, 0, 0, 0];

/**
 * fastai `AffineCoordTfm._get_affine_mat`: flip @ rotate @ zoom in normalised coordinates, then
 * `_prepare_mat`'s aspect correction so that rotations are true rotations on non-square images.
 */
function affineMatrix(p: AugmentParams, interW: number, interH: number): Mat3 {
  let m = identity3;
  if (p.flip) m = matMul(m, [-1, 0, 0, 0, 1, 0, 0, 0, 1]);
  if (p.dihedral !== 0) {
    const k = p.dihedral;
    const xs = dihedralXs[k];
    const ys = dihedralYs[k];
    const m0 = dihedralM0[k];
    const m1 = 1 - m0;
    m = matMul(m, [xs * m0, xs * m1, 0, ys * m1, ys * m0, 0, 0, 0, 1]);
  }
  if (p.rotateDeg !== 0) {
    const t = (p.rotateDeg * Math.PI) / 180;
    const c = Math.cos(t);
    const s = Math.sin(t);
    m = matMul(m, [c, s, 0, -s, c, 0, 0, 0, 1]);
  }
  if (p.zoom !== 1) {
    const s = 1 / p.zoom;
    const colC = (1 - s) * (2 * p.zoomCol - 1);
    const rowC = (1 - s) * (2 * p.zoomRow - 1);
    m = matMul(m, [s, 0, colC, 0, s, rowC, 0, 0, 1]);
  }
  m = m.slice();
  m[1] *= interH / interW;
  m[3] *= interW / interH;
  return m;
}

/**
 * fastai `_WarpCoord` + `find_coeffs(orig_pts, targ_pts)`: the perspective map sending the jittered corners
 * back to the corners of [-1, 1]^2, applied to the (already affine-transformed) sampling grid.
 */
function warpMatrix(warpX: number, warpY: number): Mat3 {
  if (warpX === 0 && warpY === 0) return identity3;
  const orig = [
    [-1, -1],
    [-1, 1],
    [1, -1],
    [1, 1],
  ];
  const targ = [
    [-1 - warpY, -1 - warpX],
    [-1 + warpY, 1 + warpX],
    [1 + warpY, -1 + warpX],
    [1 - warpY, 1 - warpX],
  ];
  const a: number[][] = [];
  const b: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [tx, ty] = targ[i];
    const [ox, oy] = orig[i];
    a.push([tx, ty, 1, 0, 0, 0, -ox * tx, -ox * ty]);
    b.push(ox);
    a.push([0, 0, 0, tx, ty, 1, -oy * tx, -oy * ty]);
    b.push(oy);
  }
  const c = solveLinear(a, b);
  return [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], 1];
}

/** Gaussian elimination with partial pivoting (small dense systems only). */
function solveLinear(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    if (Math.abs(m[pivot][col]) < 1e-12) throw new LensembleError('perspective warp is degenerate (singular corner system)');
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = col + 1; r < n; r++) {
      const f = m[r][col] / m[col][col];
      if (f === 0) continue;
      for (let k = col; k <= n; k++) m[r][k] -= f * m[col][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

/**
 * Output pixel (j, i, 1) -> homogeneous intermediate pixel. Chain (right to left): RandomResizedCropGPU's
 * crop with align_corners=True, intermediate pixels -> [-1, 1], affine, perspective, [-1, 1] -> pixels.
 */
function outputToIntermediate(p: AugmentParams, interW: number, interH: number, outW: number, outH: number): Mat3 {
  const { crop } = p;
  const stepX = outW > 1 ? (crop.width - 1) / (outW - 1) : 0;
  const stepY = outH > 1 ? (crop.height - 1) / (outH - 1) : 0;
  const cropMap = [stepX, 0, crop.x, 0, stepY, crop.y, 0, 0, 1];
  const toNormalized = [2 / (interW - 1), 0, -1, 0, 2 / (interH - 1), -1, 0, 0, 1];
  const toPixels = [(interW - 1) / 2, 0, (interW - 1) / 2, 0, (interH - 1) / 2, (interH - 1) / 2, 0, 0, 1];
  const affine = matMul(affineMatrix(p, interW, interH), matMul(toNormalized, cropMap));
  if (p.warpX === 0 && p.warpY === 0) return matMul(toPixels, affine);
  const warped = matMul(warpMatrix(p.warpX, p.warpY), affine);
  // fastai's apply_perspective keeps the unwarped grid when a denominator is 0; we also do so when one is
  // negative. The denominator is affine in (j, i), so checking the output corners covers every pixel.
  for (const [j, i] of [[0, 0], [outW - 1, 0], [0, outH - 1], [outW - 1, outH - 1]]) {
    if (warped[6] * j + warped[7] * i + warped[8] <= 1e-9) return matMul(toPixels, affine);
  }
  return matMul(toPixels, warped);
}

// ---------------------------------------------------------------------------------------------------------
// Lighting

/** fastai `logit`: clamps to [1e-7, 1 - 1e-7] first. */
function logit(x: number): number {
  const c = x < 1e-7 ? 1e-7 : x > 1 - 1e-7 ? 1 - 1e-7 : x;
  return Math.log(c / (1 - c));
}

/** x -> sigmoid((logit(x) + logit(brightness)) * contrast), fastai's Brightness then Contrast, per 8-bit value. */
export function lightingTable(brightness: number, contrast: number): Uint8Array {
  const table = new Uint8Array(256);
  if (brightness === 0.5 && contrast === 1) {
    for (let v = 0; v < 256; v++) table[v] = v;
    return table;
  }
  const shift = logit(brightness);
  for (let v = 0; v < 256; v++) {
    const y = 1 / (1 + Math.exp(-(logit(v / 255) + shift) * contrast));
    table[v] = Math.round(y * 255);
  }
  return table;
}

// ---------------------------------------------------------------------------------------------------------
// Resampling

/** Applies `params` to `src` in one bilinear resampling pass, then lighting: an outW x outH RGB image. */
export function augmentImage(src: RawImage, params: AugmentParams, outW: number, outH: number): RawImage {
  checkSize(src.width, src.height, 'source image');
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW >= 1 && outH >= 1)) {
    throw new LensembleError(`augment output size must be positive integers, got ${outW}x${outH}`);
  }
  if (src.width !== params.srcWidth || src.height !== params.srcHeight) {
    throw new LensembleError(
      `augment params were drawn for a ${params.srcWidth}x${params.srcHeight} image but the image is ${src.width}x${src.height}`,
    );
  }
  const interW = params.presize ? params.presize.width : src.width;
  const interH = params.presize ? params.presize.height : src.height;
  checkSize(interW, interH, 'presize');
  if (params.crop.width < 1 || params.crop.height < 1) throw new LensembleError('augment crop box is empty');

  // Intermediate pixel -> source pixel, per axis: fastai's Resize is a PIL resize (pixel-centre convention).
  const box = params.presize ? params.presize.box : { x: 0, y: 0, width: src.width, height: src.height };
  let scaleX = box.width / interW;
  let scaleY = box.height / interH;
  let offsetX = box.x + 0.5 * scaleX - 0.5;
  let offsetY = box.y + 0.5 * scaleY - 0.5;

  let rgb = toRgb(src);
  let sampleW = src.width;
  let sampleH = src.height;
  if (params.antialias) {
    // fastai `_grid_sample`: when the final resize shrinks by more than 2x, area-interpolate by half that first.
    const shrinkX = ((params.crop.width / outW) * scaleX) / 2;
    const shrinkY = ((params.crop.height / outH) * scaleY) / 2;
    const shrunkW = shrinkX > 1 ? Math.max(2, Math.floor(src.width / shrinkX)) : src.width;
    const shrunkH = shrinkY > 1 ? Math.max(2, Math.floor(src.height / shrinkY)) : src.height;
    if (shrunkW < src.width || shrunkH < src.height) {
      rgb = areaShrink(rgb, src.width, src.height, shrunkW, shrunkH);
      // Source pixel x -> shrunk pixel (x + 0.5) * shrunkW / W - 0.5, folded into the per-axis map.
      const fx = shrunkW / src.width;
      const fy = shrunkH / src.height;
      scaleX *= fx;
      scaleY *= fy;
      offsetX = (offsetX + 0.5) * fx - 0.5;
      offsetY = (offsetY + 0.5) * fy - 0.5;
      sampleW = shrunkW;
      sampleH = shrunkH;
    }
  }

  const grid = outputToIntermediate(params, interW, interH, outW, outH);
  const data = new Uint8Array(outW * outH * 3);
  const lut = lightingTable(params.brightness, params.contrast);
  const sampler: Sampler = {
    src: rgb,
    srcW: sampleW,
    srcH: sampleH,
    interW,
    interH,
    scaleX,
    offsetX,
    scaleY,
    offsetY,
    padMode: params.padMode,
    lut,
    out: data,
  };
  resample(sampler, grid, outW, outH);
  return { data, width: outW, height: outH, channels: 3 };
}

/** Draws a view of `src` with `spec` from `seed` and renders it at outW x outH. */
export function augment(src: RawImage, spec: AugmentSpec, seed: number, outW: number, outH: number): RawImage {
  const params = sampleAugmentParams(spec, createRng(seed), src.width, src.height);
  return augmentImage(src, params, outW, outH);
}

/** Where and how to sample: the intermediate -> sample-image map and padding, shared by both sampling paths. */
interface Sampler {
  src: Uint8Array;
  srcW: number;
  srcH: number;
  interW: number;
  interH: number;
  scaleX: number;
  offsetX: number;
  scaleY: number;
  offsetY: number;
  padMode: PadMode;
  lut: Uint8Array;
  out: Uint8Array;
}

/**
 * The hot loop. `grid` maps output pixel (j, i, 1) to homogeneous intermediate pixels; folding in the
 * per-axis intermediate -> sample-image map gives sample pixel (x, y) = (X/Z, Y/Z) directly. A point lies
 * inside both images iff x is in [xLo, xHi] (and y likewise), so most pixels cost one division, four
 * comparisons and a bilinear blend; the rest (borders under rotation/warp) go through `samplePadded`, kept
 * out of line so the hot loop stays small.
 */
function resample(s: Sampler, grid: Mat3, outW: number, outH: number): void {
  const { src, srcW, srcH, lut, out, scaleX, offsetX, scaleY, offsetY } = s;
  const [g0, g1, g2, g3, g4, g5, g6, g7, g8] = matMul([scaleX, 0, offsetX, 0, scaleY, offsetY, 0, 0, 1], grid);
  const xLo = Math.max(0, offsetX);
  const xHi = Math.min(srcW - 1, scaleX * (s.interW - 1) + offsetX);
  const yLo = Math.max(0, offsetY);
  const yHi = Math.min(srcH - 1, scaleY * (s.interH - 1) + offsetY);
  const xLast = srcW - 2;
  const yLast = srcH - 2;
  const stride = srcW * 3;
  let o = 0;
  for (let i = 0; i < outH; i++) {
    const rowX = g1 * i + g2;
    const rowY = g4 * i + g5;
    const rowZ = g7 * i + g8;
    for (let j = 0; j < outW; j++, o += 3) {
      const iz = 1 / (g6 * j + rowZ);
      const x = (g0 * j + rowX) * iz;
      const y = (g3 * j + rowY) * iz;
      if (!(x >= xLo && x <= xHi && y >= yLo && y <= yHi)) {
        samplePadded(s, x, y, o);
        continue;
      }
      // Clamping the left/top neighbour to size-2 makes x == size-1 put all the weight on the last pixel.
      let x0 = x | 0;
      if (x0 > xLast) x0 = xLast;
      let y0 = y | 0;
      if (y0 > yLast) y0 = yLast;
      const fx = x - x0;
      const fy = y - y0;
      const w11 = fx * fy;
      const w10 = fy - w11;
      const w01 = fx - w11;
      const w00 = 1 - fx - w10;
      const p = y0 * stride + x0 * 3;
      const q = p + stride;
      out[o] = lut[(src[p] * w00 + src[p + 3] * w01 + src[q] * w10 + src[q + 3] * w11 + 0.5) | 0];
      out[o + 1] = lut[(src[p + 1] * w00 + src[p + 4] * w01 + src[q + 1] * w10 + src[q + 4] * w11 + 0.5) | 0];
      out[o + 2] = lut[(src[p + 2] * w00 + src[p + 5] * w01 + src[q + 2] * w10 + src[q + 5] * w11 + 0.5) | 0];
    }
  }
}

/**
 * One output pixel whose sample point (x, y) leaves the intermediate or the sample image. Padding is applied
 * at both levels, as fastai pads the intermediate image in grid_sample and the source in Resize's crop_pad.
 */
function samplePadded(s: Sampler, x: number, y: number, o: number): void {
  const { src, srcW, srcH, padMode, lut, out, scaleX, offsetX, scaleY, offsetY } = s;
  const uMax = s.interW - 1;
  const vMax = s.interH - 1;
  const xMax = srcW - 1;
  const yMax = srcH - 1;
  let u = (x - offsetX) / scaleX;
  let v = (y - offsetY) / scaleY;
  let weight = 1;
  if (padMode === 'zeros') weight = zerosCoverage(u, uMax) * zerosCoverage(v, vMax);
  if (!(u >= 0 && u <= uMax && v >= 0 && v <= vMax)) {
    u = padCoordinate(u, uMax, padMode);
    v = padCoordinate(v, vMax, padMode);
    x = scaleX * u + offsetX;
    y = scaleY * v + offsetY;
  }
  if (padMode === 'zeros') weight *= zerosCoverage(x, xMax) * zerosCoverage(y, yMax);
  x = padCoordinate(x, xMax, padMode);
  y = padCoordinate(y, yMax, padMode);
  const x0 = Math.min(Math.floor(x), srcW - 2);
  const y0 = Math.min(Math.floor(y), srcH - 2);
  const fx = x - x0;
  const fy = y - y0;
  const w11 = fx * fy * weight;
  const w10 = (1 - fx) * fy * weight;
  const w01 = fx * (1 - fy) * weight;
  const w00 = (1 - fx) * (1 - fy) * weight;
  const p = (y0 * srcW + x0) * 3;
  const q = p + srcW * 3;
  for (let c = 0; c < 3; c++) {
    out[o + c] = lut[(src[p + c] * w00 + src[p + 3 + c] * w01 + src[q + c] * w10 + src[q + 3 + c] * w11 + 0.5) | 0];
  }
}

/** grid_sample's padding with align_corners=True: reflect about the edge pixel centres, or clamp. */
function padCoordinate(c: number, max: number, mode: PadMode): number {
  if (Number.isNaN(c)) return 0;
  if (mode === 'reflection' && max > 0) {
    const a = Math.abs(c);
    const flips = Math.floor(a / max);
    const extra = a - flips * max;
    c = (flips & 1) === 0 ? extra : max - extra;
  }
  return c < 0 ? 0 : c > max ? max : c;
}

/** With zero padding, the share of the bilinear weight that falls on real pixels along one axis. */
function zerosCoverage(c: number, max: number): number {
  if (Number.isNaN(c)) return 0;
  if (c < 0) return c > -1 ? 1 + c : 0;
  if (c > max) return c < max + 1 ? 1 - (c - max) : 0;
  return 1;
}

/** The pixels as interleaved RGB (grey is replicated, alpha dropped). */
function toRgb(src: RawImage): Uint8Array {
  const { data, width, height, channels } = src;
  const n = width * height;
  if (data.length !== n * channels) {
    throw new LensembleError(`image data has ${data.length} bytes, expected ${width}x${height}x${channels} = ${n * channels}`);
  }
  if (channels === 3) return data;
  if (channels < 1 || channels > 4) throw new LensembleError(`cannot augment an image with ${channels} channels`);
  const out = new Uint8Array(n * 3);
  const grey = channels <= 2;
  for (let i = 0, s = 0, d = 0; i < n; i++, s += channels, d += 3) {
    out[d] = data[s];
    out[d + 1] = grey ? data[s] : data[s + 1];
    out[d + 2] = grey ? data[s] : data[s + 2];
  }
  return out;
}

/** PyTorch `interpolate(mode='area')` (adaptive average pooling) of an RGB image, separably. */
function areaShrink(src: Uint8Array, w: number, h: number, outW: number, outH: number): Uint8Array {
  const rows = new Float32Array(outW * h * 3);
  for (let ox = 0; ox < outW; ox++) {
    const start = Math.floor((ox * w) / outW);
    const end = Math.ceil(((ox + 1) * w) / outW);
    const inv = 1 / (end - start);
    for (let y = 0; y < h; y++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let s = (y * w + start) * 3, e = (y * w + end) * 3; s < e; s += 3) {
        r += src[s];
        g += src[s + 1];
        b += src[s + 2];
      }
      const d = (y * outW + ox) * 3;
      rows[d] = r * inv;
      rows[d + 1] = g * inv;
      rows[d + 2] = b * inv;
    }
  }
  const out = new Uint8Array(outW * outH * 3);
  const rowLen = outW * 3;
  for (let oy = 0; oy < outH; oy++) {
    const start = Math.floor((oy * h) / outH);
    const end = Math.ceil(((oy + 1) * h) / outH);
    const inv = 1 / (end - start);
    const d = oy * rowLen;
    for (let k = 0; k < rowLen; k++) {
      let sum = 0;
      for (let y = start; y < end; y++) sum += rows[y * rowLen + k];
      out[d + k] = (sum * inv + 0.5) | 0;
    }
  }
  return out;
}

function checkSize(w: number, h: number, what: string): void {
  if (!(Number.isInteger(w) && Number.isInteger(h) && w >= 2 && h >= 2)) {
    throw new LensembleError(`${what} must be at least 2x2 pixels to augment, got ${w}x${h}`);
  }
}
