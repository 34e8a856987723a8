import { z } from 'zod';
import { LensembleError } from '../util/errors.js';

export const padModes = ['reflection', 'zeros', 'border'] as const;
/** fastai's PadMode: how coordinates that fall outside the image are sampled. */
export type PadMode = (typeof padModes)[number];

export const presizeMethods = ['squish', 'crop', 'pad'] as const;
/** fastai's ResizeMethod for the item-level `Resize` that runs before the batch augmentations. */
export type PresizeMethod = (typeof presizeMethods)[number];

const presizeSchema = z.strictObject({
  width: z.number().int().min(2).max(8192),
  height: z.number().int().min(2).max(8192),
  method: z.enum(presizeMethods),
});
export type PresizeSpec = z.infer<typeof presizeSchema>;

const probability = z.number().min(0).max(1);
const range = (lo: z.ZodNumber) => z.tuple([lo, lo]);
const jpegQuality = z.number().int().min(1).max(100);

const augmentSpecSchema = z
  .strictObject({
    /** Random horizontal flip (fastai `Flip`); with flipVert, a random dihedral transform (`Dihedral`). */
    doFlip: z.boolean(),
    flipVert: z.boolean(),
    /** Probability of the flip / dihedral: fastai hard-codes 0.5; 1 gives a deterministic flip for TTA. */
    pFlip: probability,
    /** Degrees; rotation angle ~ U(-maxRotate, maxRotate) (fastai `Rotate`). */
    maxRotate: z.number().min(0).max(180),
    /** Zoom factor ~ U(minZoom, maxZoom), about a random centre (fastai `Zoom`). */
    minZoom: z.number().gt(0).max(10),
    maxZoom: z.number().gt(0).max(10),
    /** Perspective warp magnitude (fastai `Warp`), in normalised [-1, 1] coordinates. */
    maxWarp: z.number().min(0).lt(1),
    /** Each of warp-x, warp-y, rotate and zoom is drawn independently with this probability. */
    pAffine: probability,
    /** Brightness and contrast strength (fastai `Brightness`/`Contrast`, both in logit space). */
    maxLighting: z.number().min(0).lt(1),
    /** Brightness and contrast are each drawn independently with this probability. */
    pLighting: probability,
    /** RandomResizedCropGPU area fraction lower bound; 1 means no random crop (the whole image is used). */
    minScale: z.number().gt(0).max(1),
    /** RandomResizedCropGPU aspect-ratio range [lo, hi] (width / height), sampled log-uniformly. */
    ratio: z.tuple([z.number().gt(0), z.number().gt(0)]),
    padMode: z.enum(padModes),
    /** Item-level fastai `Resize` applied before the batch augmentations, or null to augment the source as is. */
    presize: presizeSchema.nullable(),
    /**
     * Mirror fastai's `_grid_sample` hack: when the final resampling shrinks by more than 2x, area-average
     * the image first so that bilinear sampling does not alias.
     */
    antialias: z.boolean(),
    /**
     * Forensic post-processing (Wang et al. 2020; src/images/degrade.ts), applied to the decoded source before the
     * geometric pass: Gaussian blur with this probability, σ ~ U(blurSigma) in source pixels …
     */
    blurProb: probability.optional(),
    blurSigma: range(z.number().min(0).max(20)).optional(),
    /** … then JPEG re-compression with this probability, at a quality drawn uniformly from the integers in jpegQuality. */
    jpegProb: probability.optional(),
    jpegQuality: range(jpegQuality).optional(),
  })
  .superRefine((spec, ctx) => {
    for (const key of ['blurSigma', 'jpegQuality'] as const) {
      const r = spec[key];
      if (r && r[0] > r[1]) ctx.addIssue({ code: 'custom', path: [key], message: `must be [lo, hi] with lo <= hi, got [${r.join(', ')}]` });
    }
    if (spec.minZoom > spec.maxZoom) {
      ctx.addIssue({ code: 'custom', path: ['maxZoom'], message: `must be >= minZoom (${spec.minZoom}), got ${spec.maxZoom}` });
    }
    if (spec.ratio[0] > spec.ratio[1]) {
      ctx.addIssue({ code: 'custom', path: ['ratio'], message: `must be [lo, hi] with lo <= hi, got [${spec.ratio.join(', ')}]` });
    }
  });

/** Augmentation settings, plain JSON: what fastai's `aug_transforms` (plus an optional item `Resize`) would do. */
export type AugmentSpec = z.infer<typeof augmentSpecSchema>;

/** `aug_transforms(size=..., min_scale=0.75)` as used in Jeremy Howard's "Road to the Top" notebooks. */
export const fastaiDefaults: AugmentSpec = {
  doFlip: true,
  flipVert: false,
  pFlip: 0.5,
  maxRotate: 10,
  minZoom: 1,
  maxZoom: 1.1,
  maxWarp: 0.2,
  pAffine: 0.75,
  maxLighting: 0.2,
  pLighting: 0.75,
  minScale: 0.75,
  ratio: [1, 1],
  padMode: 'reflection',
  presize: null,
  antialias: true,
};

/**
 * The item transform Road to the Top pairs with `fastaiDefaults`: `Resize(480, method='squish')`. It matters
 * for non-square photos, where RandomResizedCropGPU's ratio=(1,1) otherwise falls back to the centre square.
 */
export const roadToTheTopSpec: AugmentSpec = { ...fastaiDefaults, presize: { width: 480, height: 480, method: 'squish' } };

/**
 * Cheap TTA view: always flip horizontally, nothing else. minScale 1 means the whole image is resized to the
 * output (fastai's path when min_scale == 1); for the centre-cropped flip of a model trained with minScale < 1,
 * use `validationParams(trainSpec, w, h, { flip: true })` instead.
 */
export const flipOnlySpec: AugmentSpec = {
  ...fastaiDefaults,
  pFlip: 1,
  maxRotate: 0,
  minZoom: 1,
  maxZoom: 1,
  maxWarp: 0,
  maxLighting: 0,
  minScale: 1,
  ratio: [1, 1],
};

/**
 * Completes `partial` from `base` (fastai defaults) and checks every range, throwing one error that lists
 * each problem (unknown keys included, so a typo like `maxRotation` is not silently ignored).
 */
export function resolveAugmentSpec(partial: unknown, base: AugmentSpec = fastaiDefaults): AugmentSpec {
  if (partial === undefined || partial === null) partial = {};
  if (typeof partial !== 'object' || Array.isArray(partial)) {
    throw new LensembleError(`augment spec must be an object, got ${Array.isArray(partial) ? 'an array' : typeof partial}`);
  }
  const result = augmentSpecSchema.safeParse({ ...base, ...partial });
  if (result.success) return withCanonicalDegradation(result.data);
  const problems = result.error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : '(spec)';
    return `${where}: ${issue.message}`;
  });
  throw new LensembleError(`invalid augment spec: ${problems.join('; ')}`);
}

/** The ranges a spec gets when it turns blur or JPEG on without giving one: Wang et al.'s Blur+JPEG settings. */
export const degradationRangeDefaults = { blurSigma: [0, 3] as [number, number], jpegQuality: [30, 100] as [number, number] };

/**
 * One spelling per behaviour, since the spec joins the feature-cache key: with both probabilities 0 the four
 * degradation keys are left out (a spec from before they existed keeps its cache), otherwise all four are given.
 */
function withCanonicalDegradation(spec: AugmentSpec): AugmentSpec {
  const { blurProb = 0, blurSigma = degradationRangeDefaults.blurSigma, jpegProb = 0, jpegQuality = degradationRangeDefaults.jpegQuality, ...rest } = spec;
  if (blurProb === 0 && jpegProb === 0) return rest;
  return { ...rest, blurProb, blurSigma, jpegProb, jpegQuality };
}
