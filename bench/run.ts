// `npm run bench`: every benchmark in one run, printed as it goes and saved to bench/out/results.json.
// Flags: --only=extraction,augment,heads,classifiers,em,ensemble  (default: all but ensemble)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { runAugmentBench } from './augment-bench.js';
import { runClassifiersBench } from './classifiers-bench.js';
import { runEmBench } from './em-bench.js';
import { runEnsembleBench } from './ensemble-bench.js';
import { runExtractionBench } from './extraction-bench.js';
import { runHeadsBench } from './heads-bench.js';

const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const wanted = (name: string): boolean => (only ? only.includes(name) : name !== 'ensemble');
const log = (line: string): void => console.log(line);
const results: Record<string, unknown> = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  date: new Date().toISOString(),
};

if (wanted('extraction')) {
  log('\n## Feature extraction: whole path vs onnxruntime alone');
  results.extraction = await runExtractionBench({ log });
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
mkdirSync('bench/out', { recursive: true });
writeFileSync('bench/out/results.json', JSON.stringify(results, null, 2));
log('\nSaved bench/out/results.json');
