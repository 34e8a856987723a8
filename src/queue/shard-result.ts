import { z } from 'zod';
import { decodeFeatureRecords, encodeFeatureRecords, type FeatureEntry } from '../features/feature-store.js';

/**
 * A shard's result as it sits in Redis: "LSQR" | uint32 LE header length | header JSON | feature records in the
 * feature store's own layout (content hash | view | float32 × D), so rows arrive as they are stored, not as
 * JSON numbers.
 */
const MAGIC = Buffer.from('LSQR');

const headerSchema = z.object({
  worker: z.string(),
  /** Feature dimension; absent when no image of the shard could be read. */
  dim: z.number().int().positive().optional(),
  rows: z.number().int().min(0),
  skipped: z.array(z.object({ id: z.string(), path: z.string(), reason: z.string() })),
  seconds: z.number(),
});
export type ShardResultHeader = z.infer<typeof headerSchema>;

export interface ShardResult {
  header: ShardResultHeader;
  entries: FeatureEntry[];
}

export function encodeShardResult(header: Omit<ShardResultHeader, 'rows' | 'dim'>, entries: FeatureEntry[]): Buffer {
  const dim = entries[0]?.features.length;
  const json = Buffer.from(JSON.stringify({ ...header, dim, rows: entries.length }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([MAGIC, length, json, dim === undefined ? Buffer.alloc(0) : encodeFeatureRecords(entries, dim)]);
}

export function decodeShardResult(data: Buffer): ShardResult {
  if (data.length < 8 || !data.subarray(0, 4).equals(MAGIC)) throw new Error('not a lensemble shard result');
  const length = data.readUInt32LE(4);
  const header = headerSchema.parse(JSON.parse(data.subarray(8, 8 + length).toString('utf8')));
  const records = data.subarray(8 + length);
  const entries = header.dim === undefined ? [] : decodeFeatureRecords(records, header.dim);
  if (entries.length !== header.rows) throw new Error(`shard result says ${header.rows} rows but holds ${entries.length}`);
  return { header, entries };
}
