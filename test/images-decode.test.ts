import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, describeDecodeFailure, ImageReadError } from '../src/images/decode.js';
import { patternImage, patternPixels } from './support/images.js';

const dir = mkdtempSync(join(tmpdir(), 'lensemble-decode-'));
const W = 40;
const H = 30;
const file = (name: string) => join(dir, name);

beforeAll(async () => {
  const img = () => patternImage(W, H, 1);
  writeFileSync(file('png-named.jpg'), await img().png().toBuffer());
  writeFileSync(file('gray.jpg'), await img().toColourspace('b-w').jpeg().toBuffer());
  writeFileSync(file('exif6.jpg'), await img().jpeg().withMetadata({ orientation: 6 }).toBuffer());
  writeFileSync(file('cmyk.jpg'), await img().toColourspace('cmyk').jpeg().toBuffer());
  writeFileSync(file('sixteen.png'), await img().toColourspace('rgb16').png().toBuffer());
  writeFileSync(file('alpha.png'), await img().ensureAlpha(0.5).png().toBuffer());
  const jpeg = await img().jpeg().toBuffer();
  writeFileSync(file('truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  writeFileSync(file('empty.jpg'), Buffer.alloc(0));
  writeFileSync(file('text.jpg'), 'this is not an image at all');
});

describe('decodeImage', () => {
  it('detects the format from content, not the extension (PNG named .jpg)', async () => {
    const out = await decodeImage(file('png-named.jpg'));
    expect([out.width, out.height, out.channels]).toEqual([W, H, 3]);
    expect(Buffer.from(out.data).equals(patternPixels(W, H, 1))).toBe(true);
  });

  it('turns a one-channel grayscale JPEG into 3 equal channels', async () => {
    expect((await sharp(file('gray.jpg')).metadata()).channels).toBe(1);
    const out = await decodeImage(file('gray.jpg'));
    expect(out.channels).toBe(3);
    for (let i = 0; i < out.data.length; i += 3) {
      expect(out.data[i + 1]).toBe(out.data[i]);
      expect(out.data[i + 2]).toBe(out.data[i]);
    }
  });

  it('applies EXIF orientation (6 = rotate 90° clockwise)', async () => {
    const out = await decodeImage(file('exif6.jpg'));
    expect([out.width, out.height]).toEqual([H, W]);
    // The source's top-left corner lands at the top-right after a clockwise quarter turn.
    const src = patternPixels(W, H, 1);
    const topRight = (W * 0 + (H - 1)) * 3;
    for (let c = 0; c < 3; c++) expect(Math.abs(out.data[topRight + c] - src[c])).toBeLessThan(24);
  });

  it.each(['cmyk.jpg', 'sixteen.png', 'alpha.png'])('converts %s to 8-bit RGB', async (name) => {
    const out = await decodeImage(file(name));
    expect([out.width, out.height, out.channels, out.data.length]).toEqual([W, H, 3, W * H * 3]);
    const src = patternPixels(W, H, 1);
    let diff = 0;
    for (let i = 0; i < src.length; i++) diff += Math.abs(out.data[i] - src[i]);
    expect(diff / src.length).toBeLessThan(name === 'cmyk.jpg' ? 40 : 2);
  });

  it.each([
    ['truncated.jpg', /corrupt or truncated/],
    ['empty.jpg', /empty file/],
    ['text.jpg', /not an image/],
    ['missing.jpg', /file not found/],
  ])('reports %s by path and reason', async (name, reason) => {
    const err = await decodeImage(file(name)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageReadError);
    expect((err as ImageReadError).message).toContain(file(name));
    expect((err as ImageReadError).reason).toMatch(reason);
  });
});

describe('describeDecodeFailure', () => {
  it('gives one reason per damaged file, whatever libvips added after its first clause', () => {
    const alone = describeDecodeFailure(new Error('VipsJpeg: premature end of JPEG image'));
    const withMore = describeDecodeFailure(new Error('Input file has corrupt header: VipsJpeg: premature end of JPEG image\nVipsJpeg: JPEG datastream contains no image\nVipsJpeg: premature end of JPEG image'));
    expect(alone).toBe('corrupt or truncated image (premature end of JPEG image)');
    expect(withMore).toBe(alone);
    expect(describeDecodeFailure(new Error('Input buffer contains unsupported image format'))).toBe('not an image (unrecognised format)');
  });
});
