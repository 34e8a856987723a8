import { createSessionCache, type Device } from '../backbone/session.js';
import { identifyImages, type IdentifiedImage } from '../dataset/identify.js';
import { expandImageInputs } from '../dataset/inputs.js';
import { readDataset, type ReadDatasetOptions } from '../dataset/read-dataset.js';
import type { SkippedImage } from '../dataset/scan.js';
import type { ImageRecord } from '../dataset/types.js';
import type { Ensemble, EnsembleEvaluation, EnsembleProbabilities, PredictOptions } from '../ensemble/ensemble.js';
import { skippedInputs, toPredictions, type Predictions } from '../ensemble/predictions.js';
import type { ExplainOptions, HeatmapSet } from '../explain/explain-images.js';
import { explainedPredictions, type ExplainedPrediction } from '../explain/prediction-explanation.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { boundedMemoryStores } from '../features/store-provider.js';
import { stripUndefined } from '../util/objects.js';
import { defaultCacheDir } from '../util/paths.js';
import { loadBundle } from './bundle.js';
import { ensembleFromManifest } from './ensemble-from-bundle.js';
import type { BundleManifest } from './manifest.js';
import { openQueueExtraction, type QueueOptions } from '../queue/queue-extraction.js';

export interface LoadModelOptions {
  device?: Device;
  /** Feature cache (default: $LENSEMBLE_CACHE or ~/.cache/lensemble). */
  cacheDir?: string;
  batchSize?: number;
  progress?: boolean;
  /** Use the members' test-time augmentation (default true); each call may override it. */
  tta?: boolean;
  /**
   * Keep feature rows in a bounded memory of this many rows (least recently used go first) instead of the disk
   * cache: what a server wants, so unique uploads never grow a cache without bound.
   */
  memoryCacheRows?: number;
  /** Open every member's backbone now (a server fails before it listens) rather than on first use. */
  openNow?: boolean;
  /** Extract the features of new images on the workers of a Redis queue (`lensemble worker`); heads run here. */
  queue?: QueueOptions;
}

export interface Explanations extends Omit<Predictions, 'predictions'> {
  predictions: ExplainedPrediction[];
  /** The maps behind `predictions[i].explanation.heatmap`, unrounded; and which members made them. */
  heatmaps: HeatmapSet;
  /** The images of `predictions`, in order (their files). */
  images: IdentifiedImage[];
}

export interface EvaluateResult extends EnsembleEvaluation {
  skipped: SkippedImage[];
}

/** A saved model held in memory: backbone sessions stay open across calls until `close()`. */
export interface Model {
  dir: string;
  manifest: BundleManifest;
  labels: string[];
  ensemble: Ensemble;
  /** Files or folders (searched recursively), or records → one prediction per readable image. */
  predict(inputs: string[] | ImageRecord[], options?: PredictOptions): Promise<Predictions>;
  predictProba(images: IdentifiedImage[], options?: PredictOptions): Promise<EnsembleProbabilities>;
  /** Predictions with a Grad-CAM heatmap each (`explanation`); `heatmaps` holds the maps as grids. */
  explain(inputs: string[] | ImageRecord[], options?: PredictOptions & ExplainOptions): Promise<Explanations>;
  /** Metrics on a labelled dataset (folder, CSV or Kaggle layout). */
  evaluate(data: string, options?: PredictOptions & { read?: ReadDatasetOptions }): Promise<EvaluateResult>;
  close(): Promise<void>;
}

/**
 * Loads a model bundle once — `const model = await loadModel(dir); await model.predict(['leaf.jpg']);
 * await model.close()` — checking every member's source (backbone present, same sha256).
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<Model> {
  const bundle = loadBundle(dir);
  const queue = options.queue ? await openQueueExtraction(options.queue) : undefined;
  const sessions = createSessionCache();
  const stores = options.memoryCacheRows ? boundedMemoryStores(options.memoryCacheRows) : undefined;
  const context = { cacheDir: options.cacheDir ?? defaultCacheDir(), device: options.device, batchSize: options.batchSize, progress: options.progress, sessions, stores, bundleDir: bundle.dir, queue };
  let ensemble: Ensemble;
  try {
    ensemble = await ensembleFromManifest(bundle.manifest, bundle.members, context);
    if (options.openNow) {
      for (const m of ensemble.members) {
        try {
          await m.source.open();
        } catch (err) {
          if (err instanceof LensembleError) throw err;
          throw new LensembleError(`member ${m.name}: cannot open its backbone (${errorMessage(err)})`, bundle.dir);
        }
      }
    }
  } catch (err) {
    await sessions.closeAll();
    await queue?.close();
    throw err;
  }
  const withDefaults = (o: PredictOptions = {}): PredictOptions => ({ tta: options.tta, progress: options.progress, ...stripUndefined(o) });
  const { labels } = bundle.manifest;
  const extraTargets = bundle.manifest.extraTargets ?? {};
  let closed = false;
  const live = () => {
    if (closed) throw new LensembleError('the model is closed', bundle.dir);
  };

  return {
    dir: bundle.dir,
    manifest: bundle.manifest,
    labels,
    ensemble,
    async predict(inputs, o) {
      live();
      const records = inputs.length && typeof inputs[0] === 'string' ? await expandImageInputs(inputs as string[]) : (inputs as ImageRecord[]);
      const identified = await identifyImages(records);
      const result = await ensemble.predictProba(identified.ok, withDefaults(o));
      return { labels, predictions: toPredictions(labels, extraTargets, result), skipped: skippedInputs([...identified.skipped, ...result.skipped]) };
    },
    async explain(inputs, o) {
      live();
      const records = inputs.length && typeof inputs[0] === 'string' ? await expandImageInputs(inputs as string[]) : (inputs as ImageRecord[]);
      const identified = await identifyImages(records);
      const { predictions: result, ...heatmaps } = await ensemble.explain(identified.ok, { ...withDefaults(o), classes: o?.classes });
      const predictions = explainedPredictions(toPredictions(labels, extraTargets, result), heatmaps, labels);
      return { labels, predictions, heatmaps, images: result.images, skipped: skippedInputs([...identified.skipped, ...result.skipped]) };
    },
    predictProba(images, o) {
      live();
      return ensemble.predictProba(images, withDefaults(o));
    },
    async evaluate(data, o = {}) {
      live();
      const dataset = await readDataset(data, o.read);
      const unknown = dataset.classes.filter((c) => !labels.includes(c));
      if (unknown.length) throw new LensembleError(`labels not known to the model: ${unknown.join(', ')} (model knows: ${labels.join(', ')})`, data);
      const labelled = dataset.records.filter((r) => r.label !== undefined);
      if (labelled.length === 0) throw new LensembleError('no labelled images to evaluate on', data);
      const identified = await identifyImages(labelled);
      const result = await ensemble.evaluate(identified.ok, withDefaults(o));
      return { ...result, skipped: [...identified.skipped, ...result.skipped] };
    },
    async close() {
      closed = true;
      await sessions.closeAll();
      await queue?.close();
    },
  };
}
