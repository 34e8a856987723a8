// Child process for the kill -9 test: extracts features for the images listed in argv and prints a line per batch.
import { resolveBackbone } from '../../src/backbone/resolve.js';
import { openBackbone } from '../../src/backbone/session.js';
import { resolveDataConfig } from '../../src/backbone/data-config.js';
import { extractFeatures } from '../../src/features/extract.js';
import { identifyImages } from '../../src/dataset/identify.js';

const [cacheDir, ...paths] = process.argv.slice(2);
const backbone = await resolveBackbone('squeezenet1_1');
const session = await openBackbone(backbone, { threads: 1 });
const { ok } = await identifyImages(paths.map((p) => ({ id: p, path: p })));
const result = await extractFeatures({
  session,
  preprocess: resolveDataConfig(session.spec, { size: 128 }),
  items: ok.map((o) => ({ id: o.record.id, path: o.record.path, contentHash: o.contentHash })),
  cacheRoot: cacheDir,
  batchSize: 2,
  progress: false,
  onBatch: (done, total) => console.log(`batch ${done}/${total}`),
});
console.log(`done computed=${result.computed} reused=${result.reused}`);
