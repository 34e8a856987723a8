import { z } from 'zod';
import { backboneSpecSchema } from '../backbone/spec.js';
import { ttaKinds } from '../ensemble/member-spec.js';
import { traceOptionsSchema } from '../forensics/trace-options.js';
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

const memberCommon = {
  name: z.string(),
  head: headRecordSchema,
  /** Heads for extra targets (e.g. Paddy Doctor's variety), trained on the same features. */
  extraHeads: z.record(z.string(), headRecordSchema).optional(),
  tta: z.object({ kind: z.enum(ttaKinds), views: z.number().int().min(1), beta: z.number().min(0).max(1) }),
  valid: metricsSummarySchema.optional(),
  validTta: metricsSummarySchema.optional(),
};

/** A member on a pretrained backbone's features. */
export const backboneMemberSchema = z.object({
  ...memberCommon,
  kind: z.literal('backbone'),
  backbone: z.object({
    /** What the user asked for (registry name, path or hf: reference). */
    reference: z.string(),
    spec: backboneSpecSchema,
    sha256: z.string(),
  }),
  preprocess: preprocessSpecSchema,
  /** How augmented views are drawn (training views and fastai TTA views share it). */
  augmentation: z.object({ spec: z.record(z.string(), z.unknown()), seed: z.number().int() }),
  /** Augmented views per training image. */
  views: z.number().int().min(0),
});

/** A member on EM convolutional traces (forensics), with what explanations need. */
export const tracesMemberSchema = z.object({
  ...memberCommon,
  kind: z.literal('traces'),
  traces: traceOptionsSchema,
  /** Names of the features the head sees, e.g. "R k(-1,0)". */
  featureNames: z.array(z.string()),
  /** Mean feature vector of each class's training images, and of all of them. */
  classMeans: z.record(z.string(), z.array(z.number())),
  overallMean: z.array(z.number()),
});

export const memberSchema = z.discriminatedUnion('kind', [backboneMemberSchema, tracesMemberSchema]);
export type BundleMember = z.infer<typeof memberSchema>;
export type BackboneMember = z.infer<typeof backboneMemberSchema>;
export type TracesMember = z.infer<typeof tracesMemberSchema>;

export const manifestSchema = z.object({
  format: z.literal('lensemble-bundle'),
  version: z.literal(1),
  createdAt: z.string(),
  lensembleVersion: z.string(),
  /** Class names, index-aligned with every head's outputs. */
  labels: z.array(z.string()).min(1),
  /** Extra targets and their class names (multi-target training). */
  extraTargets: z.record(z.string(), z.array(z.string()).min(1)).optional(),
  members: z.array(memberSchema).min(1),
  ensemble: z.object({ weights: z.array(z.number()) }),
  /** Provenance: dataset, split, seed, hyper-parameters, timings. */
  training: z.record(z.string(), z.unknown()),
  validation: metricsSummarySchema.optional(),
});
export type BundleManifest = z.infer<typeof manifestSchema>;
