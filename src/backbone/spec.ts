import { z } from 'zod';
import { preprocessSpecSchema } from '../images/preprocess-spec.js';

export const poolings = ['none', 'gap', 'cls', 'mean-tokens', 'flatten'] as const;
export type Pooling = (typeof poolings)[number];

export const backboneSourceSchema = z.discriminatedUnion('kind', [
  /** A file on disk (absolute, or relative to the working directory when given by the user). */
  z.object({ kind: z.literal('file'), path: z.string() }),
  /** A model in the shared models folder (../shared/models), as shipped for development and tests. */
  z.object({ kind: z.literal('shared'), path: z.string() }),
  /** A Hugging Face hub file, downloaded once into the cache. */
  z.object({ kind: z.literal('hub'), repo: z.string(), file: z.string(), revision: z.string().default('main') }),
]);
export type BackboneSource = z.infer<typeof backboneSourceSchema>;

/** Everything needed to turn an image into a feature vector with one ONNX model (timm's pretrained_cfg). */
export const backboneSpecSchema = z.object({
  name: z.string(),
  description: z.string().default(''),
  source: backboneSourceSchema,
  /** Expected sha256 of the ONNX file, when known in advance. */
  sha256: z.string().optional(),
  inputName: z.string(),
  /** Output holding features: [N, D] (pooling 'none'), [N, C, H, W] ('gap') or [N, T, D] ('cls' / 'mean-tokens'). */
  featureOutput: z.string(),
  pooling: z.enum(poolings),
  /** Spatial feature-map output, when the model exposes one. */
  mapOutput: z.string().optional(),
  featureDim: z.number().int().positive().optional(),
  /** Input size the graph is fixed to, if it is not size-agnostic. */
  fixedInputSize: z.tuple([z.number().int(), z.number().int()]).optional(),
  /** Input must be a multiple of this (e.g. ViT patch size); sizes are rounded to it. */
  sizeMultiple: z.number().int().positive().default(1),
  preprocess: preprocessSpecSchema,
  license: z.string().optional(),
});
export type BackboneSpec = z.infer<typeof backboneSpecSchema>;
