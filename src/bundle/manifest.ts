import { z } from 'zod';
import { calibrationSchema } from '../ensemble/calibration.js';
import { ttaSettingsSchema } from '../ensemble/tta.js';
import { findSourceKind } from '../sources/registry.js';
import type { SourceEntry } from '../sources/source-kind.js';

export const BUNDLE_MANIFEST = 'lensemble.json';
export const BUNDLE_WEIGHTS = 'heads.safetensors';
export const MANIFEST_VERSION = 2;

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

/** A member's source: its kind, and what that kind stores (validated by the kind's own schema). */
const sourceEntrySchema = z
  .looseObject({ kind: z.string() })
  .transform((entry, ctx): SourceEntry => {
    let kind;
    try {
      kind = findSourceKind(entry.kind);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
    const parsed = kind.manifest.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: `${entry.kind} source: ${issue.path.join('.')}: ${issue.message}` });
      return z.NEVER;
    }
    return parsed.data as SourceEntry;
  });

export const memberSchema = z.object({
  name: z.string(),
  source: sourceEntrySchema,
  head: headRecordSchema,
  /** Heads for extra targets (e.g. Paddy Doctor's variety), trained on the same features. */
  extraHeads: z.record(z.string(), headRecordSchema).optional(),
  /** Augmented views per training image. */
  views: z.number().int().min(0),
  tta: ttaSettingsSchema,
  valid: metricsSummarySchema.optional(),
  validTta: metricsSummarySchema.optional(),
});
export type BundleMember = z.infer<typeof memberSchema>;

export const ensembleSchema = z.object({
  /** One per member, summing to 1 when fitted. */
  weights: z.array(z.number()),
  /** 'fit': log-loss-optimal on out-of-fold predictions of the training images; 'mean': the members' `weight`s. */
  method: z.enum(['fit', 'mean', 'single']).default('mean'),
  /** For 'fit': folds, and the out-of-fold log loss of the weighted ensemble and of each member. */
  folds: z.number().int().optional(),
  oofLogLoss: z.number().optional(),
  memberOofLogLoss: z.array(z.number()).optional(),
});

export const manifestSchema = z.object({
  format: z.literal('lensemble-bundle'),
  version: z.literal(MANIFEST_VERSION),
  createdAt: z.string(),
  lensembleVersion: z.string(),
  /** Class names, index-aligned with every head's outputs. */
  labels: z.array(z.string()).min(1),
  /** Extra targets and their class names (multi-target training). */
  extraTargets: z.record(z.string(), z.array(z.string()).min(1)).optional(),
  members: z.array(memberSchema).min(1),
  ensemble: ensembleSchema,
  /** Provenance: dataset, split, seed, hyper-parameters, timings. */
  training: z.record(z.string(), z.unknown()),
  validation: metricsSummarySchema.optional(),
  /** Thresholds from the validation split behind predictions' `lowConfidence` / `unfamiliar` warnings. */
  calibration: calibrationSchema.optional(),
});
export type BundleManifest = z.infer<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;

/**
 * Bundles written before member sources were kinds (manifest version 1) keep working: their members carried
 * the source's fields beside the member's own.
 */
export function upgradeManifest(raw: unknown): unknown {
  const m = raw as { version?: number; members?: Record<string, unknown>[] };
  if (!m || m.version !== 1 || !Array.isArray(m.members)) return raw;
  const members = m.members.map((member) => {
    const { name, head, extraHeads, tta, valid, validTta, views, kind, ...source } = member;
    return { name, head, extraHeads, tta, valid, validTta, views: kind === 'traces' ? 0 : (views ?? 0), source: { kind, ...source } };
  });
  return { ...m, version: MANIFEST_VERSION, members };
}
