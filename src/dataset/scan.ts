import { appendFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { openImage, readImageBytes, describeDecodeFailure, ImageReadError, readImageHeader } from '../images/decode.js';
import { dihedralHash, hashFromHex, hashToHex, THUMB, type DihedralHash } from '../split/phash.js';
import { mapConcurrent } from '../util/concurrency.js';
import { errorMessage } from '../util/errors.js';
import { sha256Buffer } from '../util/hash.js';
import { createProgress } from '../util/progress.js';
import type { ImageRecord } from './types.js';

/** What one pass over the files learns about an image: identity, size and a dihedral perceptual hash. */
export interface ImageFacts {
  sha256: string;
  format: string;
  width: number;
  height: number;
  phash: DihedralHash;
}

export interface ScannedRecord {
  record: ImageRecord;
  facts: ImageFacts;
}

export interface SkippedImage {
  id: string;
  path: string;
  reason: string;
}

export interface ScanResult {
  ok: ScannedRecord[];
  skipped: SkippedImage[];
}

export interface ScanOptions {
  /** Folder for the scan cache (facts keyed by content hash); none = no cache. */
  cacheDir?: string;
  concurrency?: number;
  progress?: boolean;
  label?: string;
}

/** Decodes a small grayscale thumbnail (the whole file is read, so truncation is detected) and hashes it. */
async function factsOf(path: string, bytes: Buffer, sha256: string): Promise<ImageFacts> {
  const header = await readImageHeader(path, bytes);
  let gray: Buffer;
  try {
    gray = await openImage(bytes).resize(THUMB, THUMB, { fit: 'fill' }).removeAlpha().grayscale().raw({ depth: 'uchar' }).toBuffer();
  } catch (err) {
    throw new ImageReadError(path, describeDecodeFailure(err));
  }
  return { sha256, ...header, phash: dihedralHash(new Uint8Array(gray.buffer, gray.byteOffset, gray.length)) };
}

// The scan cache is an append-only JSONL file: a line per content hash; a torn last line is ignored.
const SCAN_CACHE_FILE = 'scan-v1.jsonl';

function loadScanCache(dir: string): Map<string, ImageFacts> {
  const cache = new Map<string, ImageFacts>();
  const file = join(dir, SCAN_CACHE_FILE);
  if (!existsSync(file)) return cache;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const { sha256, format, width, height, phash } = JSON.parse(line);
      cache.set(sha256, { sha256, format, width, height, phash: hashFromHex(phash) });
    } catch {
      // torn write from an interrupted run
    }
  }
  return cache;
}

/**
 * Reads every record's file once: content hash, header, perceptual hash. Unreadable images (missing,
 * empty, not an image, corrupt or truncated) are collected with their reason instead of failing the run.
 */
export async function scanRecords(records: ImageRecord[], options: ScanOptions = {}): Promise<ScanResult> {
  const cache = options.cacheDir ? loadScanCache(options.cacheDir) : new Map<string, ImageFacts>();
  if (options.cacheDir) mkdirSync(options.cacheDir, { recursive: true });
  const progress = createProgress(options.label ?? 'Scanning images', records.length, { enabled: options.progress });
  // New facts are appended in batches (one write per 64 images) so an interrupted scan keeps most of its work.
  const pendingLines: string[] = [];
  const flush = () => {
    if (options.cacheDir && pendingLines.length) appendFileSync(join(options.cacheDir, SCAN_CACHE_FILE), pendingLines.splice(0).join(''));
  };
  const outcomes = await mapConcurrent(records, options.concurrency ?? 4, async (record): Promise<ScannedRecord | SkippedImage> => {
    try {
      const bytes = await readImageBytes(record.path);
      const sha256 = sha256Buffer(bytes);
      let facts = cache.get(sha256);
      if (!facts) {
        facts = await factsOf(record.path, bytes, sha256);
        cache.set(sha256, facts);
        pendingLines.push(JSON.stringify({ sha256, format: facts.format, width: facts.width, height: facts.height, phash: hashToHex(facts.phash) }) + '\n');
        if (pendingLines.length >= 64) flush();
      }
      return { record, facts };
    } catch (err) {
      const reason = err instanceof ImageReadError ? err.reason : errorMessage(err);
      return { id: record.id, path: record.path, reason };
    } finally {
      progress.tick();
    }
  });
  flush();
  progress.stop();
  const ok: ScannedRecord[] = [];
  const skipped: SkippedImage[] = [];
  for (const o of outcomes) {
    if ('facts' in o) ok.push(o);
    else skipped.push(o);
  }
  return { ok, skipped };
}
