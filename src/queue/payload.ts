import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { SkippedImage } from '../dataset/scan.js';
import type { ExtractItem } from '../features/extract.js';
import { ImageReadError, readImageBytes } from '../images/decode.js';
import { errorMessage } from '../util/errors.js';
import { sha256Buffer } from '../util/hash.js';
import type { ShardImage } from './jobs.js';

/** `path` relative to `root` when it lies inside it, else undefined. */
function insideRoot(root: string, path: string): string | undefined {
  const rel = relative(resolve(root), resolve(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : undefined;
}

/**
 * An image as a job carries it: its path under the shared root when there is one and the file lies inside it,
 * else its bytes. A file the coordinator cannot read is reported here, as a local run would.
 */
export async function shardImage(item: ExtractItem, views: number[], sharedRoot?: string): Promise<ShardImage | SkippedImage> {
  const base = { id: item.id, path: item.path, contentHash: item.contentHash, views };
  const shared = sharedRoot ? insideRoot(sharedRoot, item.path) : undefined;
  if (shared) return { ...base, shared };
  try {
    return { ...base, bytes: (await readImageBytes(item.path)).toString('base64') };
  } catch (err) {
    return { id: item.id, path: item.path, reason: err instanceof ImageReadError ? err.reason : errorMessage(err) };
  }
}

export interface MaterialisedImages {
  /** Items to extract, with paths on this machine; `views` as the job asked. */
  items: (ExtractItem & { views: number[] })[];
  /** Images that could not be had here (missing under the shared root, different content), by coordinator path. */
  skipped: SkippedImage[];
  /** Reports a failure of `extractFeatures` (which names this machine's path) by the coordinator's path. */
  asCoordinatorSaw(failure: SkippedImage): SkippedImage;
  cleanup(): void;
}

/**
 * The job's images as files on this worker: bytes are written to a temporary folder (the decoders read files,
 * and the same decoders must run as on the coordinator), shared paths are resolved under this worker's mount
 * (`sharedRoot`, else the coordinator's path). Every file is checked against its content hash: the hash keys the
 * feature rows and seeds the augmented views, so a different file must not pass for it.
 */
export function materialiseImages(images: ShardImage[], options: { sharedRoot?: string; coordinatorRoot?: string }): MaterialisedImages {
  let temp: string | undefined;
  const items: MaterialisedImages['items'] = [];
  const skipped: SkippedImage[] = [];
  const byId = new Map<string, { local: string; original: string }>();
  for (const image of images) {
    let local: string;
    if (image.bytes !== undefined) {
      const bytes = Buffer.from(image.bytes, 'base64');
      if (sha256Buffer(bytes) !== image.contentHash) {
        skipped.push({ id: image.id, path: image.path, reason: 'its content changed since it was scanned (sha256 differs)' });
        continue;
      }
      temp ??= mkdtempSync(join(tmpdir(), 'lensemble-shard-'));
      local = join(temp, image.contentHash);
      writeFileSync(local, bytes);
    } else {
      const root = options.sharedRoot ?? options.coordinatorRoot;
      if (!root) {
        skipped.push({ id: image.id, path: image.path, reason: 'the job names a shared path but no shared root (start the worker with --shared-root)' });
        continue;
      }
      local = resolve(root, image.shared!);
      if (!insideRoot(root, local)) {
        skipped.push({ id: image.id, path: image.path, reason: `shared path ${image.shared} leads outside the shared root` });
        continue;
      }
      const problem = checkSharedFile(local, image.contentHash);
      if (problem) {
        skipped.push({ id: image.id, path: image.path, reason: problem });
        continue;
      }
    }
    byId.set(image.id, { local, original: image.path });
    items.push({ id: image.id, path: local, contentHash: image.contentHash, views: image.views });
  }
  return {
    items,
    skipped,
    asCoordinatorSaw(failure) {
      const known = byId.get(failure.id);
      if (!known) return failure;
      return { id: failure.id, path: known.original, reason: failure.reason.split(known.local).join(known.original) };
    },
    cleanup() {
      if (temp) rmSync(temp, { recursive: true, force: true });
    },
  };
}

function checkSharedFile(path: string, contentHash: string): string | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path); // read again to decode it: the page cache makes the second read cheap
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `not found under this worker's shared root (${path})` : errorMessage(err);
  }
  if (bytes.length === 0) return 'empty file (0 bytes)';
  return sha256Buffer(bytes) === contentHash ? undefined : `the file under this worker's shared root differs from the coordinator's (${path})`;
}
