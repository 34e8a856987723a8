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

export interface PackedImages {
  images: ShardImage[];
  /** The files' bytes one after another (what the shard's input key holds); undefined when all travel as paths. */
  bytes?: Buffer;
  /** Files the coordinator could not read, reported as a local run would. */
  skipped: SkippedImage[];
}

/**
 * A shard's images as its job carries them: paths under the shared root when there is one and a file lies
 * inside it, else the file's bytes, packed into one binary blob (no base64 through JSON and Lua: a shard of 256
 * photos is about 10 MB, and Redis copies a job's JSON several times).
 */
export async function packImages(wanted: { item: ExtractItem; views: number[] }[], sharedRoot?: string): Promise<PackedImages> {
  const images: ShardImage[] = [];
  const skipped: SkippedImage[] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const { item, views } of wanted) {
    const base = { id: item.id, path: item.path, contentHash: item.contentHash, views };
    const shared = sharedRoot ? insideRoot(sharedRoot, item.path) : undefined;
    if (shared) {
      images.push({ ...base, shared });
      continue;
    }
    try {
      const bytes = await readImageBytes(item.path);
      images.push({ ...base, bytes: { offset, length: bytes.length } });
      chunks.push(bytes);
      offset += bytes.length;
    } catch (err) {
      skipped.push({ id: item.id, path: item.path, reason: err instanceof ImageReadError ? err.reason : errorMessage(err) });
    }
  }
  return { images, bytes: chunks.length ? Buffer.concat(chunks) : undefined, skipped };
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
 * The job's images as files on this worker: bytes (sliced from the shard's packed input) are written to a temporary folder (the decoders read files,
 * and the same decoders must run as on the coordinator), shared paths are resolved under this worker's mount
 * (`sharedRoot`, else the coordinator's path). Every file is checked against its content hash: the hash keys the
 * feature rows and seeds the augmented views, so a different file must not pass for it.
 */
export function materialiseImages(images: ShardImage[], packed: Buffer | undefined, options: { sharedRoot?: string; coordinatorRoot?: string }): MaterialisedImages {
  let temp: string | undefined;
  const items: MaterialisedImages['items'] = [];
  const skipped: SkippedImage[] = [];
  const byId = new Map<string, { local: string; original: string }>();
  for (const image of images) {
    let local: string;
    if (image.bytes !== undefined) {
      const bytes = packed?.subarray(image.bytes.offset, image.bytes.offset + image.bytes.length);
      if (!bytes || bytes.length !== image.bytes.length || sha256Buffer(bytes) !== image.contentHash) {
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
