import { readdirSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeForScale, decodeImage, ImageReadError } from '../src/images/decode.js';
import { readJpegHeader } from '../src/images/jpeg-header.js';
import { decodeJpegWasm } from '../src/images/jpeg-wasm.js';
import { resample } from '../src/images/resample.js';
import { wasmResampleAvailable } from '../src/images/resample-wasm.js';
import { patternImage, patternPixels } from './support/images.js';
import { SHARED_DIR, sharedPath } from './support/shared.js';

const sharpRgb = async (bytes: Buffer) => sharp(bytes).rotate().toColourspace('srgb').removeAlpha().raw().toBuffer();

describe('JPEG header', () => {
  it('reads size, components, process and EXIF orientation; notices an ICC profile', async () => {
    const plain = await patternImage(40, 20, 1).jpeg({ progressive: true }).toBuffer();
    expect(readJpegHeader(plain)).toMatchObject({ width: 40, height: 20, components: 3, precision: 8, process: 'progressive', orientation: 1, hasIccProfile: false });
    const rotated = await patternImage(40, 20, 1).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    expect(readJpegHeader(rotated)).toMatchObject({ orientation: 6, process: 'baseline' });
    const withProfile = await patternImage(40, 20, 1).withIccProfile('p3').jpeg().toBuffer();
    expect(readJpegHeader(withProfile)?.hasIccProfile).toBe(true);
    const cmyk = await patternImage(16, 16, 1).toColourspace('cmyk').jpeg().toBuffer();
    expect(readJpegHeader(cmyk)?.components).toBe(4);
  });

  it('returns undefined for what is not a well-formed JPEG header', async () => {
    expect(readJpegHeader(Buffer.from('not a jpeg at all'))).toBeUndefined();
    expect(readJpegHeader(await patternImage(8, 8, 1).png().toBuffer())).toBeUndefined();
    const jpeg = await patternImage(40, 20, 1).jpeg().toBuffer();
    expect(readJpegHeader(jpeg.subarray(0, 30))).toBeUndefined();
  });
});

describe('mozjpeg in WebAssembly', () => {
  it.skipIf(!SHARED_DIR)('decodes the real rice photos to exactly sharp’s pixels', async () => {
    const dir = sharedPath('data', 'rice-leaf', 'blast');
    const files = readdirSync(dir).slice(0, 12).map((f) => readFileSync(`${dir}/${f}`)).filter((b) => b[0] === 0xff);
    expect(files.length).toBeGreaterThan(5);
    for (const bytes of files) {
      const ours = await decodeJpegWasm(bytes);
      expect(ours).toBeDefined();
      expect(Buffer.from(ours!.data).equals(await sharpRgb(bytes))).toBe(true);
    }
  });

  it('applies EXIF orientation like sharp', async () => {
    const bytes = await patternImage(40, 20, 2).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const ours = await decodeJpegWasm(bytes);
    expect([ours!.width, ours!.height]).toEqual([20, 40]);
    expect(Buffer.from(ours!.data).equals(await sharpRgb(bytes))).toBe(true);
  });

  it('declines truncated and CMYK files (sharp then decides), and stays usable after them', async () => {
    const good = await patternImage(64, 64, 3).jpeg().toBuffer();
    expect(await decodeJpegWasm(good.subarray(0, good.length >> 1))).toBeUndefined();
    expect(await decodeJpegWasm(await patternImage(16, 16, 1).toColourspace('cmyk').jpeg().toBuffer())).toBeUndefined();
    expect(await decodeJpegWasm(good)).toBeDefined();
    await expect(decodeImage('half.jpg', good.subarray(0, good.length >> 1))).rejects.toThrow(ImageReadError);
    const cmyk = await decodeImage('cmyk.jpg', await patternImage(16, 16, 1).toColourspace('cmyk').jpeg().toBuffer());
    expect(cmyk.channels).toBe(3);
  });

  it('a photo several times larger than needed is decoded reduced by a power of two', async () => {
    const big = await patternImage(2000, 1500, 4).jpeg().toBuffer();
    const reduced = await decodeForScale(big, 'big.jpg', (w, h) => Math.max(256 / w, 256 / h));
    expect([reduced.width, reduced.height]).toEqual([500, 375]); // 1/4: still ≥ 256 on the short side
    const full = await decodeForScale(big, 'big.jpg');
    expect([full.width, full.height]).toEqual([2000, 1500]);
  });
});

describe('antialiased resample', () => {
  const ramp = (width: number, height: number) => {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.fill(Math.round((x * 200) / (width - 1)), (y * width + x) * 3, (y * width + x) * 3 + 3);
    return { data, width, height, channels: 3 };
  };

  it.each(['bilinear', 'bicubic', 'lanczos3'] as const)('%s keeps a constant image constant and a ramp linear (half-pixel centres)', (interpolation) => {
    const constant = { data: new Uint8Array(50 * 40 * 3).fill(77), width: 50, height: 40, channels: 3 };
    expect(resample(constant, 23, 17, interpolation).data.every((v) => v === 77)).toBe(true);
    const src = ramp(200, 10);
    const out = resample(src, 50, 10, interpolation);
    for (let x = 5; x < 45; x++) {
      const centre = (x + 0.5) * 4 - 0.5; // source coordinate of the output pixel's centre
      expect(Math.abs(out.data[(5 * 50 + x) * 3] - (centre * 200) / 199)).toBeLessThanOrEqual(1);
    }
  });

  it('a window of the resized image equals the same window cut from the whole', () => {
    const src = { data: Uint8Array.from(patternPixels(97, 83, 5)), width: 97, height: 83, channels: 3 };
    const whole = resample(src, 64, 60, 'bicubic');
    const part = resample(src, 64, 60, 'bicubic', { left: 7, top: 11, width: 40, height: 30 });
    for (let y = 0; y < 30; y++)
      for (let x = 0; x < 40 * 3; x++) expect(Math.abs(part.data[y * 120 + x] - whole.data[(y + 11) * 192 + 21 + x])).toBeLessThanOrEqual(1);
  });

  it.skipIf(!wasmResampleAvailable())('the WebAssembly SIMD passes match the TypeScript ones to ±1 (odd sizes, up and down)', () => {
    const src = { data: Uint8Array.from(patternPixels(131, 77, 6)), width: 131, height: 77, channels: 3 };
    const cases = [
      [256, 150, 'bilinear', { left: 16, top: 9, width: 224, height: 130 }],
      [61, 33, 'bicubic', undefined],
      [300, 200, 'lanczos3', undefined],
      [131, 77, 'bilinear', undefined],
    ] as const;
    for (const [w, h, interpolation, window] of cases) {
      const js = resample(src, w, h, interpolation, window, { backend: 'js' });
      const simd = resample(src, w, h, interpolation, window);
      expect([simd.width, simd.height]).toEqual([js.width, js.height]);
      let worst = 0;
      let differing = 0;
      for (let i = 0; i < js.data.length; i++) {
        const d = Math.abs(js.data[i] - simd.data[i]);
        worst = Math.max(worst, d);
        if (d) differing++;
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(differing / js.data.length).toBeLessThan(0.001);
    }
  });
});
