import { z } from 'zod';
import { DEFAULT_BATCH_SIZE } from '../defaults.js';

/** `trainable=all` or `trainable=last:K` (K blocks from the end of the backbone). */
export const trainableSchema = z
  .union([z.literal('all'), z.string().regex(/^last:[1-9]\d*$/, "'all' or last:K (K ≥ 1 blocks from the end)")])
  .default('all')
  .describe("what trains: 'all', or last:K — the last K blocks, on cached activations of the frozen rest");

/**
 * fastai's `fine_tune(epochs, base_lr, freeze_epochs)`: the head alone first (here: a linear head fitted on cached
 * frozen features of `freezeEpochs` augmented views), then everything trainable for `epochs` of
 * `fit_one_cycle(epochs, slice(base_lr/2/lrMult, base_lr/2), pct_start=0.3, div=5)` with AdamW.
 */
export const fineTuneRecipeFields = {
  finetune: z.number().int().min(1).max(1000).describe("epochs of fine-tuning (fastai's fine_tune(epochs))"),
  trainable: trainableSchema,
  lr: z.number().positive().default(0.01).describe("base_lr of fine_tune (halved after the frozen phase, as fastai does); lower it (e.g. 0.002) for a few dozen photos"),
  freezeEpochs: z.number().int().min(0).max(64).default(1).describe('frozen epochs first: augmented views of every image the head is fitted on'),
  lrMult: z.number().min(1).default(100).describe('discriminative lr: earliest layer group at lr/lrMult, the head at lr'),
  lrGroups: z.number().int().min(1).max(8).default(3).describe("layer groups for discriminative lrs, the head's last: 3 = fastai's ResNet split (two body halves + head); 2 = its timm split (body, head)"),
  pctStart: z.number().gt(0).lt(1).default(0.3).describe('fraction of the one cycle warming up'),
  div: z.number().gt(0).default(5).describe('starting lr = lr / div'),
  weightDecay: z.number().min(0).default(0.01).describe('AdamW decoupled weight decay (not on biases)'),
  labelSmoothing: z.number().min(0).lt(1).default(0.1).describe('label smoothing ε of the cross-entropy'),
  batchSize: z.number().int().min(2).max(1024).default(DEFAULT_BATCH_SIZE).describe('images per training step (memory grows with it: ~0.1 GB per image at 224² for all)'),
};
export const fineTuneRecipeSchema = z.object(fineTuneRecipeFields);
export type FineTuneRecipe = z.infer<typeof fineTuneRecipeSchema>;

export function parseTrainable(text: string): 'all' | { last: number } {
  return text === 'all' ? 'all' : { last: Number(text.slice('last:'.length)) };
}
