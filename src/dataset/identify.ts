import { readImageBytes, ImageReadError } from '../images/decode.js';
import { mapConcurrent } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import { sha256Buffer } from '../util/hash.js';
import type { SkippedImage } from './scan.js';
import type { ImageRecord } from './types.js';

export interface IdentifiedImage {
  record: ImageRecord;
  contentHash: string;
}

/** Content hashes (the feature-cache identity) of records' files; unreadable files are reported, not thrown. */
export async function identifyImages(records: ImageRecord[], concurrency = 8): Promise<{ ok: IdentifiedImage[]; skipped: SkippedImage[] }> {
  const outcomes = await mapConcurrent(records, concurrency, async (record): Promise<IdentifiedImage | SkippedImage> => {
    try {
      return { record, contentHash: sha256Buffer(await readImageBytes(record.path)) };
    } catch (err) {
      return { id: record.id, path: record.path, reason: err instanceof ImageReadError ? err.reason : errorMessage(err) };
    }
  });
  const ok: IdentifiedImage[] = [];
  const skipped: SkippedImage[] = [];
  for (const o of outcomes) {
    if ('contentHash' in o) ok.push(o);
    else skipped.push(o);
  }
  return { ok, skipped };
}
