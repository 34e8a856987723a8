import { z } from 'zod';
import { backboneSpecSchema } from '../backbone/spec.js';
import { preprocessSpecSchema } from '../images/preprocess-spec.js';

export const BUNDLE_MANIFEST = 'lensemble.json';
export const BUNDLE_WEIGHTS = 'heads.safetensors';

export const metricsSummarySchema = z.object({
  n: z.number().int(),
  accuracy: z.number(),
  errorRate: z.number(),
  logLoss: z.number(),
});
export type MetricsSummary = z.infer<typeof metricsSummarySchema>;

export const headRecordSchema = z.object({
  kind: z.string(),
  config: z.record(z.string(), z.unknown()),
  /** Names of this head's tensors in heads.safetensors (stored with the member's prefix). */
  tensors: z.array(z.string()),
});

export const memberSchema = z.object({
  name: z.string(),
  backbone: z.object({
    /** What the user asked for (registry name, path or hf: reference). */
    reference: z.string(),
    spec: backboneSpecSchema,
    sha256: z.string(),
  }),
  preprocess: preprocessSpecSchema,
  head: headRecordSchema,
  valid: metricsSummarySchema.optional(),
});
export type BundleMember = z.infer<typeof memberSchema>;

export const manifestSchema = z.object({
  format: z.literal('lensemble-bundle'),
  version: z.literal(1),
  createdAt: z.string(),
  lensembleVersion: z.string(),
  /** Class names, index-aligned with every head's outputs. */
  labels: z.array(z.string()).min(1),
  members: z.array(memberSchema).min(1),
  ensemble: z.object({ weights: z.array(z.number()) }),
  /** Provenance: dataset, split, seed, hyper-parameters, timings. */
  training: z.record(z.string(), z.unknown()),
  validation: metricsSummarySchema.optional(),
});
export type BundleManifest = z.infer<typeof manifestSchema>;
