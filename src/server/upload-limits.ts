import { LensembleError } from '../util/errors.js';

/** What one request may bring: checked before anything waits for the model. */
export interface UploadLimits {
  /** Largest request body, bytes. */
  maxBytes: number;
  /** Most files in one multipart request. */
  maxFiles: number;
  /** Largest image, width × height from its header. */
  maxPixels: number;
  /** Most pixels all of one request's images may have together. */
  maxRequestPixels: number;
}

export const DEFAULT_MAX_BYTES = 20 * 1024 * 1024;
export const DEFAULT_MAX_FILES = 64;
/**
 * 64 MP: every camera's full resolution up to 61 MP full-frame bodies (9504×6336), the 48 and 50 MP modes of
 * phones (8064×6048, 8160×6144) — 40 MP would refuse those — but not the 108 and 200 MP modes, nor a
 * decompression bomb (a 16000×16000 PNG of 0.8 MB took 7 s and 1 GB before). Measured for an 8000×8000
 * image, PNG or JPEG: 2 s and 0.3 GB with fastai TTA (its views are rendered from the full-size image),
 * 0.2 s and 55 MB without.
 */
export const DEFAULT_MAX_PIXELS = 64_000_000;
/**
 * Twice the image cap: two full-size photos or ten 12 MP phone photos per request, so that one request holds
 * the model for at most about 4 s of decoding and 0.5 GB (TTA, two PNGs at the cap, measured); the web page sends what did
 * not fit in its next request.
 */
export const DEFAULT_MAX_REQUEST_PIXELS = 128_000_000;

/** 256000000 → "256 MP", 12192768 → "12.2 MP". */
export function formatMegapixels(pixels: number): string {
  const mp = pixels / 1e6;
  return `${mp >= 10 ? Math.round(mp) : +mp.toFixed(1)} MP`;
}

/** The limits with their defaults filled in; a request budget below the image cap could never be met. */
export function uploadLimits(options: Partial<UploadLimits>): UploadLimits {
  const limits: UploadLimits = {
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    maxFiles: options.maxFiles ?? DEFAULT_MAX_FILES,
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
    maxRequestPixels: options.maxRequestPixels ?? Math.max(DEFAULT_MAX_REQUEST_PIXELS, options.maxPixels ?? 0),
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new LensembleError(`${name} must be a whole number of at least 1, got ${value}`);
  }
  if (limits.maxRequestPixels < limits.maxPixels) {
    throw new LensembleError(
      `--max-request-pixels (${formatMegapixels(limits.maxRequestPixels)}) must be at least --max-pixels (${formatMegapixels(limits.maxPixels)}): a request must be able to carry one image at the cap`,
    );
  }
  return limits;
}
