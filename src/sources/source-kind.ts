import type { z } from 'zod';
import type { BackboneOverrides } from '../backbone/resolve.js';
import type { BackboneSession, Device, SessionCache } from '../backbone/session.js';
import type { BackboneSpec } from '../backbone/spec.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import type { SkippedImage } from '../dataset/scan.js';
import type { FittedHead } from '../ensemble/fit-heads.js';
import type { TtaSettings } from '../ensemble/tta.js';
import type { ExtractItem } from '../features/extract.js';
import type { FeatureStore } from '../features/feature-store.js';
import type { FeatureStores } from '../features/store-provider.js';
import type { QueueExtraction } from '../queue/queue-extraction.js';
import type { Classifier } from '../heads/classifier.js';
import type { PeakMemory } from '../util/memory.js';

/** Where a member's features come from, for tables and `GET /api/model`. */
export interface SourceDescription {
  /** Architecture or method, e.g. "mobilenetv2_100" or "em-traces N=3". */
  arch: string;
  /** Model input size ("224", "320x240"), or "full" for methods that read every pixel. */
  imageSize: string;
  /** Resize rule, or "-". */
  resize: string;
  /** Backbone name, when the source runs one. */
  backbone: string | null;
  inputSize: { width: number; height: number; resize: string } | null;
}

/** A set of cached views: the store and the view indices in it (1..K). */
export interface CachedViews {
  store: FeatureStore;
  views: number[];
}

/** What a source hands the heads: feature rows by (content hash, view), cached on disk by content. */
export interface SourceFeatures {
  /** View 0 (the plain view) of every image asked for. */
  plain: FeatureStore;
  /** Augmented training views (training only). */
  augmented?: CachedViews;
  /** The test-time augmentation views of the images predicted. */
  tta?: CachedViews;
  failures: SkippedImage[];
  computed: number;
  reused: number;
  seconds: number;
}

/** Settings every source gets from the run. */
export interface SourceContext {
  cacheDir: string;
  device?: Device;
  batchSize?: number;
  progress?: boolean;
  /** Backbone sessions shared by the members of one model (and kept open across calls). */
  sessions: SessionCache;
  /** Where feature rows live at inference (default: the disk cache under `cacheDir`; a server keeps a bounded memory). */
  stores?: FeatureStores;
  /** When set (`--queue`), features are extracted by the queue's workers instead of here; same options, same results. */
  queue?: QueueExtraction;
}

export interface TrainContext extends SourceContext {
  overrides?: BackboneOverrides;
  memory: PeakMemory;
  log: (line: string) => void;
}

/** A labelled image of the training run: its class index in `labels`. */
export interface LabelledItem extends ExtractItem {
  y: number;
}

/** The member-level settings a source sees (views and TTA are drawn by sources that know how). */
export interface MemberViewSettings {
  views: number;
  tta: TtaSettings;
  seed: number;
}

export interface TrainingImages {
  train: LabelledItem[];
  valid: LabelledItem[];
  labels: string[];
}

/** A source after training: its features for training and validation, and its manifest entry. */
export interface TrainedSource {
  description: SourceDescription;
  /** Plain view of every image, augmented views of the training images, TTA views of the validation images. */
  features: SourceFeatures;
  /** The bundle entry; `training` holds the training rows of this source's features (e.g. for class means). */
  toManifest(training: { features: FeatureStore; hashes: string[]; y: Int32Array; labels: string[] }): SourceEntry;
  /** Extra files that belong in the bundle (name relative to the bundle folder → bytes). */
  files?: Record<string, Uint8Array>;
  /** The head trained together with the source (a fine-tuned backbone's), used when the member's head kind matches. */
  head?: FittedHead;
  /** Pages of the run report about this member (files named `<base>…` in the run folder), linked from report.md. */
  writeReportPages?(outDir: string, base: string, input: ReportPageInput): Promise<ReportPage[]>;
}

/** What a source's report pages see: the training rows (as toManifest gets them) and the member's fitted head. */
export interface ReportPageInput {
  memberName: string;
  training: { features: FeatureStore; hashes: string[]; y: Int32Array; labels: string[] };
  head: Classifier;
}

/** A page of the run report: its title and file (relative to the run folder). */
export interface ReportPage {
  title: string;
  file: string;
}

/** A source ready to compute features of new images (sessions opened on first need, kept until close). */
export interface LoadedSource {
  description: SourceDescription;
  entry: SourceEntry;
  /** Plain features of the items and, when `tta` is given, their TTA views. */
  extract(items: ExtractItem[], options: { tta?: TtaSettings; label: string; progress?: boolean }): Promise<SourceFeatures>;
  /** Opens what the source needs (e.g. its backbone session) now, so a server can fail before it listens. */
  open(): Promise<void>;
  /** The ONNX network behind the features, for sources that run one (heatmaps and `lensemble export` use it). */
  network?: SourceNetwork;
}

/** An ONNX model that turns an image, preprocessed as `preprocess` says, into the member's features. */
export interface SourceNetwork {
  /** The ONNX file (its graph is copied into exported models). */
  modelPath: string;
  /** Input and output names, pooling and the spatial feature-map output (`mapOutput`), if any. */
  spec: BackboneSpec;
  preprocess: PreprocessSpec;
  /** The member's session (opened on first need, shared with feature extraction). */
  session(): Promise<BackboneSession>;
}

/** A source's manifest entry: its kind plus whatever that kind stores. */
export interface SourceEntry {
  kind: string;
  [key: string]: unknown;
}

/**
 * One kind of member source (a frozen backbone, EM traces, a fine-tuned backbone, …): everything the pipeline
 * needs to know of it lives in its module, found through the registry (src/sources/registry.ts).
 */
export interface SourceKind {
  kind: string;
  /** One line for `--help` and listings. */
  description: string;
  /** The settings a member of this kind takes (each with its default), strict: unknown keys are named. */
  settings: z.ZodObject;
  /** The manifest entry (with `kind`). */
  manifest: z.ZodObject;
  /** Whether a member written `reference[,key=value…]` (keys: explicit and default ones) is of this kind. */
  claims(reference: string, keys: ReadonlySet<string>): boolean;
  /** The settings a reference stands for (e.g. { backbone: reference }). */
  fromReference(reference: string): Record<string, unknown>;
  /** Whether augmented training views and TTA apply (traces read untouched pixels: they do not). */
  augmentable: boolean;
  /** Head used when the member names none. */
  defaultHead?: string;
  /** What a manifest entry of this kind describes (for tables and `GET /api/model`, without loading anything). */
  describe(entry: SourceEntry): SourceDescription;
  /** Parts of the default member name, e.g. ['traces', 'n3']; the head kind is appended. */
  nameParts(settings: Record<string, unknown>, description: SourceDescription): string[];
  train(settings: Record<string, unknown>, member: MemberViewSettings, images: TrainingImages, context: TrainContext): Promise<TrainedSource>;
  load(entry: SourceEntry, context: SourceContext & { bundleDir: string }): Promise<LoadedSource>;
}
