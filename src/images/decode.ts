import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { LensembleError, errorMessage } from '../util/errors.js';
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
    bytes = await readFile(path);
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

export function describeDecodeFailure(err: unknown): string {
  const message = errorMessage(err);
  if (/unsupported image format/i.test(message)) return 'not an image (unrecognised format)';
  if (/premature end|truncated|unexpected end|Corrupt|invalid|treated as error/i.test(message)) return `corrupt or truncated image (${message.trim()})`;
  return message.trim();
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

/** Decodes a whole image at full resolution to RGB. */
export async function decodeImage(path: string, bytes?: Buffer): Promise<RawImage> {
  const input = bytes ?? (await readImageBytes(path));
  return renderRgb(openImage(input), path);
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
