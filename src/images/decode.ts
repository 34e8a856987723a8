import { readFileSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import { LensembleError, errorMessage } from '../util/errors.js';
import { readJpegHeader } from './jpeg-header.js';
import { decodeJpegWasm } from './jpeg-wasm.js';
import type { RawImage } from './raw-image.js';

// libvips threads compete with ONNX Runtime's; parallelism comes from decoding several images at once.
// Its operation cache only pays off when the same image is processed repeatedly, which we never do.
sharp.concurrency(1);
sharp.cache(false);

/** Why an image could not be used: shown to the user next to its path. */
export class ImageReadError extends LensembleError {
  constructor(path: string, readonly reason: string) {
    super(reason, path);
    this.name = 'ImageReadError';
  }
}

/** Reads an image file's bytes, turning missing and empty files into clear errors. */
export async function readImageBytes(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    // Synchronous: for a photo-sized file it costs a fifth of the CPU of fs/promises' chunked reads.
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : errorMessage(err);
    throw new ImageReadError(path, reason);
  }
  if (bytes.length === 0) throw new ImageReadError(path, 'empty file (0 bytes)');
  return bytes;
}

/**
 * A sharp pipeline that reads any supported format by its content (not its extension), applies EXIF
 * orientation, and yields 8-bit sRGB without alpha whatever the input (grayscale, CMYK, 16-bit, RGBA).
 * `failOn: 'warning'` makes truncated files fail here instead of yielding grey garbage.
 */
export function openImage(bytes: Buffer): Sharp {
  return sharp(bytes, { failOn: 'warning', limitInputPixels: 1 << 28 }).rotate();
}

export function toRgb8(pipeline: Sharp): Sharp {
  return pipeline.toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' });
}

/**
 * libvips' message as one line: it reports each attempt to read a damaged header again, several lines each
 * ("Input file has corrupt header: VipsJpeg: premature end of JPEG image\nVipsJpeg: …" five times), so its
 * lines are kept once each, without the wrapper and loader prefixes.
 */
function oneLine(message: string): string {
  const clauses = message
    .split('\n')
    .map((line) => line.replace(/^Input (?:buffer|file) has corrupt header:\s*/i, '').replace(/^Vips[A-Za-z]*:\s*/, '').trim())
    .filter(Boolean);
  return [...new Set(clauses)].join('; ');
}

export function describeDecodeFailure(err: unknown): string {
  const message = oneLine(errorMessage(err));
  if (/unsupported image format/i.test(message)) return 'not an image (unrecognised format)';
  // Only libvips' first clause: the ones after it (e.g. "JPEG datastream contains no image") come and go with
  // which thread decoded the file and what it read before, and one file must give one reason everywhere.
  if (/premature end|truncated|unexpected end|Corrupt|invalid|treated as error/i.test(message)) return `corrupt or truncated image (${message.split('; ')[0]})`;
  return message;
}

/**
 * Why an image cannot be used, said the same way whichever pipeline failed on it: libvips words a damaged file
 * differently when it reads just the header, shrinks on load or decodes in full, and a file's views may be
 * rendered by any of them (alone or together, here or on a queue worker) — so the full decode's reason is the
 * one reported. Only for images already known to fail.
 */
export async function canonicalReason(path: string, err: unknown): Promise<string> {
  if (!(err instanceof ImageReadError)) return errorMessage(err);
  try {
    await decodeImage(path);
    return err.reason;
  } catch (again) {
    return again instanceof ImageReadError ? again.reason : err.reason;
  }
}

/** Runs a sharp pipeline to raw RGB pixels, reporting failures by path. */
export async function renderRgb(pipeline: Sharp, path: string): Promise<RawImage> {
  try {
    const { data, info } = await toRgb8(pipeline).toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
  } catch (err) {
    throw new ImageReadError(path, describeDecodeFailure(err));
  }
}

/** Decodes a whole image at full resolution to RGB, EXIF orientation applied. */
export async function decodeImage(path: string, bytes?: Buffer): Promise<RawImage> {
  return decodeForScale(bytes ?? (await readImageBytes(path)), path);
}

/**
 * The WebAssembly mozjpeg has no SIMD: per compressed byte it is ~3× slower than sharp's, but it skips sharp's
 * ~0.7 ms fixed cost per call. It wins for small files — a 7 KB 300×300 rice photo decodes in 0.9 ms against
 * 1.6 — ties around 50 KB, and loses beyond (a 90 KB 640×480 Paddy Doctor photo: 4.5 ms against 3.5).
 */
const WASM_JPEG_MAX_BYTES = 40_000;

/**
 * Decodes an image that is about to be scaled by `scaleOf(width, height)` (of its oriented size). A
 * source at least twice as large as needed is decoded reduced by a power of two (JPEG shrink-on-load,
 * else libvips' block shrink); small JPEG files without a colour profile go to the WebAssembly mozjpeg, whose
 * pixels are identical to sharp's; everything else, and every JPEG mozjpeg so much as warns about, to sharp.
 */
export async function decodeForScale(bytes: Buffer, path: string, scaleOf?: (width: number, height: number) => number): Promise<RawImage> {
  const jpeg = readJpegHeader(bytes);
  let size: { width: number; height: number } | undefined;
  if (jpeg) {
    const swap = jpeg.orientation >= 5;
    size = { width: swap ? jpeg.height : jpeg.width, height: swap ? jpeg.width : jpeg.height };
    const plain = !jpeg.hasIccProfile && jpeg.precision === 8 && (jpeg.components === 1 || jpeg.components === 3) && jpeg.process !== 'other';
    if (plain && bytes.length <= WASM_JPEG_MAX_BYTES && reductionFor(size, scaleOf) === 1) {
      const decoded = await decodeJpegWasm(bytes);
      if (decoded) return decoded;
    }
  }
  if (scaleOf && !size) size = await readImageHeader(path, bytes);
  const reduction = size ? reductionFor(size, scaleOf) : 1;
  if (!size || reduction === 1) return renderRgb(openImage(bytes), path);
  const reduced = openImage(bytes).resize(Math.ceil(size.width / reduction), Math.ceil(size.height / reduction), { fit: 'fill', kernel: 'linear' });
  return renderRgb(reduced, path);
}

/** The largest power of two (up to 8) the image can be shrunk by and still be scaled down, not up, to its target. */
function reductionFor(size: { width: number; height: number }, scaleOf?: (width: number, height: number) => number): number {
  const scale = scaleOf ? scaleOf(size.width, size.height) : 1;
  let reduction = 1;
  while (reduction < 8 && scale * reduction * 2 <= 1) reduction *= 2;
  return reduction;
}

export interface ImageHeader {
  format: string;
  width: number;
  height: number;
}

/** Header-only read (no pixel decode): format and oriented size. */
export async function readImageHeader(path: string, bytes: Buffer): Promise<ImageHeader> {
  try {
    const meta = await sharp(bytes).metadata();
    const swap = (meta.orientation ?? 1) >= 5;
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    return { format: meta.format ?? 'unknown', width: swap ? height : width, height: swap ? width : height };
  } catch (err) {
    throw new ImageReadError(path, describeDecodeFailure(err));
  }
}
