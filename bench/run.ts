// `npm run bench`: every benchmark in one run, printed as it goes and saved to bench/out/results.json.
// Flags: --only=extraction,decode,augment,heads,classifiers,em,ensemble,rice-accuracy,forensics-accuracy
// (default: the speed benchmarks; the accuracy sweeps and the ensemble take 10–30 minutes each)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { runAugmentBench } from './augment-bench.js';
import { runClassifiersBench } from './classifiers-bench.js';
import { runDecodeBench } from './decode-bench.js';
import { runEmBench } from './em-bench.js';
import { runEnsembleBench } from './ensemble-bench.js';
import { runExtractionBench } from './extraction-bench.js';
import { runHeadsBench } from './heads-bench.js';
import { runRiceAccuracy } from './rice-accuracy.js';
import { runForensicsAccuracy } from './forensics-accuracy.js';

const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const SLOW = ['ensemble', 'rice-accuracy', 'forensics-accuracy'];
const wanted = (name: string): boolean => (only ? only.includes(name) : !SLOW.includes(name));
const log = (line: string): void => console.log(line);
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  date: new Date().toISOString(),
};

if (wanted('extraction')) {
  log('\n## Feature extraction: whole path vs onnxruntime alone');
  results.extraction = await runExtractionBench({ log });
  log('\n## Feature extraction: one wide session, for comparison');
  results.extractionOneSession = await runExtractionBench({ log, sessions: 1 });
}
if (wanted('decode')) {
  log('\n## Image → model input: sharp vs mozjpeg/wasm + SIMD resample');
  results.decode = await runDecodeBench({ log });
}
if (wanted('augment')) {
  log('\n## Augmentation throughput');
  const r = await runAugmentBench({});
  for (const s of r.sizes) log(`augment → ${s.size}×${s.size}: ${s.imagesPerSecond.toFixed(0)} images/s (${s.imagesPerCpuSecond.toFixed(0)} per CPU-second)`);
  results.augment = r;
}
if (wanted('heads')) {
  log('\n## Head training');
  results.heads = runHeadsBench({ log });
}
if (wanted('classifiers')) {
  log('\n## Classical classifiers (Random Forest vs ml-random-forest; peer timed at 10 trees, extrapolated to 100)');
  results.classifiers = runClassifiersBench({ peerTrees: 10, log });
}
if (wanted('em')) {
  log('\n## EM convolutional traces vs numpy');
  results.em = await runEmBench({ log });
}
if (wanted('ensemble')) {
  log('\n## Three-member ensemble from raw images');
  results.ensemble = await runEnsembleBench({ log });
}
if (wanted('rice-accuracy')) {
  log('\n## Rice-leaf accuracy over split seeds');
  results.riceAccuracy = await runRiceAccuracy({ log });
}
if (wanted('forensics-accuracy')) {
  log('\n## Fake-faces accuracy: EM traces × classifiers');
  results.forensicsAccuracy = await runForensicsAccuracy({ log });
}
mkdirSync('bench/out', { recursive: true });
const file = `bench/out/results-${only ? only.join('+') : 'speed'}.json`;
writeFileSync(file, JSON.stringify(results, null, 2));
log(`\nSaved ${file}`);
