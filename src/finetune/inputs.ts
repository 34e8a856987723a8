import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openBackbone, type Device } from '../backbone/session.js';
import type { BackboneSpec } from '../backbone/spec.js';
import { extractFeatures, type ExtractItem } from '../features/extract.js';
import type { FeatureStore } from '../features/feature-store.js';
import { augmentationRecipe, type AugmentationSettings } from '../features/member-views.js';
import { renderViews } from '../features/recipes.js';
import type { RenderPool } from '../features/render-pool.js';
import { plainViews } from '../features/view-recipe.js';
import { readImageBytes } from '../images/decode.js';
import { writeNormalizedChw } from '../images/preprocess.js';
import type { PreprocessSpec } from '../images/preprocess-spec.js';
import { mapConcurrent } from '../util/concurrency.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { sha256Buffer } from '../util/hash.js';

/** One training or validation input: an image and the view of it (0 = plain, 1.. = seeded augmented views). */
export interface InputRequest {
  item: ExtractItem;
  view: number;
}

/** Fills a batch tensor with what the trainable part of the network reads, one image after the other. */
export interface InputSource {
  fill(requests: InputRequest[], batch: Float32Array): Promise<void>;
  close(): Promise<void>;
}

const changedOnDisk = (reason: string, path: string) =>
  // These images were read when their frozen features were extracted: one failing now changed on disk.
  new LensembleError(`cannot read a training image during fine-tuning (${reason}); the run resumes from its last epoch once it is back`, path);

/**
 * Images decoded, augmented and normalised on the fly: a fresh seeded view of every image each epoch. On render
 * threads when `pool` has any (they render the next batch while the main thread runs a step), else here.
 */
export function renderedInputs(preprocess: PreprocessSpec, augmentation: AugmentationSettings, pool?: RenderPool): InputSource {
  const recipe = augmentationRecipe(augmentation);
  const pixels = 3 * preprocess.width * preprocess.height;
  const threads = pool && pool.size > 0 ? pool : undefined;
  return {
    async fill(requests, batch) {
      await mapConcurrent(requests.map((r, slot) => ({ ...r, slot })), threads ? 2 * threads.size : 4, async ({ item, view, slot }) => {
        const viewRecipe = view === 0 ? plainViews : recipe;
        if (threads) {
          const rendered = await threads.render({ path: item.path, contentHash: item.contentHash, views: [view], recipe: viewRecipe.key, preprocess });
          if ('reason' in rendered) throw changedOnDisk(rendered.reason, item.path);
          batch.set(rendered.data, slot * pixels);
          return;
        }
        try {
          const bytes = await readImageBytes(item.path);
          const [image] = await renderViews(viewRecipe, bytes, item, [view], preprocess);
          writeNormalizedChw(image, preprocess, batch, slot * pixels);
        } catch (err) {
          throw changedOnDisk(errorMessage(err), item.path);
        }
      });
    },
    close: async () => {},
  };
}

export interface ActivationCacheRequest {
  /** The frozen prefix (data input → the cut activation). */
  prefix: Uint8Array;
  cut: string;
  spec: BackboneSpec;
  preprocess: PreprocessSpec;
  augmentation: AugmentationSettings;
  train: ExtractItem[];
  valid: ExtractItem[];
  /** The augmented views of the training images the epochs read. */
  views: number[];
  workDir: string;
  cacheDir: string;
  device?: Device;
  progress?: boolean;
  label: string;
}

/**
 * `trainable=last:K`: the frozen prefix runs once per image × view — its output cached in the feature store like
 * any features (keyed by the prefix's sha256, the cut and the view recipe), so a rerun skips it — and each step
 * reads the cached activations of its batch.
 */
export async function cachedActivationInputs(request: ActivationCacheRequest): Promise<InputSource> {
  const sha256 = sha256Buffer(request.prefix);
  mkdirSync(request.workDir, { recursive: true });
  const modelPath = join(request.workDir, `prefix-${sha256.slice(0, 16)}.onnx`);
  writeFileSync(modelPath, request.prefix);
  const spec: BackboneSpec = {
    ...request.spec,
    name: `${request.spec.name}-prefix`,
    source: { kind: 'file', path: modelPath },
    sha256,
    featureOutput: request.cut,
    pooling: 'flatten',
    mapOutput: undefined,
    featureDim: undefined,
  };
  const session = await openBackbone({ spec, modelPath, sha256 }, { device: request.device });
  let plain: FeatureStore;
  let augmented: FeatureStore;
  try {
    const common = { session, preprocess: request.preprocess, cacheRoot: request.cacheDir, progress: request.progress };
    augmented = (await extractFeatures({ ...common, items: request.train, recipe: augmentationRecipe(request.augmentation), views: request.views, label: `${request.label} prefix, ${request.views.length} views` })).store;
    plain = (await extractFeatures({ ...common, items: request.valid, label: `${request.label} prefix, validation` })).store;
  } finally {
    await session.close();
  }
  return {
    async fill(requests, batch) {
      const width = augmented.dim ?? plain.dim!;
      requests.forEach(({ item, view }, slot) => {
        const row = (view === 0 ? plain : augmented).get(item.contentHash, view);
        if (!row) throw new LensembleError(`no cached activation of view ${view} (it could not be read)`, item.path);
        batch.set(row, slot * width);
      });
    },
    close: async () => {},
  };
}
