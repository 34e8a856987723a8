import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { resolveDataConfig } from '../backbone/data-config.js';
import { resolveBackbone, type ResolvedBackbone } from '../backbone/resolve.js';
import { openBackbone } from '../backbone/session.js';
import { backboneSpecSchema } from '../backbone/spec.js';
import { extractFeatures, type ExtractOptions } from '../features/extract.js';
import { augmentationRecipe, type AugmentationSettings } from '../features/member-views.js';
import { gatherFeatures } from '../features/gather.js';
import type { FeatureStore } from '../features/feature-store.js';
import { fineTuneBackbone, fineTunedBackbonePath, hasFineTuneResult, type FineTuneEpoch } from '../finetune/fine-tune.js';
import { fineTuneRecipeFields, fineTuneRecipeSchema, type FineTuneRecipe } from '../finetune/recipe.js';
import type { FitReport } from '../heads/classifier.js';
import { affineOfLinearHead, createLinearHead, linearHeadFromAffine } from '../heads/linear.js';
import { fastaiDefaults, resolveAugmentSpec } from '../images/augment-spec.js';
import { preprocessSpecSchema } from '../images/preprocess-spec.js';
import { LensembleError } from '../util/errors.js';
import { canonicalJson, sha256Buffer, sha256File } from '../util/hash.js';
import { zeros } from '../util/matrix.js';
import { backboneSettingsSchema, describeBackbone, extractBackboneViews, extractionTally, loadedBackboneSource } from './backbone-source.js';
import type { SourceKind, TrainContext } from './source-kind.js';

export const finetuneSettingsSchema = backboneSettingsSchema.extend(fineTuneRecipeFields);
type FinetuneSettings = z.infer<typeof finetuneSettingsSchema>;

const epochRecord = z.object({
  epoch: z.number(),
  trainLoss: z.number(),
  validLoss: z.number().nullable(),
  validAccuracy: z.number().nullable(),
  imagesPerSecond: z.number(),
  seconds: z.number(),
  peakMemoryBytes: z.number(),
});

export const finetuneEntrySchema = z.object({
  kind: z.literal('finetune'),
  /** The pretrained backbone it started from. */
  backbone: z.object({ reference: z.string(), spec: backboneSpecSchema, sha256: z.string() }),
  /** The fine-tuned backbone: a file inside the bundle (the original graph with the new weights). */
  finetuned: z.object({ file: z.string(), sha256: z.string() }),
  preprocess: preprocessSpecSchema,
  augmentation: z.object({ spec: z.record(z.string(), z.unknown()), seed: z.number().int() }),
  recipe: fineTuneRecipeSchema,
  history: z.array(epochRecord),
  bestEpoch: z.number().int(),
});
type FinetuneEntry = z.infer<typeof finetuneEntrySchema>;

const recipeOf = (s: FinetuneSettings): FineTuneRecipe => fineTuneRecipeSchema.parse(s);

/** The fine-tuned backbone inside a bundle, checked against the sha256 the manifest recorded. */
async function bundledBackbone(entry: FinetuneEntry, bundleDir: string): Promise<ResolvedBackbone> {
  const modelPath = join(bundleDir, entry.finetuned.file);
  if (!existsSync(modelPath)) throw new LensembleError(`the fine-tuned backbone ${entry.finetuned.file} is missing from the bundle`, bundleDir);
  const sha256 = await sha256File(modelPath);
  if (sha256 !== entry.finetuned.sha256) throw new LensembleError(`the fine-tuned backbone has sha256 ${sha256}, but the manifest recorded ${entry.finetuned.sha256}`, modelPath);
  const spec = { ...entry.backbone.spec, name: `${entry.backbone.spec.name}-finetuned`, source: { kind: 'file' as const, path: modelPath }, sha256 };
  return { spec, modelPath, sha256 };
}

function fitReportOf(history: FineTuneEpoch[], bestEpoch: number, seconds: number, recipe: FineTuneRecipe): FitReport {
  return { seconds, epochs: history, bestEpoch: bestEpoch - 1, finetune: recipe };
}

/**
 * A backbone fine-tuned with fastai's `fine_tune` recipe (`mobilenetv2_100,finetune=5[,trainable=last:2]`): its
 * own weights trained by the ONNX autodiff (src/autodiff, src/finetune), then used like any backbone. The member's
 * head is the linear head trained with it.
 */
export const finetuneSource: SourceKind = {
  kind: 'finetune',
  description: "a pretrained ONNX backbone fine-tuned (fastai's fine_tune: head first, then everything, one cycle, discriminative lrs)",
  settings: finetuneSettingsSchema,
  manifest: finetuneEntrySchema,
  claims: (_reference, keys) => keys.has('finetune'),
  fromReference: (reference) => ({ backbone: reference }),
  augmentable: true,
  defaultHead: 'linear',
  describe: (raw) => {
    const entry = raw as FinetuneEntry;
    return { ...describeBackbone(entry.backbone.spec, entry.preprocess), arch: `${entry.backbone.spec.name} fine-tuned` };
  },
  nameParts: (settings, d) => [d.arch.replace(' fine-tuned', ''), d.imageSize, d.resize, `ft${(settings as FinetuneSettings).finetune}`],

  async train(raw, member, images, context) {
    const settings = raw as FinetuneSettings;
    const recipe = recipeOf(settings);
    const started = performance.now();
    const backbone = await resolveBackbone(settings.backbone, { cacheDir: context.cacheDir, overrides: context.overrides });
    const frozen = await openBackbone(backbone, { device: context.device });
    const spec = frozen.spec;
    const preprocess = resolveDataConfig(spec, settings);
    const augmentation: AugmentationSettings = { spec: resolveAugmentSpec(settings.augment ?? {}, fastaiDefaults), seed: member.seed };
    const tag = `${spec.name}@${preprocess.width} fine-tune`;
    const { tally, add } = extractionTally();

    // fastai's frozen phase: the head alone, here fitted on cached frozen features of `freezeEpochs` augmented views.
    const freezeViews = Array.from({ length: recipe.freezeEpochs }, (_, v) => v + 1);
    let plain: FeatureStore;
    let views: FeatureStore | undefined;
    try {
      const common = { session: frozen, preprocess, cacheRoot: context.cacheDir, batchSize: context.batchSize, progress: context.progress };
      // The frozen backbone's features can come from queue workers; fine-tuning and the fine-tuned features stay here.
      const run = async (options: ExtractOptions) => add(await (context.queue ? context.queue.extractFeatures({ ...options, backbone: frozen }) : extractFeatures(options)));
      plain = await run({ ...common, items: [...images.train, ...images.valid], label: `${tag}: frozen features` });
      views = freezeViews.length ? await run({ ...common, items: images.train, recipe: augmentationRecipe(augmentation), views: freezeViews, label: `${tag}: frozen aug views` }) : undefined;
    } finally {
      await frozen.close();
    }
    const readable = (items: typeof images.train) => items.filter((i) => !tally.failures.some((f) => f.path === i.path));
    const train = readable(images.train);
    const valid = readable(images.valid);
    const key = {
      backbone: backbone.sha256,
      spec: { input: spec.inputName, features: spec.featureOutput },
      preprocess,
      augmentation,
      recipe,
      seed: member.seed,
      labels: images.labels,
      train: train.map((t) => [t.contentHash, t.y]),
      valid: valid.map((t) => [t.contentHash, t.y]),
    };
    const workDir = join(context.cacheDir, 'finetune', sha256Buffer(canonicalJson(key)).slice(0, 16));
    // A finished run with the same inputs is reused as it is: its head needs no warm start.
    const warmStart = hasFineTuneResult(workDir) ? undefined : fitWarmStart(plain, views, freezeViews, { train, valid, labels: images.labels }, member.seed, context);
    const outcome = await fineTuneBackbone({
      model: readFileSync(backbone.modelPath),
      spec,
      preprocess,
      augmentation,
      recipe,
      head: warmStart,
      train,
      valid,
      classes: images.labels.length,
      seed: member.seed,
      workDir,
      cacheDir: context.cacheDir,
      device: context.device,
      progress: context.progress,
      log: context.log,
      memory: context.memory,
      label: tag,
    });
    const sha256 = sha256Buffer(outcome.backbone);
    const file = `backbones/${spec.name}-finetuned-${sha256.slice(0, 12)}.onnx`;
    const entry: FinetuneEntry = {
      kind: 'finetune',
      backbone: { reference: settings.backbone, spec, sha256: backbone.sha256 },
      finetuned: { file, sha256 },
      preprocess,
      augmentation,
      recipe,
      history: outcome.history,
      bestEpoch: outcome.bestEpoch,
    };
    // Features of the fine-tuned backbone: the plain view of every image, the TTA views of the validation images.
    const tunedPath = fineTunedBackbonePath(workDir);
    const tunedBackbone: ResolvedBackbone = { spec: { ...spec, name: `${spec.name}-finetuned`, source: { kind: 'file', path: tunedPath }, sha256 }, modelPath: tunedPath, sha256 };
    const session = await openBackbone(tunedBackbone, { device: context.device });
    try {
      const common = { preprocess, cacheRoot: context.cacheDir, batchSize: context.batchSize, progress: context.progress };
      const plain = await extractBackboneViews(tunedBackbone, async () => session, common, [...train, ...valid], { augmentation, label: `${tag}d plain` });
      const tta = member.tta.kind !== 'none' && valid.length ? await extractBackboneViews(tunedBackbone, async () => session, common, valid, { tta: member.tta, augmentation, label: `${tag}d` }) : undefined;
      context.memory.sample();
      const head = linearHeadFromAffine(outcome.head.weight, outcome.head.bias);
      return {
        description: { ...describeBackbone(spec, preprocess), arch: `${spec.name} fine-tuned` },
        features: {
          plain: plain.plain,
          tta: tta?.tta,
          failures: [...tally.failures, ...plain.failures, ...(tta?.failures ?? [])],
          computed: tally.computed + plain.computed + (tta?.computed ?? 0),
          reused: tally.reused + plain.reused + (tta?.reused ?? 0),
          seconds: (performance.now() - started) / 1000,
        },
        head: { head, fit: fitReportOf(outcome.history, outcome.bestEpoch, outcome.seconds, recipe) },
        toManifest: () => entry,
        files: { [file]: outcome.backbone },
      };
    } finally {
      await session.close();
    }
  },

  async load(raw, context) {
    const entry = finetuneEntrySchema.parse(raw);
    const backbone = await bundledBackbone(entry, context.bundleDir);
    const loaded = loadedBackboneSource(entry, backbone, entry.preprocess, entry.augmentation, context);
    return { ...loaded, description: finetuneSource.describe(entry) };
  },
};

/** The head of the frozen phase: a linear head on the frozen features (plain + augmented views), as affine weights. */
function fitWarmStart(
  plain: FeatureStore,
  views: FeatureStore | undefined,
  viewIndices: number[],
  images: { train: { contentHash: string; y: number }[]; valid: { contentHash: string; y: number }[]; labels: string[] },
  seed: number,
  context: TrainContext,
): { weight: Float32Array; bias: Float32Array } {
  const train = images.train.filter((t) => plain.has(t.contentHash, 0) && viewIndices.every((v) => views!.has(t.contentHash, v)));
  const valid = images.valid.filter((t) => plain.has(t.contentHash, 0));
  const parts = [gatherFeatures(plain, train.map((t) => t.contentHash)), ...viewIndices.map((v) => gatherFeatures(views!, train.map((t) => t.contentHash), v))];
  const X = zeros(parts.reduce((s, p) => s + p.rows, 0), parts[0].cols);
  parts.forEach((p, k) => X.data.set(p.data, k * p.data.length));
  const y = new Int32Array(X.rows);
  parts.forEach((_, k) => train.forEach((t, i) => (y[k * train.length + i] = t.y)));
  const head = createLinearHead(images.labels.length, { seed });
  const validSet = valid.length ? { X: gatherFeatures(plain, valid.map((t) => t.contentHash)), y: Int32Array.from(valid, (t) => t.y) } : undefined;
  const fit = head.fit(X, y, validSet ? { valid: validSet } : {});
  context.log(`fine-tune: head fitted on frozen features first (${fit.epochs.length} epochs, lr ${fit.lr.toExponential(2)})`);
  return affineOfLinearHead(head);
}
