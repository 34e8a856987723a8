// `npm run bench`: every benchmark in one run, printed as it goes and saved to bench/out/results.json.
// Flags: --only=extraction,decode,augment,heads,classifiers,em,serve,queue,grouping,finetune,grad-formulations,browser-export,
// ensemble,rice-accuracy,forensics-accuracy,forensics-robustness
// (default: the speed benchmarks; the accuracy sweeps and the ensemble take 10–30 minutes each)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { runAugmentBench } from './augment-bench.js';
import { runBrowserExportBench } from './browser-export-bench.js';
import { runClassifiersBench } from './classifiers-bench.js';
import { runDecodeBench } from './decode-bench.js';
import { runEmBench } from './em-bench.js';
import { runEnsembleBench } from './ensemble-bench.js';
import { runExtractionBench } from './extraction-bench.js';
import { runFinetuneBench } from './finetune-bench.js';
import { runGradFormulationsBench } from './grad-formulations-bench.js';
import { runHeadsBench } from './heads-bench.js';
import { runRiceAccuracy } from './rice-accuracy.js';
import { runServeBench } from './serve-bench.js';
import { runQueueBench } from './queue-bench.js';
import { runForensicsAccuracy } from './forensics-accuracy.js';
import { runForensicsRobustness } from './forensics-robustness.js';
import { runGroupingBench } from './grouping-bench.js';

const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const SLOW = ['browser-export', 'ensemble', 'rice-accuracy', 'forensics-accuracy', 'forensics-robustness'];
const wanted = (name: string): boolean => (only ? only.includes(name) : !SLOW.includes(name));
const log = (line: string): void => console.log(line);
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  date: new Date().toISOString(),
};

/** Each benchmark: its --only name, its heading, and how it runs (returning the result keys it fills). */
const benchmarks: { name: string; title: string; run(): Promise<Record<string, unknown>> }[] = [
  {
    name: 'extraction',
    title: 'Feature extraction: whole path vs onnxruntime alone (default sessions, then one wide session)',
    run: async () => ({ extraction: await runExtractionBench({ log }), extractionOneSession: await runExtractionBench({ log, sessions: 1 }) }),
  },
  { name: 'decode', title: 'Image → model input: sharp vs mozjpeg/wasm + SIMD resample', run: async () => ({ decode: await runDecodeBench({ log }) }) },
  {
    name: 'augment',
    title: 'Augmentation throughput',
    run: async () => {
      const r = await runAugmentBench({});
      for (const s of r.sizes) log(`augment → ${s.size}×${s.size}: ${s.imagesPerSecond.toFixed(0)} images/s (${s.imagesPerCpuSecond.toFixed(0)} per CPU-second)`);
      return { augment: r };
    },
  },
  { name: 'heads', title: 'Head training', run: async () => ({ heads: runHeadsBench({ log }) }) },
  {
    name: 'classifiers',
    title: 'Classical classifiers (Random Forest vs ml-random-forest; peer timed at 10 trees, extrapolated to 100)',
    run: async () => ({ classifiers: runClassifiersBench({ peerTrees: 10, log }) }),
  },
  { name: 'em', title: 'EM convolutional traces vs numpy', run: async () => ({ em: await runEmBench({ log }) }) },
  { name: 'serve', title: 'lensemble serve under load (loopback, 8 connections)', run: async () => ({ serve: await runServeBench({ log }) }) },
  { name: 'queue', title: 'Feature extraction here vs through the Redis queue (worker processes on this machine)', run: async () => ({ queue: await runQueueBench({ log }) }) },
  {
    name: 'grouping',
    title: 'Near-duplicate grouping at 10k, 100k, 1M hashes: multi-index vs LSH vs all pairs',
    run: async () => ({ grouping: await runGroupingBench({ log }) }),
  },
  {
    name: 'finetune',
    title: 'Fine-tuning step: MobileNetV2 224², batch 32, full and last:2, against PyTorch',
    run: async () => ({ finetune: await runFinetuneBench({ log }) }),
  },
  { name: 'grad-formulations', title: 'Gradient formulations the Conv and mask rules chose between', run: async () => ({ gradFormulations: await runGradFormulationsBench({ log }) }) },
  {
    name: 'browser-export',
    title: 'The exported page in Chromium vs lensemble predict --no-tta (rice validation photos)',
    run: async () => ({ browserExport: await runBrowserExportBench({ log }) }),
  },
  { name: 'ensemble', title: 'Three-member ensemble from raw images', run: async () => ({ ensemble: await runEnsembleBench({ log }) }) },
  { name: 'rice-accuracy', title: 'Rice-leaf accuracy over split seeds', run: async () => ({ riceAccuracy: await runRiceAccuracy({ log }) }) },
  { name: 'forensics-accuracy', title: 'Fake-faces accuracy: EM traces × classifiers', run: async () => ({ forensicsAccuracy: await runForensicsAccuracy({ log }) }) },
  {
    name: 'forensics-robustness',
    title: 'Fake-faces under JPEG re-compression and resizing: default CNN member vs the forensics preset (3 split seeds)',
    run: async () => ({ forensicsRobustness: (await runForensicsRobustness({ seeds: [42, 1, 2], log })).cells }),
  },
];
for (const bench of benchmarks.filter((b) => wanted(b.name))) {
  log(`\n## ${bench.title}`);
  Object.assign(results, await bench.run());
}
mkdirSync('bench/out', { recursive: true });
const file = `bench/out/results-${only ? only.join('+') : 'speed'}.json`;
writeFileSync(file, JSON.stringify(results, null, 2));
log(`\nSaved ${file}`);
