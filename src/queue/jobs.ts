import { z } from 'zod';
import { backboneSpecSchema } from '../backbone/spec.js';
import { traceOptionsSchema } from '../forensics/trace-options.js';
import { preprocessSpecSchema } from '../images/preprocess-spec.js';

/**
 * What coordinators and workers agree on: the BullMQ queue, its job payloads and the keys results travel in.
 * A worker refuses a job of another protocol version rather than compute features that would differ.
 */
export const QUEUE_PROTOCOL = 1 as const;
/** BullMQ key prefix and queue name: keys are `lensemble:extract:…`. */
export const QUEUE_PREFIX = 'lensemble';
export const QUEUE_NAME = 'extract';

/** A shard's result waits this long for its coordinator (one that was restarted picks it up) before Redis drops it. */
export const RESULT_TTL_SECONDS = 3600;
/** Failed jobs stay visible to `lensemble queue status` this long. */
export const FAILED_JOB_AGE_SECONDS = 24 * 3600;
/** Attempts of a shard whose worker threw (an unreadable image is not a failure: it comes back as skipped). */
export const JOB_ATTEMPTS = 3;
/** How often a job may lose its worker (killed, machine lost) and be handed to another before it fails. */
export const MAX_STALLED = 3;

/** The image bytes of a shard (concatenated, binary), stored by the coordinator beside the job, deleted with its result. */
export const inputKey = (jobId: string): string => `${QUEUE_PREFIX}:${QUEUE_NAME}-inputs:${jobId}`;
/** A shard's bytes outlive a coordinator that died by this long; a live one keeps renewing them while the shard waits. */
export const INPUT_TTL_SECONDS = 3600;
/** The binary result of a shard, stored by the worker, read and deleted by the coordinator. */
export const resultKey = (jobId: string): string => `${QUEUE_PREFIX}:${QUEUE_NAME}-results:${jobId}`;
/** Image-views extracted per minute, for `queue status` (kept two hours). */
export const throughputKey = (minute: number): string => `${QUEUE_PREFIX}:${QUEUE_NAME}-throughput:${minute}`;
export const THROUGHPUT_TTL_SECONDS = 2 * 3600;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');

/** One image of a shard and the views wanted of it; its file travels as bytes (in the shard's input key) or as a path under the shared root. */
export const shardImageSchema = z
  .object({
    id: z.string(),
    /** The path on the coordinator: what a skipped image is reported as. */
    path: z.string(),
    contentHash: sha256Hex,
    views: z.array(z.number().int().min(0)).min(1),
    /** Where the file's bytes lie in the shard's input key (binary, not base64 in the job's JSON). */
    bytes: z.object({ offset: z.number().int().min(0), length: z.number().int().min(1) }).optional(),
    /** The file's path relative to the shared root every machine mounts. */
    shared: z.string().optional(),
  })
  .refine((image) => (image.bytes === undefined) !== (image.shared === undefined), 'an image carries either its bytes or a shared path');
export type ShardImage = z.infer<typeof shardImageSchema>;

const shardCommon = {
  protocol: z.literal(QUEUE_PROTOCOL),
  /** The coordinator's feature-store key id: the worker recomputes it and refuses a job whose key it would not match. */
  keyId: z.string(),
  /** The coordinator's shared root (a worker maps it to its own mount). */
  sharedRoot: z.string().optional(),
  images: z.array(shardImageSchema).min(1),
};

export const backboneShardSchema = z.object({
  kind: z.literal('backbone'),
  ...shardCommon,
  /** The backbone as the coordinator resolved it; the worker finds the file with this sha256 or refuses. */
  backbone: z.object({ spec: backboneSpecSchema, sha256: sha256Hex }),
  preprocess: preprocessSpecSchema,
  /** The key of a built-in view recipe (plain, flip, fastai augmentation with its seed). */
  recipe: z.unknown(),
  batchSize: z.number().int().positive(),
});
export type BackboneShard = z.infer<typeof backboneShardSchema>;

export const tracesShardSchema = z.object({
  kind: z.literal('traces'),
  ...shardCommon,
  traces: traceOptionsSchema,
});
export type TracesShard = z.infer<typeof tracesShardSchema>;

export const shardSchema = z.discriminatedUnion('kind', [backboneShardSchema, tracesShardSchema]);
export type Shard = z.infer<typeof shardSchema>;

/** What a worker reports while it works on a shard (BullMQ job progress). */
export const shardProgressSchema = z.object({ done: z.number().int().min(0), worker: z.string() });
export type ShardProgress = z.infer<typeof shardProgressSchema>;
