// A toy member source kind, written the way a new kind is added to lensemble: one module (this file) and one
// registry line (`registerSourceKind(projectionSource)` in the test). A fixed seeded random projection of a
// 16×16 thumbnail's pixels — crude, but a real feature: it separates rice diseases by colour.
import { z } from 'zod';
import type { ExtractItem } from '../../src/features/extract.js';
import { openFeatureStore } from '../../src/features/feature-store.js';
import { readImageBytes } from '../../src/images/decode.js';
import { defaultPreprocess } from '../../src/images/preprocess-spec.js';
import { resizeForModel } from '../../src/images/preprocess.js';
import type { SourceContext, SourceDescription, SourceFeatures, SourceKind } from '../../src/sources/source-kind.js';
import { createRng } from '../../src/util/rng.js';

const settings = z.object({
  dims: z.number().int().positive().default(24).describe('projected dimensions'),
  projectionSeed: z.number().int().min(0).default(7).describe('seed of the projection matrix'),
});
type Settings = z.infer<typeof settings>;
const entrySchema = settings.extend({ kind: z.literal('projection') });

const SIDE = 16;
const preprocess = { ...defaultPreprocess, width: SIDE, height: SIDE, resize: 'squish' as const };

function describe(s: Settings): SourceDescription {
  return { arch: `projection d=${s.dims}`, imageSize: `${SIDE}`, resize: 'squish', backbone: null, inputSize: { width: SIDE, height: SIDE, resize: 'squish' } };
}

async function extract(items: ExtractItem[], s: Settings, context: SourceContext): Promise<SourceFeatures> {
  const started = performance.now();
  const store = openFeatureStore(context.cacheDir, { kind: 'test-projection', ...s });
  const rng = createRng(s.projectionSeed);
  const inputs = SIDE * SIDE * 3;
  const matrix = Float32Array.from({ length: s.dims * inputs }, () => rng.normal() / Math.sqrt(inputs));
  const failures = [];
  let computed = 0;
  for (const item of items) {
    if (store.has(item.contentHash, 0)) continue;
    try {
      const image = await resizeForModel(await readImageBytes(item.path), item.path, preprocess);
      const features = new Float32Array(s.dims);
      for (let d = 0; d < s.dims; d++) {
        let sum = 0;
        for (let i = 0; i < inputs; i++) sum += matrix[d * inputs + i] * (image.data[i] / 255);
        features[d] = sum;
      }
      store.append([{ contentHash: item.contentHash, view: 0, features }]);
      computed++;
    } catch (err) {
      failures.push({ id: item.id, path: item.path, reason: (err as Error).message });
    }
  }
  return { plain: store, failures, computed, reused: items.length - computed - failures.length, seconds: (performance.now() - started) / 1000 };
}

export const projectionSource: SourceKind = {
  kind: 'projection',
  description: 'a fixed random projection of a 16×16 thumbnail (test kind)',
  settings,
  manifest: entrySchema,
  claims: (reference) => reference === 'projection',
  fromReference: () => ({}),
  augmentable: false,
  defaultHead: 'linear',
  describe: (entry) => describe(entrySchema.parse(entry)),
  nameParts: (s) => ['projection', `d${(s as Settings).dims}`],
  async train(raw, _member, images, context) {
    const s = settings.parse(raw);
    return {
      description: describe(s),
      features: await extract([...images.train, ...images.valid], s, context),
      toManifest: () => ({ kind: 'projection', ...s }),
    };
  },
  async load(raw, context) {
    const entry = entrySchema.parse(raw);
    return { description: describe(entry), entry, open: async () => {}, extract: (items) => extract(items, entry, context) };
  },
};
