import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { featureCacheKey } from '../src/features/extract.js';
import { augmentedViews } from '../src/features/augmented-views.js';
import { featureKeyId } from '../src/features/feature-store.js';
import { recipeFromKey } from '../src/features/recipes.js';
import { createRenderPool } from '../src/features/render-pool.js';
import { writeNormalizedChw } from '../src/images/preprocess.js';
import { augment } from '../src/images/augment.js';
import { fastaiDefaults, resolveAugmentSpec } from '../src/images/augment-spec.js';
import { decodeImage, readImageBytes } from '../src/images/decode.js';
import { degradeImage, gaussianBlur, jpegRecompress, sampleDegradeParams } from '../src/images/degrade.js';
import { preprocessSpecSchema } from '../src/images/preprocess-spec.js';
import type { RawImage } from '../src/images/raw-image.js';
import { createRng, deriveSeed } from '../src/util/rng.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

function image(width: number, height: number, value: (x: number, y: number, c: number) => number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = value(x, y, c);
  return { data, width, height, channels: 3 };
}

/** Texture with edges and noise-like detail, as JPEG and blur see in photos. */
const textured = (w: number, h: number) => image(w, h, (x, y, c) => (((x * 37) ^ (y * 91) ^ (c * 53)) + (x > w / 2 ? 80 : 0)) & 255);
const same = (a: RawImage, b: RawImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

/** A direct 2-D Gaussian (no separability, no symmetry tricks) with scipy's reflect padding, in float64. */
function referenceBlur(img: RawImage, sigma: number): Uint8Array {
  const r = Math.trunc(4 * sigma + 0.5);
  const g = Array.from({ length: 2 * r + 1 }, (_, k) => Math.exp(-0.5 * ((k - r) / sigma) ** 2));
  const total = g.reduce((a, b) => a + b, 0);
  const reflect = (i: number, n: number) => {
    while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
    return i;
  };
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = -r; dy <= r; dy++) {
          for (let dx = -r; dx <= r; dx++) s += g[dy + r] * g[dx + r] * img.data[(reflect(y + dy, img.height) * img.width + reflect(x + dx, img.width)) * 3 + c];
        }
        out[(y * img.width + x) * 3 + c] = Math.round(s / (total * total));
      }
    }
  }
  return out;
}

async function sharpJpegRoundTrip(img: RawImage, quality: number): Promise<Buffer> {
  const encoded = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  return sharp(encoded).raw().toBuffer();
}

describe('Gaussian blur (Wang et al.: scipy gaussian_filter, truncate 4σ, reflect)', () => {
  it('σ 0, and σ too small for one tap, give back the image itself', () => {
    const src = textured(40, 30);
    expect(gaussianBlur(src, 0)).toBe(src);
    expect(same(gaussianBlur(src, 0.1), src)).toBe(true);
  });

  it('matches a direct 2-D convolution with reflected borders to ±1 grey level (SIMD and TypeScript passes), and blurs', () => {
    const src = textured(37, 23);
    for (const [sigma, backend] of [0.6, 1.5, 3, 7].flatMap((s) => [[s, 'auto'], [s, 'js']] as const)) {
      const ours = gaussianBlur(src, sigma, { backend }).data;
      const ref = referenceBlur(src, sigma);
      let maxDiff = 0;
      let differing = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(ours[i] - ref[i]);
        maxDiff = Math.max(maxDiff, d);
        if (d) differing++;
      }
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect(differing / ref.length).toBeLessThan(0.01);
    }
    // a blurred texture varies less from pixel to pixel
    const roughness = (img: RawImage) => img.data.reduce((s, v, i) => (i >= 3 ? s + Math.abs(v - img.data[i - 3]) : s), 0);
    expect(roughness(gaussianBlur(src, 1.5))).toBeLessThan(roughness(src) / 3);
  });

  it('keeps a flat image flat and a single bright pixel spreads as a Gaussian', () => {
    const flat = image(20, 20, () => 137);
    expect(gaussianBlur(flat, 2.5).data.every((v) => v === 137)).toBe(true);
    const dot = image(41, 41, (x, y) => (x === 20 && y === 20 ? 255 : 0));
    for (const backend of ['auto', 'js'] as const) {
      const blurred = gaussianBlur(dot, 2, { backend });
      const at = (x: number, y: number) => blurred.data[(y * 41 + x) * 3];
      // 255·g(0)² with g normalised over radius 8: ≈ 10.1; one pixel over ≈ 255·g(0)·g(1) ≈ 8.9
      expect(at(20, 20)).toBe(10);
      expect(at(21, 20)).toBe(at(20, 21));
      expect(at(21, 20)).toBe(9);
    }
  });

  it('rejects a negative σ', () => {
    expect(() => gaussianBlur(textured(8, 8), -1)).toThrow(/blur σ/);
  });
});

describe('JPEG re-compression', () => {
  it("at quality q gives sharp's own encode-then-decode pixels", async () => {
    const src = textured(64, 48);
    for (const q of [30, 61, 95, 100]) {
      const ours = await jpegRecompress(src, q);
      expect(ours.width).toBe(64);
      expect(Buffer.from(ours.data).equals(await sharpJpegRoundTrip(src, q))).toBe(true);
    }
    // and it is lossy: lower quality, further from the source
    const error = (img: RawImage) => img.data.reduce((s, v, i) => s + Math.abs(v - src.data[i]), 0);
    expect(error(await jpegRecompress(src, 30))).toBeGreaterThan(error(await jpegRecompress(src, 95)));
  });

  it.skipIf(!SHARED_DIR)('on a real 300×300 face too', async () => {
    const face = await decodeImage(sharedPath('data', 'fake-faces', 'fake', 'fake_10.jpg'));
    const ours = await jpegRecompress(face, 70);
    expect(Buffer.from(ours.data).equals(await sharpJpegRoundTrip(face, 70))).toBe(true);
  });

  it('rejects a quality outside 1..100', async () => {
    await expect(jpegRecompress(textured(8, 8), 0)).rejects.toThrow(/JPEG quality/);
    await expect(jpegRecompress(textured(8, 8), 80.5)).rejects.toThrow(/JPEG quality/);
  });
});

describe('degradation draws', () => {
  const spec = resolveAugmentSpec({ blurProb: 0.5, jpegProb: 0.1 });

  it('fire with their probabilities, σ ~ U(0, 3), quality uniform on the integers 30..100', () => {
    const rng = createRng(7);
    let blurred = 0;
    let jpegged = 0;
    const qualities = new Set<number>();
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const p = sampleDegradeParams(spec, rng);
      if (p.blurSigma > 0) {
        blurred++;
        expect(p.blurSigma).toBeLessThan(3);
      }
      if (p.jpegQuality !== null) {
        jpegged++;
        qualities.add(p.jpegQuality);
        expect(Number.isInteger(p.jpegQuality) && p.jpegQuality >= 30 && p.jpegQuality <= 100).toBe(true);
      }
    }
    expect(Math.abs(blurred / n - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(jpegged / n - 0.1)).toBeLessThan(0.02);
    expect(qualities.has(30) && qualities.has(100)).toBe(true);
  });

  it('are the same for the same seed, whatever the other probability', () => {
    const a = sampleDegradeParams(spec, createRng(11));
    expect(sampleDegradeParams(spec, createRng(11))).toEqual(a);
    const blurOnly = sampleDegradeParams(resolveAugmentSpec({ blurProb: 0.5 }), createRng(11));
    expect(blurOnly.blurSigma).toBe(a.blurSigma);
  });

  it('applied: blur then JPEG; nothing drawn, the image itself', async () => {
    const src = textured(32, 32);
    expect(await degradeImage(src, { blurSigma: 0, jpegQuality: null })).toBe(src);
    const both = await degradeImage(src, { blurSigma: 1.2, jpegQuality: 50 });
    expect(same(both, await jpegRecompress(gaussianBlur(src, 1.2), 50))).toBe(true);
  });
});

describe('augment spec with degradations', () => {
  it('leaves them out while both probabilities are 0 (older cache keys hold), gives all four otherwise', () => {
    expect(resolveAugmentSpec({})).toEqual(fastaiDefaults);
    expect(resolveAugmentSpec({ blurProb: 0, jpegProb: 0, jpegQuality: [50, 60] })).toEqual(fastaiDefaults);
    expect(resolveAugmentSpec({ jpegProb: 0.5 })).toMatchObject({ blurProb: 0, blurSigma: [0, 3], jpegProb: 0.5, jpegQuality: [30, 100] });
    expect(() => resolveAugmentSpec({ jpegProb: 0.5, jpegQuality: [90, 40] })).toThrow(/jpegQuality: must be \[lo, hi\]/);
    expect(() => resolveAugmentSpec({ jpegProb: 0.5, jpegQuality: [0, 40] })).toThrow(/jpegQuality/);
    expect(() => resolveAugmentSpec({ blurProb: 1.5 })).toThrow(/blurProb/);
  });

  it('changes the feature-cache key with every option', () => {
    const backbone = { spec: { featureOutput: 'features', pooling: 'gap' } as never, sha256: 'x'.repeat(64) };
    const preprocess = preprocessSpecSchema.parse({ width: 224, height: 224, resize: 'crop', cropPct: 0.875, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    const id = (partial: Record<string, unknown>) => featureKeyId(featureCacheKey(backbone, preprocess, augmentedViews(resolveAugmentSpec(partial), 42)));
    const variants = [{}, { jpegProb: 0.5 }, { jpegProb: 0.1 }, { jpegProb: 0.5, jpegQuality: [30, 90] }, { blurProb: 0.5 }, { blurProb: 0.5, blurSigma: [0, 2] }, { blurProb: 0.5, jpegProb: 0.5 }];
    const ids = variants.map(id);
    expect(new Set(ids).size).toBe(variants.length);
    expect(id({ blurProb: 0 })).toBe(id({}));
    expect(augmentedViews(resolveAugmentSpec({ jpegProb: 0.5 }), 42).key).toMatchObject({ jpegEncoder: expect.stringMatching(/mozjpeg/) });
    expect(augmentedViews(resolveAugmentSpec({}), 42).key).not.toHaveProperty('jpegEncoder');
  });
});

describe.skipIf(!SHARED_DIR)('augmented views with degradations', () => {
  const path = sharedPath('data', 'fake-faces', 'real', 'real_10.jpg');
  const preprocess = preprocessSpecSchema.parse({ width: 160, height: 160, resize: 'crop', cropPct: 0.875, interpolation: 'bilinear', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  const render = async (partial: Record<string, unknown>, seed: number, view: number) => {
    const recipe = augmentedViews(resolveAugmentSpec(partial), seed);
    return recipe.render(await readImageBytes(path), path, 'hash-of-real_10', view, preprocess);
  };

  it('are deterministic per (seed, image, view) and differ across seeds', async () => {
    const spec = { blurProb: 1, jpegProb: 1 };
    expect(same(await render(spec, 3, 1), await render(spec, 3, 1))).toBe(true);
    expect(same(await render(spec, 3, 1), await render(spec, 4, 1))).toBe(false);
  });

  it('degrade the source, then take the same geometric draw as the plain augmentation', async () => {
    const seed = 5;
    const view = 2;
    const viewSeed = deriveSeed(seed, 'hash-of-real_10', view);
    const spec = resolveAugmentSpec({ jpegProb: 1, jpegQuality: [40, 40] });
    const source = await decodeImage(path);
    const presized = { ...spec, presize: { width: 160, height: 160, method: 'crop' as const } };
    const expected = augment(await jpegRecompress(source, 40), presized, viewSeed, 160, 160);
    const got = await render({ jpegProb: 1, jpegQuality: [40, 40] }, seed, view);
    expect(same(got, expected)).toBe(true);
    const plain = await render({}, seed, view);
    expect(same(plain, augment(source, { ...fastaiDefaults, presize: presized.presize }, viewSeed, 160, 160))).toBe(true);
    expect(same(got, plain)).toBe(false);
  });

  it('render the same in a render thread (rebuilt from the recipe key) as on this thread', async () => {
    const recipe = augmentedViews(resolveAugmentSpec({ blurProb: 1, jpegProb: 1 }), 9);
    expect(recipeFromKey(recipe.key)?.key).toEqual(recipe.key);
    const pool = createRenderPool(1);
    try {
      const threaded = await pool.render({ path, contentHash: 'hash-of-real_10', views: [1, 2], recipe: recipe.key, preprocess });
      if (!('data' in threaded)) throw new Error(threaded.reason);
      const here = new Float32Array(threaded.data.length);
      const images = await recipe.renderViews!(await readImageBytes(path), path, 'hash-of-real_10', [1, 2], preprocess);
      images.forEach((img, k) => writeNormalizedChw(img, preprocess, here, k * 3 * 160 * 160));
      expect(Buffer.from(threaded.data.buffer).equals(Buffer.from(here.buffer))).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
