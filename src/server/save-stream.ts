import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface SavedFile {
  path: string;
  bytes: number;
  /** sha256 of the content, hex: the same identity `identifyImages` computes (the feature-cache key). */
  sha256: string;
}

/** Passes chunks through while hashing and counting them. */
class Digest extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/**
 * Streams an upload to a file, hashing it on the way (no second read, no whole-file buffer). Settles only once
 * the file is closed, whether the upload completed or failed: the caller removes the folder next, and a file
 * still being opened could otherwise appear in it afterwards (or keep its handle).
 */
export async function saveStream(source: Readable, path: string): Promise<SavedFile> {
  const digest = new Digest();
  const file = createWriteStream(path, { flags: 'wx' });
  try {
    await pipeline(source, digest, file);
  } finally {
    if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
  }
  return { path, bytes: digest.bytes, sha256: digest.hash.digest('hex') };
}
