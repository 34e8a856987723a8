import { z } from 'zod';
import { resolveDataConfig } from '../backbone/data-config.js';
import { resolveBackbone, resolveBackboneSpec, type ResolvedBackbone } from '../backbone/resolve.js';
import { openBackbone, type BackboneSession } from '../backbone/session.js';
import { backboneSpecSchema, type BackboneSpec } from '../backbone/spec.js';
import type { SkippedImage } from '../dataset/scan.js';
import type { TtaSettings } from '../ensemble/tta.js';
import { cachedExtraction, extractFeatures, type ExtractItem, type ExtractOptions, type ExtractResult } from '../features/extract.js';
import { augmentationRecipe, ttaPlan, type AugmentationSettings } from '../features/member-views.js';
import { fastaiDefaults, resolveAugmentSpec } from '../images/augment-spec.js';
import { interpolations, preprocessSpecSchema, resizeMethods, type PreprocessSpec } from '../images/preprocess-spec.js';
import type { QueueExtraction } from '../queue/queue-extraction.js';
import type { LoadedSource, SourceContext, SourceDescription, SourceEntry, SourceFeatures, SourceKind } from './source-kind.js';

export const backboneSettingsSchema = z.object({
  backbone: z.string().min(1).describe('registered name (lensemble models list), path to an .onnx file, or hf:org/repo/file.onnx[@rev]'),
  size: z.union([z.number().int().positive(), z.string().regex(/^\d+(x\d+)?$/)]).optional().describe("input size, e.g. 224 or 320x240 (default: the backbone's)"),
  resize: z.enum(resizeMethods).optional().describe("how images reach the input size (default: the backbone's)"),
  cropPct: z.number().gt(0).max(1).optional().describe('for resize=crop: fraction of the centred region kept'),
  interpolation: z.enum(interpolations).optional().describe('resampling filter'),
  augment: z.record(z.string(), z.unknown()).optional().describe('overrides of the fastai augmentation defaults, e.g. { "maxRotate": 20 }, and the forensic blurProb, blurSigma, jpegProb, jpegQuality (README)'),
});
export type BackboneSettings = z.infer<typeof backboneSettingsSchema>;

export const backboneEntrySchema = z.object({
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
});
export type BackboneEntry = z.infer<typeof backboneEntrySchema>;

export function describeBackbone(spec: BackboneSpec, preprocess: PreprocessSpec): SourceDescription {
  const size = preprocess.width === preprocess.height ? `${preprocess.width}` : `${preprocess.width}x${preprocess.height}`;
  return {
    arch: spec.name,
    imageSize: size,
    resize: preprocess.resize,
    backbone: spec.name,
    inputSize: { width: preprocess.width, height: preprocess.height, resize: preprocess.resize },
  };
}

/** Runs one extraction and collects its counts and failures (each file reported once). */
export function extractionTally() {
  const tally = { computed: 0, reused: 0, failures: [] as SkippedImage[] };
  const add = (r: ExtractResult) => {
    tally.computed += r.computed;
    tally.reused += r.reused;
    for (const f of r.failures) if (!tally.failures.some((x) => x.path === f.path)) tally.failures.push(f);
    return r.store;
  };
  return { tally, add };
}

/** Features of a frozen backbone's views: plain, and the TTA views when asked. */
export async function extractBackboneViews(
  backbone: { spec: BackboneSpec; sha256: string },
  session: () => Promise<BackboneSession>,
  common: Omit<ExtractOptions, 'session' | 'items' | 'label'>,
  items: ExtractItem[],
  plan: { tta?: TtaSettings; augmentation: AugmentationSettings; label: string; queue?: QueueExtraction },
): Promise<SourceFeatures> {
  const started = performance.now();
  const { tally, add } = extractionTally();
  const extract = async (options: Omit<ExtractOptions, 'session'>) =>
    plan.queue ? plan.queue.extractFeatures({ ...options, backbone }) : extractFeatures({ ...options, session: await session() });
  const run = async (options: Omit<ExtractOptions, 'session'>) => add(cachedExtraction(backbone, options) ?? (await extract(options)));
  const plain = await run({ ...common, items, label: plan.label });
  const views = plan.tta ? ttaPlan(plan.tta, plan.augmentation) : undefined;
  const tta = views && items.length ? { store: await run({ ...common, items, recipe: views.recipe, views: views.views, label: `${plan.label} TTA` }), views: views.views } : undefined;
  return { plain, tta, ...tally, seconds: (performance.now() - started) / 1000 };
}

/** A source that computes features with an ONNX backbone at inference (frozen and fine-tuned kinds share it). */
export function loadedBackboneSource(
  entry: SourceEntry,
  backbone: ResolvedBackbone,
  preprocess: PreprocessSpec,
  augmentation: AugmentationSettings,
  context: SourceContext,
): LoadedSource {
  let session: Promise<BackboneSession> | undefined;
  const open = () => (session ??= context.sessions.open(backbone, { device: context.device }));
  return {
    description: describeBackbone(backbone.spec, preprocess),
    entry,
    async open() {
      await open();
    },
    network: { modelPath: backbone.modelPath, spec: backbone.spec, preprocess, session: open },
    extract: (items, options) =>
      extractBackboneViews(backbone, open, { preprocess, cacheRoot: context.cacheDir, stores: context.stores, batchSize: context.batchSize, progress: options.progress ?? context.progress }, items, {
        tta: options.tta,
        augmentation,
        label: options.label,
        queue: context.queue,
      }),
  };
}

/** A frozen pretrained backbone: its pooled features, of the plain view and of fastai-augmented views. */
export const backboneSource: SourceKind = {
  kind: 'backbone',
  description: 'a frozen pretrained ONNX backbone; its pooled features of the plain view and of augmented views',
  settings: backboneSettingsSchema,
  manifest: backboneEntrySchema,
  claims: () => true,
  fromReference: (reference) => ({ backbone: reference }),
  augmentable: true,
  describe: (raw) => {
    const entry = raw as BackboneEntry;
    return describeBackbone(entry.backbone.spec, entry.preprocess);
  },
  nameParts: (_settings, d) => [d.arch, d.imageSize, d.resize],

  async train(raw, member, images, context) {
    const settings = raw as BackboneSettings;
    const started = performance.now();
    const backbone = await resolveBackbone(settings.backbone, { cacheDir: context.cacheDir, overrides: context.overrides });
    const session = await openBackbone(backbone, { device: context.device });
    try {
      const preprocess = resolveDataConfig(session.spec, settings);
      const augmentation: AugmentationSettings = { spec: resolveAugmentSpec(settings.augment ?? {}, fastaiDefaults), seed: member.seed };
      const common = { session, preprocess, cacheRoot: context.cacheDir, batchSize: context.batchSize, progress: context.progress };
      const tag = `${session.spec.name}@${preprocess.width}`;
      const { tally, add } = extractionTally();
      const run = async (options: ExtractOptions) => add(await (context.queue ? context.queue.extractFeatures({ ...options, backbone: session }) : extractFeatures(options)));
      const train = images.train;
      const valid = images.valid;
      const plain = await run({ ...common, items: [...train, ...valid], label: `${tag} plain` });
      const augmentedViews = Array.from({ length: member.views }, (_, v) => v + 1);
      const augmented = member.views > 0 ? { store: await run({ ...common, items: train, recipe: augmentationRecipe(augmentation), views: augmentedViews, label: `${tag} ${member.views} aug views` }), views: augmentedViews } : undefined;
      const plan = ttaPlan(member.tta, augmentation);
      const tta = plan && valid.length ? { store: await run({ ...common, items: valid, recipe: plan.recipe, views: plan.views, label: `${tag} TTA views` }), views: plan.views } : undefined;
      context.memory.sample();
      const spec = session.spec;
      const entry: BackboneEntry = { kind: 'backbone', backbone: { reference: settings.backbone, spec, sha256: backbone.sha256 }, preprocess, augmentation };
      return {
        description: describeBackbone(spec, preprocess),
        features: { plain, augmented, tta, ...tally, seconds: (performance.now() - started) / 1000 },
        toManifest: () => entry,
      };
    } finally {
      await session.close();
    }
  },

  async load(raw, context) {
    const entry = backboneEntrySchema.parse(raw);
    const backbone = await resolveBackboneSpec(entry.backbone.spec, { cacheDir: context.cacheDir, expectedSha256: entry.backbone.sha256 });
    return loadedBackboneSource(entry, backbone, entry.preprocess, entry.augmentation, context);
  },
};
