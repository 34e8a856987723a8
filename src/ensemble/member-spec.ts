import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { headKinds } from '../heads/registry.js';
import { interpolations, resizeMethods } from '../images/preprocess-spec.js';
import { LensembleError, errorMessage } from '../util/errors.js';

export const ttaKinds = ['none', 'flip', 'fastai'] as const;
export type TtaKind = (typeof ttaKinds)[number];

/**
 * One ensemble member: a frozen backbone at an image size and resize rule, K augmented training views,
 * a head, and how test-time augmentation combines its predictions.
 */
export const memberSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits, _ . @ - only').optional(),
  backbone: z.string().min(1),
  size: z.union([z.number().int().positive(), z.string().regex(/^\d+(x\d+)?$/)]).optional(),
  resize: z.enum(resizeMethods).optional(),
  cropPct: z.number().gt(0).max(1).optional(),
  interpolation: z.enum(interpolations).optional(),
  head: z.enum(headKinds).default('mlp'),
  /** Augmented views per training image (fastai aug_transforms), besides the plain view. */
  views: z.number().int().min(0).max(64).default(4),
  tta: z.enum(ttaKinds).default('fastai'),
  /** Augmented passes averaged by fastai TTA (learn.tta's n). */
  ttaViews: z.number().int().min(1).max(64).default(4),
  /** fastai TTA mix: final = (1 − beta)·mean(augmented) + beta·plain. */
  ttaBeta: z.number().min(0).max(1).default(0.25),
  /** Overrides of the fastai augmentation defaults, e.g. { "maxRotate": 20 }. */
  augment: z.record(z.string(), z.unknown()).optional(),
  weight: z.number().positive().default(1),
  /** For the `traces` backbone (EM convolutional traces): kernel size N and the other EM settings. */
  kernelSize: z.number().int().min(2).max(15).optional(),
  appendSigma: z.boolean().optional(),
  appendIterations: z.boolean().optional(),
  traces: z.record(z.string(), z.unknown()).optional(),
  seed: z.number().int().min(0).optional(),
  epochs: z.number().int().positive().optional(),
  lr: z.number().positive().optional(),
  weightDecay: z.number().min(0).optional(),
  labelSmoothing: z.number().min(0).lt(1).optional(),
  hidden: z.number().int().positive().optional(),
  dropout: z.number().min(0).lt(1).optional(),
});
export type MemberSpec = z.infer<typeof memberSpecSchema>;
export type MemberSpecInput = z.input<typeof memberSpecSchema>;

export const ensembleConfigSchema = z.strictObject({
  /** Settings every member inherits unless it sets its own. */
  defaults: memberSpecSchema.partial().omit({ name: true, backbone: true }).optional(),
  members: z.array(z.record(z.string(), z.unknown())).min(1),
});

function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(member)'}: ${i.message}`).join('; ');
}

export function parseMemberSpec(input: unknown, defaults: Partial<MemberSpecInput> = {}, where = 'member'): MemberSpec {
  const result = memberSpecSchema.safeParse({ ...defaults, ...(input as object) });
  if (!result.success) throw new LensembleError(`invalid ${where}: ${formatZodError(result.error)}`);
  return result.data;
}

const BOOLEAN_KEYS = new Set(['appendSigma', 'appendIterations']);
const NUMERIC_KEYS = new Set(['kernelSize', 'size', 'cropPct', 'views', 'ttaViews', 'ttaBeta', 'weight', 'seed', 'epochs', 'lr', 'weightDecay', 'labelSmoothing', 'hidden', 'dropout']);

/**
 * Parses the command-line form `backbone[,key=value...]`, e.g.
 * `mobilenetv2_100,size=320,resize=squish,head=mlp,views=4,tta=flip,weight=2`.
 */
export function parseMemberString(text: string, defaults: Partial<MemberSpecInput> = {}): MemberSpec {
  const [backbone, ...pairs] = text.split(',').map((s) => s.trim());
  const fields: Record<string, unknown> = { backbone };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new LensembleError(`invalid member "${text}": "${pair}" is not key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (BOOLEAN_KEYS.has(key) && (value === 'true' || value === 'false')) fields[key] = value === 'true';
    else fields[key] = NUMERIC_KEYS.has(key) && value !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
  }
  return parseMemberSpec(fields, defaults, `member "${text}"`);
}

/** Reads and validates an ensemble config file (JSON). */
export function readEnsembleConfig(path: string, defaults: Partial<MemberSpecInput> = {}): MemberSpec[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LensembleError(`cannot read ensemble config (${errorMessage(err)})`, path);
  }
  const parsed = ensembleConfigSchema.safeParse(raw);
  if (!parsed.success) throw new LensembleError(`invalid ensemble config: ${formatZodError(parsed.error)}`, path);
  const merged = { ...defaults, ...parsed.data.defaults };
  return parsed.data.members.map((m, i) => {
    try {
      return parseMemberSpec(m, merged, `members[${i}]`);
    } catch (err) {
      throw new LensembleError(errorMessage(err), path);
    }
  });
}

/** A readable, unique-ish member name: backbone-size-resize-head. */
export function defaultMemberName(spec: MemberSpec, arch: string, imageSize: string, resize: string): string {
  const parts = isTracesMember(spec) ? ['traces', `n${spec.kernelSize ?? 3}`, spec.head] : [arch, imageSize, resize, spec.head];
  return parts.join('-').replace(/[^A-Za-z0-9_.@-]+/g, '_');
}

/** The pseudo-backbone name of forensic EM-trace members. */
export const TRACES_BACKBONE = 'traces';

export function isTracesMember(spec: MemberSpec): boolean {
  return spec.backbone === TRACES_BACKBONE || spec.backbone === 'em-traces';
}
