import { describe, expect, it } from 'vitest';
import {
  augment,
  augmentImage,
  identityParams,
  lightingTable,
  sampleAugmentParams,
  validationParams,
  type AugmentParams,
} from '../src/images/augment.js';
import { fastaiDefaults, flipOnlySpec, resolveAugmentSpec, roadToTheTopSpec } from '../src/images/augment-spec.js';
import type { RawImage } from '../src/images/raw-image.js';
import { createRng } from '../src/util/rng.js';

function image(width: number, height: number, value: (x: number, y: number, c: number) => number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = value(x, y, c);
  }
  return { data, width, height, channels: 3 };
}

function at(img: RawImage, x: number, y: number, c = 0): number {
  return img.data[(y * img.width + x) * img.channels + c];
}

/** Centroid of the pixels brighter than `threshold` in channel 0. */
function brightCentroid(img: RawImage, threshold = 128): { x: number; y: number; count: number } {
  let sx = 0;
  let sy = 0;
  let count = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (at(img, x, y) > threshold) {
        sx += x;
        sy += y;
        count++;
      }
    }
  }
  return { x: sx / count, y: sy / count, count };
}

const sameBytes = (a: RawImage, b: RawImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

function mean(img: RawImage): number {
  let s = 0;
  for (const v of img.data) s += v;
  return s / img.data.length;
}

const params = (w: number, h: number, changes: Partial<AugmentParams>): AugmentParams => ({ ...identityParams(w, h), ...changes });

/** A dark image with a bright square whose top-left corner is (x, y). */
const square = (n: number, x: number, y: number, side: number) =>
  image(n, n, (px, py) => (px >= x && px < x + side && py >= y && py < y + side ? 250 : 10));

/** Source pixel (normalised fastai coordinates) -> pixel index, align_corners=True. */
const toPixel = (normalised: number, size: number) => ((normalised + 1) / 2) * (size - 1);
const toNormalised = (pixel: number, size: number) => (2 * pixel) / (size - 1) - 1;

describe('augment geometry', () => {
  it('identity params give back the input exactly', () => {
    const src = image(64, 48, (x, y, c) => (x * 7 + y * 13 + c * 50) % 256);
    const out = augmentImage(src, identityParams(64, 48), 64, 48);
    expect(sameBytes(out, src)).toBe(true);
  });

  it('a horizontal flip moves a top-left square to the top-right', () => {
    const src = square(100, 10, 10, 20);
    const before = brightCentroid(src);
    const out = augmentImage(src, params(100, 100, { flip: true }), 100, 100);
    const after = brightCentroid(out);
    expect(before.x).toBeCloseTo(19.5, 5);
    expect(after.x).toBeCloseTo(99 - 19.5, 5);
    expect(after.y).toBeCloseTo(before.y, 5);
  });

  it('dihedral 1 is the horizontal flip and dihedral 2 the vertical one (fastai dihedral_mat)', () => {
    const src = square(100, 10, 10, 20);
    const flipped = augmentImage(src, params(100, 100, { flip: true }), 100, 100);
    expect(sameBytes(augmentImage(src, params(100, 100, { dihedral: 1 }), 100, 100), flipped)).toBe(true);
    const vertical = brightCentroid(augmentImage(src, params(100, 100, { dihedral: 2 }), 100, 100));
    expect(vertical.x).toBeCloseTo(19.5, 5);
    expect(vertical.y).toBeCloseTo(99 - 19.5, 5);
  });

  it('rotation maps a point where fastai rotate_mat says (output n = R^T source n)', () => {
    const n = 101;
    const src = square(n, 69, 29, 3); // bright 3x3 blob centred on (70, 30)
    const deg = 30;
    const out = augmentImage(src, params(n, n, { rotateDeg: deg }), n, n);
    const t = (deg * Math.PI) / 180;
    const [sx, sy] = [toNormalised(70, n), toNormalised(30, n)];
    // grid point a samples source R a with R = [[cos, sin], [-sin, cos]], so the blob lands at R^T s.
    const ex = toPixel(Math.cos(t) * sx - Math.sin(t) * sy, n);
    const ey = toPixel(Math.sin(t) * sx + Math.cos(t) * sy, n);
    const found = brightCentroid(out, 100);
    expect(found.count).toBeGreaterThan(3);
    expect(Math.abs(found.x - ex)).toBeLessThan(1);
    expect(Math.abs(found.y - ey)).toBeLessThan(1);
  });

  it('rotation is a true rotation on a non-square image (fastai _prepare_mat aspect correction)', () => {
    const [w, h] = [161, 101];
    const src = image(w, h, (x, y) => (Math.abs(x - 110) <= 1 && Math.abs(y - 50) <= 1 ? 250 : 10));
    const out = augmentImage(src, params(w, h, { rotateDeg: 90 }), w, h);
    // 90 degrees about the centre (80, 50): a point 30 px right of it goes 30 px down.
    const found = brightCentroid(out, 100);
    expect(Math.abs(found.x - 80)).toBeLessThan(1);
    expect(Math.abs(found.y - 80)).toBeLessThan(1);
  });

  it('zoom enlarges about the chosen centre', () => {
    const n = 101;
    const src = square(n, 45, 45, 11); // centred square, side 11
    const out = augmentImage(src, params(n, n, { zoom: 2, zoomCol: 0.5, zoomRow: 0.5 }), n, n);
    const c = brightCentroid(out);
    expect(c.x).toBeCloseTo(50, 5);
    expect(c.y).toBeCloseTo(50, 5);
    const before = brightCentroid(src).count;
    expect(c.count / before).toBeGreaterThan(3.5);
    expect(c.count / before).toBeLessThan(4.5);
    // A point at normalised s shows up at 2 s.
    const dot = square(n, 59, 39, 3); // centred on (60, 40)
    const moved = brightCentroid(augmentImage(dot, params(n, n, { zoom: 2 }), n, n), 100);
    expect(Math.abs(moved.x - toPixel(2 * toNormalised(60, n), n))).toBeLessThan(1);
    expect(Math.abs(moved.y - toPixel(2 * toNormalised(40, n), n))).toBeLessThan(1);
  });

  it('reflection padding fills rotated corners with mirrored content, zeros padding with black', () => {
    const n = 101;
    const src = image(n, n, (x) => 20 + 2 * x); // horizontal ramp, never black
    const p = params(n, n, { rotateDeg: 45 });
    const out = augmentImage(src, p, n, n);
    // Output corner (-1, -1) samples R (-1, -1) = (-sqrt2, 0): mirrored back to x = (sqrt2 - 1) / 2 * (n - 1).
    const mirroredX = ((Math.SQRT2 - 1) / 2) * (n - 1);
    expect(Math.abs(at(out, 0, 0) - (20 + 2 * mirroredX))).toBeLessThanOrEqual(1);
    for (const [x, y] of [[0, 0], [n - 1, 0], [0, n - 1], [n - 1, n - 1]]) expect(at(out, x, y)).toBeGreaterThanOrEqual(20);
    const zeros = augmentImage(src, { ...p, padMode: 'zeros' }, n, n);
    expect(at(zeros, 0, 0)).toBe(0);
    const border = augmentImage(src, { ...p, padMode: 'border' }, n, n);
    expect(at(border, 0, 0)).toBe(20);
  });

  it('perspective warp follows fastai _WarpCoord corner points', () => {
    const n = 101;
    const src = image(n, n, (x) => 2 * x);
    const t = 0.2;
    // warpY moves the targets' x coordinates (fastai's naming): the top edge spans [-1-t, 1+t] -> [-1, 1], so
    // the output's top-left corner samples x = -1/(1+t); the bottom edge spans [-1+t, 1-t], giving -1/(1-t).
    const out = augmentImage(src, params(n, n, { warpY: t }), n, n);
    expect(Math.abs(at(out, 0, 0) - 2 * toPixel(-1 / (1 + t), n))).toBeLessThanOrEqual(1);
    expect(Math.abs(at(out, 0, n - 1) - 2 * -toPixel(-1 / (1 - t), n))).toBeLessThanOrEqual(1); // reflected
    expect(Math.abs(at(out, 50, 0) - 100)).toBeLessThanOrEqual(1);
  });

  it('the crop box is stretched to the output size (RandomResizedCropGPU, align_corners)', () => {
    const src = image(100, 100, (x, y) => (x < 50 && y < 50 ? 250 : 10));
    const out = augmentImage(src, params(100, 100, { crop: { x: 0, y: 0, width: 50, height: 50 } }), 32, 32);
    expect(Math.min(...out.data)).toBe(250);
  });

  it('resizing maps the corner pixels onto each other (align_corners=True)', () => {
    const src = image(101, 11, (x) => 2 * x);
    const out = augmentImage(src, identityParams(101, 11), 51, 6);
    for (const j of [0, 1, 25, 49, 50]) expect(at(out, j, 3)).toBe(4 * j);
  });

  it('antialiasing averages fine detail when shrinking by more than 2x', () => {
    const src = image(400, 400, (x, y) => ((x + y) % 2 === 0 ? 255 : 0));
    const smooth = augmentImage(src, identityParams(400, 400), 40, 40);
    const spread = (img: RawImage) => Math.max(...img.data) - Math.min(...img.data);
    expect(spread(smooth)).toBeLessThan(16); // 5x5 area windows over a checkerboard: 12 vs 13 bright pixels
    const aliased = augmentImage(src, { ...identityParams(400, 400), antialias: false }, 40, 40);
    expect(spread(aliased)).toBeGreaterThan(100);
  });

  it('converts grey and RGBA sources to RGB', () => {
    const grey: RawImage = { data: new Uint8Array(16).map((_, i) => i * 10), width: 4, height: 4, channels: 1 };
    const out = augmentImage(grey, identityParams(4, 4), 4, 4);
    expect(out.channels).toBe(3);
    expect([at(out, 1, 2, 0), at(out, 1, 2, 1), at(out, 1, 2, 2)]).toEqual([90, 90, 90]);
    const rgba: RawImage = { data: new Uint8Array(4 * 4 * 4).fill(77), width: 4, height: 4, channels: 4 };
    expect(augmentImage(rgba, identityParams(4, 4), 2, 2).data).toEqual(new Uint8Array(12).fill(77));
  });

  it('rejects params drawn for another image size', () => {
    const src = image(10, 10, () => 0);
    expect(() => augmentImage(src, identityParams(12, 10), 8, 8)).toThrow(/12x10/);
  });
});

describe('augment lighting', () => {
  it('brightness 0.5 and contrast 1 are the identity', () => {
    const table = lightingTable(0.5, 1);
    for (let v = 0; v < 256; v++) expect(table[v]).toBe(v);
  });

  it('brightness above 0.5 brightens, below darkens, in logit space', () => {
    const up = lightingTable(0.6, 1);
    const down = lightingTable(0.4, 1);
    for (let v = 1; v < 255; v++) {
      expect(up[v]).toBeGreaterThanOrEqual(v);
      expect(down[v]).toBeLessThanOrEqual(v);
    }
    // sigmoid(logit(0.5) + logit(0.6)) = 0.6
    expect(up[128]).toBe(Math.round(255 * (1 / (1 + Math.exp(-(Math.log(128 / 127) + Math.log(1.5)))))));
    const src = image(20, 20, (x, y) => 40 + 8 * x + y);
    const brighter = augmentImage(src, params(20, 20, { brightness: 0.6 }), 20, 20);
    expect(mean(brighter)).toBeGreaterThan(mean(src) + 5);
  });

  it('contrast above 1 pushes values away from mid-grey', () => {
    const table = lightingTable(0.5, 1.25);
    expect(table[60]).toBeLessThan(60);
    expect(table[200]).toBeGreaterThan(200);
    expect(Math.abs(table[128] - 128)).toBeLessThanOrEqual(1);
  });
});

describe('augment sampling', () => {
  const src = image(120, 90, (x, y, c) => (x * 3 + y * 5 + c * 40) % 256);

  it('the same seed gives identical bytes, a different seed different ones', () => {
    const a = augment(src, fastaiDefaults, 7, 64, 64);
    const b = augment(src, fastaiDefaults, 7, 64, 64);
    const c = augment(src, fastaiDefaults, 8, 64, 64);
    expect(sameBytes(a, b)).toBe(true);
    expect(sameBytes(a, c)).toBe(false);
  });

  it('params are plain JSON that replay to the same image', () => {
    const p = sampleAugmentParams(fastaiDefaults, createRng(3), src.width, src.height);
    const replayed = JSON.parse(JSON.stringify(p)) as AugmentParams;
    expect(sameBytes(augmentImage(src, replayed, 48, 48), augmentImage(src, p, 48, 48))).toBe(true);
  });

  it('random-resized-crop areas fall in [minScale, 1] and are square for ratio (1, 1)', () => {
    const rng = createRng(11);
    const n = 300;
    const areas: number[] = [];
    for (let k = 0; k < 2000; k++) {
      const { crop } = sampleAugmentParams(fastaiDefaults, rng, n, n);
      const area = (crop.width * crop.height) / (n * n);
      areas.push(area);
      expect(crop.width).toBe(crop.height);
      expect(area).toBeGreaterThanOrEqual(0.75 - 2 / n); // rounding of the side
      expect(area).toBeLessThanOrEqual(1);
      expect(crop.x).toBeGreaterThanOrEqual(0);
      expect(crop.x + crop.width).toBeLessThanOrEqual(n);
      expect(crop.y + crop.height).toBeLessThanOrEqual(n);
    }
    const meanArea = areas.reduce((s, a) => s + a, 0) / areas.length;
    expect(meanArea).toBeGreaterThan(0.86);
    expect(meanArea).toBeLessThan(0.89);
  });

  it('random-resized-crop falls back to the centre square on a 4:3 image (fastai 10 tries)', () => {
    const rng = createRng(5);
    let centred = 0;
    for (let k = 0; k < 500; k++) {
      const { crop } = sampleAugmentParams(fastaiDefaults, rng, 400, 300);
      if (crop.x === 50 && crop.y === 0 && crop.width === 300 && crop.height === 300) centred++;
    }
    expect(centred).toBeGreaterThan(400);
  });

  it('each affine and lighting transform fires with its own probability', () => {
    const rng = createRng(42);
    const counts = { flip: 0, warpX: 0, warpY: 0, rotate: 0, zoom: 0, brightness: 0, contrast: 0 };
    const total = 4000;
    for (let k = 0; k < total; k++) {
      const p = sampleAugmentParams(fastaiDefaults, rng, 300, 300);
      for (const key of Object.keys(counts) as (keyof typeof counts)[]) if (p.applied[key]) counts[key]++;
      expect(Math.abs(p.rotateDeg)).toBeLessThanOrEqual(10);
      expect(p.zoom).toBeGreaterThanOrEqual(1);
      expect(p.zoom).toBeLessThanOrEqual(1.1);
      expect(Math.abs(p.warpX)).toBeLessThanOrEqual(0.2);
      expect(p.brightness).toBeGreaterThanOrEqual(0.4);
      expect(p.brightness).toBeLessThanOrEqual(0.6);
      expect(p.contrast).toBeGreaterThanOrEqual(0.8 - 1e-12);
      expect(p.contrast).toBeLessThanOrEqual(1.25 + 1e-12);
      if (!p.applied.rotate) expect(p.rotateDeg).toBe(0);
    }
    expect(counts.flip / total).toBeCloseTo(0.5, 1);
    for (const key of ['warpX', 'warpY', 'rotate', 'zoom', 'brightness', 'contrast'] as const) {
      expect(Math.abs(counts[key] / total - 0.75)).toBeLessThan(0.03);
    }
  });

  it('contrast is log-uniform: as many draws below 1 as above', () => {
    const rng = createRng(9);
    let below = 0;
    let above = 0;
    for (let k = 0; k < 4000; k++) {
      const { contrast } = sampleAugmentParams({ ...fastaiDefaults, pLighting: 1 }, rng, 50, 50);
      if (contrast < 1) below++;
      else above++;
    }
    expect(Math.abs(below - above) / 4000).toBeLessThan(0.04);
  });

  it('validation is the centre crop with no augmentation', () => {
    const p = validationParams(fastaiDefaults, 400, 300);
    expect(p.crop).toEqual({ x: 50, y: 0, width: 300, height: 300 });
    expect([p.flip, p.rotateDeg, p.zoom, p.warpX, p.warpY, p.brightness, p.contrast]).toEqual([false, 0, 1, 0, 0, 0.5, 1]);
    expect(validationParams(fastaiDefaults, 300, 300).crop).toEqual({ x: 0, y: 0, width: 300, height: 300 });
    expect(validationParams(fastaiDefaults, 300, 300, { flip: true }).flip).toBe(true);
  });

  it('flipOnlySpec always flips and does nothing else', () => {
    const rng = createRng(1);
    for (let k = 0; k < 50; k++) {
      const p = sampleAugmentParams(flipOnlySpec, rng, 120, 90);
      expect(p).toEqual({ ...identityParams(120, 90), flip: true, applied: { ...identityParams(120, 90).applied, flip: true } });
    }
  });

  it('presize follows fastai Resize: squish, crop and pad boxes', () => {
    const squish = validationParams(roadToTheTopSpec, 400, 300);
    expect(squish.presize).toEqual({ width: 480, height: 480, box: { x: 0, y: 0, width: 400, height: 300 } });
    expect(squish.crop).toEqual({ x: 0, y: 0, width: 480, height: 480 });
    const crop = validationParams({ ...fastaiDefaults, presize: { width: 480, height: 480, method: 'crop' } }, 400, 300);
    expect(crop.presize?.box).toEqual({ x: 50, y: 0, width: 300, height: 300 });
    const pad = validationParams({ ...fastaiDefaults, presize: { width: 480, height: 480, method: 'pad' } }, 400, 300);
    expect(pad.presize?.box).toEqual({ x: 0, y: -50, width: 400, height: 400 });
    // Training draws random crops of the squished 480x480 image, which are not all the centre one.
    const rng = createRng(2);
    const xs = new Set<number>();
    for (let k = 0; k < 20; k++) xs.add(sampleAugmentParams(roadToTheTopSpec, rng, 400, 300).crop.x);
    expect(xs.size).toBeGreaterThan(5);
  });

  it('a padded presize shows reflected content, not black', () => {
    const src = image(40, 20, () => 100);
    const spec = { ...fastaiDefaults, presize: { width: 40, height: 40, method: 'pad' as const } };
    const out = augmentImage(src, validationParams(spec, 40, 20), 40, 40);
    expect(Math.min(...out.data)).toBe(100);
  });
});

describe('augment spec', () => {
  it('fastai defaults match aug_transforms(min_scale=0.75)', () => {
    expect(resolveAugmentSpec({})).toEqual(fastaiDefaults);
    expect(fastaiDefaults).toMatchObject({ maxRotate: 10, minZoom: 1, maxZoom: 1.1, maxWarp: 0.2, pAffine: 0.75 });
    expect(fastaiDefaults).toMatchObject({ maxLighting: 0.2, pLighting: 0.75, minScale: 0.75, ratio: [1, 1], padMode: 'reflection' });
  });

  it('merges a partial spec and rejects bad ranges with one clear error', () => {
    expect(resolveAugmentSpec({ maxRotate: 20 }).maxRotate).toBe(20);
    expect(() => resolveAugmentSpec({ minZoom: 1.2, maxZoom: 1.1 })).toThrow(/maxZoom: must be >= minZoom/);
    expect(() => resolveAugmentSpec({ pAffine: 1.5 })).toThrow(/pAffine/);
    expect(() => resolveAugmentSpec({ maxRotation: 10 })).toThrow(/maxRotation/);
    expect(() => resolveAugmentSpec({ ratio: [2, 1] })).toThrow(/ratio/);
    expect(() => resolveAugmentSpec({ padMode: 'mirror' })).toThrow(/padMode/);
    expect(() => resolveAugmentSpec([])).toThrow(/object/);
  });
});
