// Child process for the coordinator-restart test: extracts the listed images through the queue (SqueezeNet at
// 128, plain view and two augmented views) and prints the coordinator's lines and a summary.
import { resolveDataConfig } from '../../src/backbone/data-config.js';
import { resolveBackbone } from '../../src/backbone/resolve.js';
import { openBackbone } from '../../src/backbone/session.js';
import { identifyImages } from '../../src/dataset/identify.js';
import { augmentedViews } from '../../src/features/augmented-views.js';
import { fastaiDefaults } from '../../src/images/augment-spec.js';
import { openQueueExtraction } from '../../src/queue/queue-extraction.js';

const [url, cacheDir, shardSize, ...paths] = process.argv.slice(2);
const backbone = await resolveBackbone('squeezenet1_1');
const session = await openBackbone(backbone, { threads: 1, sessions: 1 }); // for the completed spec only
const { ok } = await identifyImages(paths.map((p) => ({ id: p, path: p })));
const queue = await openQueueExtraction({ url, shardSize: Number(shardSize), log: (line) => console.log(line) });
const result = await queue.extractFeatures({
  backbone: { spec: session.spec, sha256: backbone.sha256 },
  preprocess: resolveDataConfig(session.spec, { size: 128 }),
  items: ok.map((o) => ({ id: o.record.id, path: o.record.path, contentHash: o.contentHash })),
  cacheRoot: cacheDir,
  recipe: augmentedViews(fastaiDefaults, 42),
  views: [0, 1, 2],
  progress: false,
});
console.log(`done computed=${result.computed} reused=${result.reused}`);
await queue.close();
await session.close();
