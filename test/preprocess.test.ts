import { describe, expect, it } from 'vitest';
import { resizeForModel, writeNormalizedChw } from '../src/images/preprocess.js';
import { defaultPreprocess, parseSize, type PreprocessSpec } from '../src/images/preprocess-spec.js';
import { reflectIndex, reflectPad } from '../src/images/reflect-pad.js';
import { patternImage } from './support/images.js';

const spec = (overrides: Partial<PreprocessSpec>): PreprocessSpec => ({ ...defaultPreprocess, ...overrides });

async function solidWithBar(width: number, height: number): Promise<Buffer> {
  // Black image with a white vertical bar in the left tenth: tells squish/crop/pad apart.
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < Math.floor(width / 10); x++) raw.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
  const { default: sharp } = await import('sharp');
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

describe('resizeForModel', () => {
  it.each(['squish', 'crop', 'pad'] as const)('%s yields exactly the requested size (rectangular too)', async (resize) => {
    const bytes = await patternImage(300, 200, 3).jpeg().toBuffer();
    const out = await resizeForModel(bytes, 'x.jpg', spec({ width: 96, height: 64, resize }));
    expect([out.width, out.height, out.channels]).toEqual([96, 64, 3]);
  });

  it('squish keeps the whole image; crop cuts the sides of a wide image', async () => {
    const bytes = await solidWithBar(400, 200);
    const squished = await resizeForModel(bytes, 'x.png', spec({ width: 100, height: 100, resize: 'squish' }));
    const cropped = await resizeForModel(bytes, 'x.png', spec({ width: 100, height: 100, resize: 'crop', cropPct: 1 }));
    expect(squished.data[(50 * 100 + 2) * 3]).toBeGreaterThan(200); // bar survives at the left edge
    expect(cropped.data[(50 * 100 + 2) * 3]).toBeLessThan(30); // centre square excludes the bar
  });

  it('crop with cropPct 0.875 equals resize-256-then-centre-crop-224 geometry', async () => {
    const bytes = await patternImage(512, 512, 4).png().toBuffer();
    const out = await resizeForModel(bytes, 'x.png', spec({ width: 224, height: 224, resize: 'crop', cropPct: 0.875 }));
    const { default: sharp } = await import('sharp');
    const ref = await sharp(bytes).resize(256, 256, { kernel: 'linear' }).extract({ left: 16, top: 16, width: 224, height: 224 }).raw().toBuffer();
    let diff = 0;
    for (let i = 0; i < ref.length; i++) diff += Math.abs(ref[i] - out.data[i]);
    expect(diff / ref.length).toBeLessThan(1);
  });

  it('pad fills the borders by reflection, not black', async () => {
    const bytes = await solidWithBar(400, 200);
    const out = await resizeForModel(bytes, 'x.png', spec({ width: 100, height: 100, resize: 'pad' }));
    // Image occupies rows 25..74; rows above are mirrored content, so the bar shows there too.
    expect(out.data[(5 * 100 + 2) * 3]).toBeGreaterThan(200);
    expect(out.data[(5 * 100 + 50) * 3]).toBeLessThan(30);
  });
});

describe('reflection padding', () => {
  it('reflects indices without repeating the edge', () => {
    expect([-3, -2, -1, 0, 1, 2, 3, 4, 5].map((i) => reflectIndex(i, 4))).toEqual([3, 2, 1, 0, 1, 2, 3, 2, 1]);
  });
  it('centres and mirrors', () => {
    const img = { data: Uint8Array.from([10, 20, 30]), width: 3, height: 1, channels: 1 };
    expect(Array.from(reflectPad(img, 7, 1).data)).toEqual([30, 20, 10, 20, 30, 20, 10]);
  });
});

describe('normalisation', () => {
  it('writes (x/255 - mean)/std in CHW order at the given offset', () => {
    const img = { data: Uint8Array.from([255, 0, 128, 0, 255, 64]), width: 2, height: 1, channels: 3 };
    const out = new Float32Array(2 + 6);
    writeNormalizedChw(img, defaultPreprocess, out, 2);
    const { mean, std } = defaultPreprocess;
    expect(out[2]).toBeCloseTo((1 - mean[0]) / std[0], 5); // R of pixel 0
    expect(out[3]).toBeCloseTo((0 - mean[0]) / std[0], 5); // R of pixel 1
    expect(out[6]).toBeCloseTo((128 / 255 - mean[2]) / std[2], 5); // B of pixel 0
  });
  it('parses sizes', () => {
    expect(parseSize('224')).toEqual({ width: 224, height: 224 });
    expect(parseSize('320x240')).toEqual({ width: 320, height: 240 });
    expect(() => parseSize('big')).toThrow(/not N or WxH/);
  });
});
