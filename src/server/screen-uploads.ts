import sharp from 'sharp';
import type { IdentifiedImage } from '../dataset/identify.js';
import { describeDecodeFailure } from '../images/decode.js';
import type { SkippedUpload } from './classify.js';
import { formatMegapixels, type UploadLimits } from './upload-limits.js';
import type { Upload } from './uploads.js';

/** A file turned away before the model: `limit` names the limit it broke (absent: not a usable image). */
export interface ScreenedSkip extends SkippedUpload {
  /** `max-request-pixels`: the image is fine, this request had no room left for it — send it again. */
  limit?: 'max-pixels' | 'max-request-pixels';
}

export interface Screened {
  images: IdentifiedImage[];
  skipped: ScreenedSkip[];
}

/** Width × height of one page (an animation decodes its first page only), read from the header alone. */
async function headerSize(path: string): Promise<{ width: number; height: number }> {
  // No pixel limit here: the size of an over-limit image is what its reason reports.
  const meta = await sharp(path, { limitInputPixels: false }).metadata();
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (!width || !height) throw new Error('unsupported image format');
  return { width, height };
}

/**
 * Reads only the header of each upload (in libvips' threads, not on the request thread), so that empty files,
 * non-images and images over the pixel limits are turned away with their reason before they wait for the
 * model, and no image is ever decoded that the limits refuse. Images are admitted in upload order while the
 * request's pixel budget lasts; one that no longer fits is skipped (a later, smaller one may still fit).
 */
export async function screenUploads(uploads: Upload[], limits: Pick<UploadLimits, 'maxPixels' | 'maxRequestPixels'>): Promise<Screened> {
  const images: IdentifiedImage[] = [];
  const skipped: ScreenedSkip[] = [];
  let budgetUsed = 0;
  for (const upload of uploads) {
    if (upload.bytes === 0) {
      skipped.push({ name: upload.name, reason: 'empty file (0 bytes)' });
      continue;
    }
    let size: { width: number; height: number };
    try {
      size = await headerSize(upload.path);
    } catch (err) {
      skipped.push({ name: upload.name, reason: describeDecodeFailure(err) });
      continue;
    }
    const pixels = size.width * size.height;
    const dimensions = `${size.width}×${size.height} pixels (${formatMegapixels(pixels)})`;
    if (pixels > limits.maxPixels) {
      skipped.push({ name: upload.name, limit: 'max-pixels', reason: `${dimensions} is over the ${formatMegapixels(limits.maxPixels)} limit per image (--max-pixels)` });
    } else if (budgetUsed + pixels > limits.maxRequestPixels) {
      const reason = `${dimensions} would take this request past its ${formatMegapixels(limits.maxRequestPixels)} budget (--max-request-pixels): send it in another request`;
      skipped.push({ name: upload.name, limit: 'max-request-pixels', reason });
    } else {
      budgetUsed += pixels;
      images.push({ record: { id: upload.name, path: upload.path }, contentHash: upload.sha256 });
    }
  }
  return { images, skipped };
}
