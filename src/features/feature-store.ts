import { closeSync, existsSync, fstatSync, statSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, sha256Buffer } from '../util/hash.js';
import { LensembleError } from '../util/errors.js';

/**
 * On-disk feature cache. One folder per key (backbone weights hash + output + preprocessing + view recipe),
 * named by the first 16 hex digits of sha256(canonical JSON of the key):
 *
 *   <cache>/features/<key>/meta.json     the key itself, the feature dimension and the record layout
 *   <cache>/features/<key>/features.bin  append-only fixed-size records:
 *                                        32 bytes  sha256 of the image file's content
 *                                         4 bytes  view index (uint32 LE; 0 = plain view)
 *                                       4·D bytes  features (float32 LE)
 *
 * Records are only appended, a batch per write. A process killed mid-write leaves at most a torn last
 * record, which the next open truncates away, so interrupted runs resume without losing or duplicating work.
 */
export const FEATURE_STORE_VERSION = 1;
const HASH_BYTES = 32;
const HEADER_BYTES = HASH_BYTES + 4;

export interface FeatureStoreMeta {
  version: number;
  key: unknown;
  dim: number;
  recordBytes: number;
}

export interface FeatureEntry {
  contentHash: string;
  view: number;
  features: Float32Array;
}

export interface FeatureStore {
  dir: string;
  keyId: string;
  readonly dim: number | undefined;
  readonly size: number;
  has(contentHash: string, view: number): boolean;
  get(contentHash: string, view: number): Float32Array | undefined;
  append(entries: FeatureEntry[]): void;
}

export function featureKeyId(key: unknown): string {
  return sha256Buffer(canonicalJson({ version: FEATURE_STORE_VERSION, key })).slice(0, 16);
}

/**
 * Stores already loaded by this process, reused while the file is exactly as long as this process left it
 * (a long-lived server would otherwise re-read a large cache on every request). Any outside change — another
 * process's appends, a torn record — makes the next open load the file afresh.
 */
const openStores = new Map<string, { store: FeatureStore; bytes: () => number }>();

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

export function openFeatureStore(cacheRoot: string, key: unknown): FeatureStore {
  const keyId = featureKeyId(key);
  const dir = join(cacheRoot, 'features', keyId);
  const dataPath = join(dir, 'features.bin');
  const open = openStores.get(dir);
  if (open && open.bytes() === fileSize(dataPath)) return open.store;
  const store = loadFeatureStore(dir, keyId, key);
  openStores.set(dir, { store, bytes: () => (store.dim === undefined ? 0 : store.size * (HEADER_BYTES + 4 * store.dim)) });
  return store;
}

function loadFeatureStore(dir: string, keyId: string, key: unknown): FeatureStore {
  const metaPath = join(dir, 'meta.json');
  const dataPath = join(dir, 'features.bin');
  let dim: number | undefined;
  const index = new Map<string, { chunk: Buffer; offset: number }>();

  if (existsSync(metaPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as FeatureStoreMeta;
    if (meta.version !== FEATURE_STORE_VERSION) throw new LensembleError(`feature cache version ${meta.version} is not ${FEATURE_STORE_VERSION}; delete the folder`, dir);
    dim = meta.dim;
    if (existsSync(dataPath)) loadRecords(dataPath, meta.recordBytes, index);
  }
  const recordBytes = (): number => HEADER_BYTES + 4 * dim!;

  return {
    dir,
    keyId,
    get dim() {
      return dim;
    },
    get size() {
      return index.size;
    },
    has: (contentHash, view) => index.has(indexKey(contentHash, view)),
    get(contentHash, view) {
      const hit = index.get(indexKey(contentHash, view));
      if (!hit) return undefined;
      const out = new Float32Array(dim!);
      const bytes = new Uint8Array(out.buffer);
      bytes.set(hit.chunk.subarray(hit.offset + HEADER_BYTES, hit.offset + recordBytes()));
      return out;
    },
    append(entries) {
      if (entries.length === 0) return;
      if (dim === undefined) {
        dim = entries[0].features.length;
        mkdirSync(dir, { recursive: true });
        const meta: FeatureStoreMeta = { version: FEATURE_STORE_VERSION, key, dim, recordBytes: recordBytes() };
        writeFileSync(metaPath + '.tmp', JSON.stringify(meta, null, 2));
        renameSync(metaPath + '.tmp', metaPath);
      }
      const size = recordBytes();
      const chunk = encodeFeatureRecords(entries, dim);
      const fd = openSync(dataPath, 'a');
      try {
        writeAll(fd, chunk);
      } finally {
        closeSync(fd);
      }
      entries.forEach((e, i) => index.set(indexKey(e.contentHash, e.view), { chunk, offset: i * size }));
    },
  };
}

/** Bytes of one record of `dim` features: content hash | view | float32 × dim. */
export function featureRecordBytes(dim: number): number {
  return HEADER_BYTES + 4 * dim;
}

/** Records in the store's layout (what features.bin holds, and what queue workers send back). */
export function encodeFeatureRecords(entries: readonly FeatureEntry[], dim: number): Buffer {
  const size = featureRecordBytes(dim);
  const chunk = Buffer.alloc(size * entries.length);
  entries.forEach((e, i) => {
    if (e.features.length !== dim) throw new Error(`feature length ${e.features.length} does not match the cache's ${dim}`);
    if (!/^[0-9a-f]{64}$/.test(e.contentHash)) throw new Error(`content hash "${e.contentHash}" is not 64 hex digits`);
    const offset = i * size;
    chunk.write(e.contentHash, offset, HASH_BYTES, 'hex');
    chunk.writeUInt32LE(e.view, offset + HASH_BYTES);
    Buffer.from(e.features.buffer, e.features.byteOffset, e.features.byteLength).copy(chunk, offset + HEADER_BYTES);
  });
  return chunk;
}

/** The records of `encodeFeatureRecords` back as entries (each with its own copy of the features). */
export function decodeFeatureRecords(chunk: Buffer, dim: number): FeatureEntry[] {
  const size = featureRecordBytes(dim);
  if (chunk.length % size !== 0) throw new Error(`${chunk.length} bytes are not whole records of ${size} bytes`);
  const entries: FeatureEntry[] = [];
  for (let offset = 0; offset < chunk.length; offset += size) {
    const features = new Float32Array(dim);
    new Uint8Array(features.buffer).set(chunk.subarray(offset + HEADER_BYTES, offset + size));
    entries.push({ contentHash: chunk.toString('hex', offset, offset + HASH_BYTES), view: chunk.readUInt32LE(offset + HASH_BYTES), features });
  }
  return entries;
}

function indexKey(contentHash: string, view: number): string {
  return `${contentHash}:${view}`;
}

function writeAll(fd: number, data: Buffer): void {
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written, data.length - written);
}

/** Reads all complete records into the index, truncating a torn tail left by a killed writer. */
function loadRecords(dataPath: string, recordBytes: number, index: Map<string, { chunk: Buffer; offset: number }>): void {
  const fd = openSync(dataPath, 'r+');
  try {
    const size = fstatSync(fd).size;
    const complete = Math.floor(size / recordBytes) * recordBytes;
    if (complete !== size) ftruncateSync(fd, complete);
    const chunk = Buffer.alloc(complete);
    let read = 0;
    while (read < complete) read += readSync(fd, chunk, read, complete - read, read);
    for (let offset = 0; offset < complete; offset += recordBytes) {
      const hash = chunk.toString('hex', offset, offset + HASH_BYTES);
      const view = chunk.readUInt32LE(offset + HASH_BYTES);
      index.set(indexKey(hash, view), { chunk, offset });
    }
  } finally {
    closeSync(fd);
  }
}
