import { z } from 'zod';

export const resizeMethods = ['squish', 'crop', 'pad'] as const;
export type ResizeMethod = (typeof resizeMethods)[number];

export const interpolations = ['bilinear', 'bicubic', 'lanczos3'] as const;
export type Interpolation = (typeof interpolations)[number];

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

const triple = z.tuple([z.number(), z.number(), z.number()]);

/**
 * How an image becomes a backbone input: geometry (fastai's Resize methods, timm's crop_pct) and
 * normalisation. Its canonical JSON is part of every feature-cache key.
 */
export const preprocessSpecSchema = z.object({
  width: z.number().int().min(16).max(4096),
  height: z.number().int().min(16).max(4096),
  /** squish: stretch to size; crop: centre crop (cropPct of the largest centred region); pad: fit inside, reflection-pad. */
  resize: z.enum(resizeMethods),
  /** For `crop`: fraction of the largest centred region kept (timm's crop_pct: 0.875 = resize 256, crop 224; fastai uses 1). */
  cropPct: z.number().gt(0).max(1),
  interpolation: z.enum(interpolations),
  mean: triple,
  std: triple,
});
export type PreprocessSpec = z.infer<typeof preprocessSpecSchema>;

export const defaultPreprocess: PreprocessSpec = {
  width: 224,
  height: 224,
  resize: 'crop',
  cropPct: 0.875,
  interpolation: 'bilinear',
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
};

/** Parses "224" or "320x240" (width x height). */
export function parseSize(text: string): { width: number; height: number } {
  const m = /^(\d+)(?:[x×,](\d+))?$/i.exec(text.trim());
  if (!m) throw new Error(`image size "${text}" is not N or WxH (e.g. 224 or 320x240)`);
  const width = Number(m[1]);
  const height = m[2] ? Number(m[2]) : width;
  return { width, height };
}

export function describePreprocess(spec: PreprocessSpec): string {
  const size = spec.width === spec.height ? `${spec.width}` : `${spec.width}x${spec.height}`;
  const crop = spec.resize === 'crop' && spec.cropPct !== 1 ? ` ${spec.cropPct}` : '';
  return `${size} ${spec.resize}${crop}`;
}
