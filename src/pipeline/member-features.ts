import { resolveDataConfig } from '../backbone/data-config.js';
import { resolveBackbone, type BackboneOverrides, type ResolvedBackbone } from '../backbone/resolve.js';
import { openBackbone, type Device } from '../backbone/session.js';
import type { BackboneSpec } from '../backbone/spec.js';
import type { SkippedImage } from '../dataset/scan.js';
import { isTracesMember, type MemberSpec } from '../ensemble/member-spec.js';
import { extractFeatures, type ExtractItem } from '../features/extract.js';
import type { FeatureStore } from '../features/feature-store.js';
import { augmentationRecipe, ttaPlan, type AugmentationSettings } from '../features/member-views.js';
import { extractTraceFeatures } from '../forensics/trace-features.js';
import { traceOptionsSchema, type TraceSettings } from '../forensics/trace-options.js';
import { fastaiDefaults, resolveAugmentSpec } from '../images/augment-spec.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import type { PeakMemory } from '../util/memory.js';

/** Where a member's features come from. */
export type MemberSource =
  | { kind: 'backbone'; backbone: ResolvedBackbone; backboneSpec: BackboneSpec; preprocess: PreprocessSpec; augmentation: AugmentationSettings }
  | { kind: 'traces'; traces: TraceSettings; featureNames: string[]; iterations: FeatureStore };

export interface MemberFeatures {
  spec: MemberSpec;
  source: MemberSource;
  /** Short description for tables: architecture, image size, resize rule. */
  arch: string;
  imageSize: string;
  resize: string;
  plain: FeatureStore;
  /** Store of augmented training views 1..K (when K > 0). */
  augmented?: FeatureStore;
  /** Store holding the TTA views (the augmented store for fastai TTA, a flip store for flip TTA). */
  tta?: { store: FeatureStore; views: number[] };
  failures: SkippedImage[];
  extractSeconds: number;
  computed: number;
  reused: number;
  peakMemory: number;
}

export interface MemberFeatureOptions {
  cacheDir: string;
  device?: Device;
  batchSize?: number;
  progress?: boolean;
  seed: number;
  overrides?: BackboneOverrides;
  memory: PeakMemory;
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/**
 * Everything expensive for one member, cached by content: plain features of every image, K augmented views
 * of the training images, and the TTA views of the validation images (or the EM traces of every image).
 */
export async function extractMemberFeatures(spec: MemberSpec, train: ExtractItem[], valid: ExtractItem[], options: MemberFeatureOptions): Promise<MemberFeatures> {
  options.memory.reset();
  return isTracesMember(spec) ? extractTracesMember(spec, [...train, ...valid], options) : extractBackboneMember(spec, train, valid, options);
}

export function traceSettingsOf(spec: MemberSpec): TraceSettings {
  const parsed = traceOptionsSchema.safeParse({
    ...spec.traces,
    ...(spec.kernelSize !== undefined ? { kernelSize: spec.kernelSize } : {}),
    ...(spec.appendSigma !== undefined ? { appendSigma: spec.appendSigma } : {}),
    ...(spec.appendIterations !== undefined ? { appendIterations: spec.appendIterations } : {}),
  });
  if (!parsed.success) throw new LensembleError(`invalid EM trace settings: ${errorMessage(parsed.error)}`);
  return parsed.data;
}

async function extractTracesMember(spec: MemberSpec, items: ExtractItem[], options: MemberFeatureOptions): Promise<MemberFeatures> {
  if (spec.views > 0 || spec.tta !== 'none') {
    spec = { ...spec, views: 0, tta: 'none' }; // traces are measured on the untouched pixels: no augmentation
  }
  const traces = traceSettingsOf(spec);
  const result = await extractTraceFeatures(items, traces, { cacheDir: options.cacheDir, progress: options.progress });
  options.memory.sample();
  return {
    spec,
    source: { kind: 'traces', traces, featureNames: result.names, iterations: result.store },
    arch: `em-traces N=${traces.kernelSize}`,
    imageSize: 'full',
    resize: '-',
    plain: result.features,
    failures: result.failures,
    extractSeconds: result.seconds,
    computed: result.computed,
    reused: result.reused,
    peakMemory: options.memory.peak(),
  };
}

async function extractBackboneMember(spec: MemberSpec, train: ExtractItem[], valid: ExtractItem[], options: MemberFeatureOptions): Promise<MemberFeatures> {
  const started = performance.now();
  const backbone = await resolveBackbone(spec.backbone, { cacheDir: options.cacheDir, overrides: options.overrides });
  const session = await openBackbone(backbone, { device: options.device });
  const preprocess = resolveDataConfig(session.spec, { size: spec.size, resize: spec.resize, cropPct: spec.cropPct, interpolation: spec.interpolation });
  const augmentation: AugmentationSettings = { spec: resolveAugmentSpec(spec.augment ?? {}, fastaiDefaults), seed: spec.seed ?? options.seed };
  const common = { session, preprocess, cacheRoot: options.cacheDir, batchSize: options.batchSize, progress: options.progress };
  const tag = `${session.spec.name}@${preprocess.width}`;
  const failures: SkippedImage[] = [];
  let computed = 0;
  let reused = 0;
  const run = async (args: Parameters<typeof extractFeatures>[0]) => {
    const r = await extractFeatures(args);
    computed += r.computed;
    reused += r.reused;
    for (const f of r.failures) if (!failures.some((x) => x.path === f.path)) failures.push(f);
    return r.store;
  };
  try {
    const plain = await run({ ...common, items: [...train, ...valid], label: `${tag} plain` });
    const recipe = augmentationRecipe(augmentation);
    const augmented = spec.views > 0 ? await run({ ...common, items: train, recipe, views: range(spec.views), label: `${tag} ${spec.views} aug views` }) : undefined;
    const plan = ttaPlan({ kind: spec.tta, views: spec.ttaViews }, augmentation);
    const ttaStore = plan && valid.length ? await run({ ...common, items: valid, recipe: plan.recipe, views: plan.views, label: `${tag} TTA views` }) : undefined;
    options.memory.sample();
    return {
      spec,
      source: { kind: 'backbone', backbone, backboneSpec: session.spec, preprocess, augmentation },
      arch: session.spec.name,
      imageSize: preprocess.width === preprocess.height ? `${preprocess.width}` : `${preprocess.width}x${preprocess.height}`,
      resize: preprocess.resize,
      plain,
      augmented,
      tta: ttaStore && plan ? { store: ttaStore, views: plan.views } : undefined,
      failures,
      extractSeconds: (performance.now() - started) / 1000,
      computed,
      reused,
      peakMemory: options.memory.peak(),
    };
  } finally {
    await session.close();
  }
}
