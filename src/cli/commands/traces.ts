import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { loadBundle } from '../../bundle/bundle.js';
import { identifyImages } from '../../dataset/identify.js';
import { readDataset } from '../../dataset/read-dataset.js';
import { formatSkipped } from '../../dataset/summary.js';
import { parseMemberSpec } from '../../ensemble/member-spec.js';
import { TRACES_REFERENCE, tracesMemberOf } from '../../sources/traces-source.js';
import { formatEvaluationText } from '../../evaluate/report.js';
import { formatResultsText } from '../../evaluate/results-table.js';
import { formatTable, pct } from '../../evaluate/table.js';
import { explainTraceDecision } from '../../forensics/explain.js';
import { iterationColumns, extractTraceFeatures } from '../../forensics/trace-features.js';
import { defaultKernelSizes, defaultTraceFeatures, traceOptionsSchema, type TraceSettings } from '../../forensics/trace-options.js';
import { kernelHeatmapSpec } from '../../report/kernel-plot.js';
import { renderPlot } from '../../report/plots.js';
import { train } from '../../pipeline/train.js';
import { LensembleError } from '../../util/errors.js';
import { defaultCacheDir } from '../../util/paths.js';
import { addQueueOptions, makeLogger, parseChoice, parseNumberOption, progressFor, queueOptions, type OutputFlags, type QueueFlags } from '../options.js';
import { withQueue } from '../../queue/queue-extraction.js';

const classifiers = ['random-forest', 'svm', 'knn', 'lda'] as const;

interface TraceFlags extends OutputFlags, QueueFlags {
  kernelSize?: number;
  kernelSizes?: number[];
  appendSigma?: boolean;
  appendIterations?: boolean;
  traceSeed: number;
  cacheDir?: string;
}

function parseKernelSizes(text: string): number[] {
  const parse = parseNumberOption('--kernel-sizes', { integer: true, min: 2, max: 15 });
  return text.split(',').map((part) => parse(part.trim()));
}

const onOff = (on: boolean) => (on ? 'on' : 'off');

function addTraceOptions(cmd: Command): Command {
  return addQueueOptions(cmd)
    .option('-n, --kernel-size <n>', `kernel size N (3, 4, 5, 7…); even N uses offsets −N/2 … N/2−1 (default ${defaultKernelSizes.join(',')})`, parseNumberOption('--kernel-size', { integer: true, min: 2, max: 15 }))
    .option('--kernel-sizes <list>', 'several kernel sizes, e.g. 3,5: each N\'s kernels (and σ/iterations) concatenated', parseKernelSizes)
    .option('--append-sigma', `append each channel's final σ to the features (default ${onOff(defaultTraceFeatures.appendSigma)})`)
    .option('--no-append-sigma', "leave each channel's σ out of the features")
    .option('--append-iterations', `append each channel's EM iteration count to the features (default ${onOff(defaultTraceFeatures.appendIterations)})`)
    .option('--no-append-iterations', "leave each channel's iteration count out of the features")
    .option('--trace-seed <n>', 'seed of the random initial kernels', parseNumberOption('--trace-seed', { integer: true, min: 0 }), 0)
    .option('--cache-dir <dir>', 'feature cache folder (default: $LENSEMBLE_CACHE or ~/.cache/lensemble)');
}

/** The trace settings the flags ask for; what they leave out takes the defaults of trace-options.ts. */
function traceSettingsOf(flags: TraceFlags): TraceSettings {
  if (flags.kernelSize !== undefined && flags.kernelSizes !== undefined) throw new LensembleError('give --kernel-size or --kernel-sizes, not both');
  return traceOptionsSchema.parse({
    ...(flags.kernelSize !== undefined ? { kernelSize: flags.kernelSize } : {}),
    ...(flags.kernelSizes !== undefined ? { kernelSizes: flags.kernelSizes } : {}),
    ...(flags.appendSigma !== undefined ? { appendSigma: flags.appendSigma } : {}),
    ...(flags.appendIterations !== undefined ? { appendIterations: flags.appendIterations } : {}),
    seed: flags.traceSeed,
  });
}

function traceMemberFields(flags: TraceFlags): Record<string, unknown> {
  const { kernelSizes, appendSigma, appendIterations, seed } = traceSettingsOf(flags);
  return { kernelSizes, appendSigma, appendIterations, emSeed: seed };
}

export function registerTraces(program: Command): void {
  const traces = program
    .command('traces')
    .description('Deepfake forensics by convolutional traces (Guarnera, Giudice & Battiato 2020): EM estimates the local convolution kernel of each colour channel; classical classifiers classify the kernels.');

  addTraceOptions(
    traces
      .command('extract')
      .description('Estimate the EM kernels of every image of a dataset (all cores, cached, resumable) and report convergence; optionally write them as CSV.')
      .requiredOption('-d, --data <path>', 'dataset: image folder, CSV list or Kaggle folder')
      .option('--csv <file>', 'write id,label,<feature columns> to this CSV'),
  )
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no progress bar')
    .action(async (flags: TraceFlags & { data: string; csv?: string }) => {
      const options = traceSettingsOf(flags);
      const extract = { cacheDir: flags.cacheDir ?? defaultCacheDir(), progress: progressFor(flags) };
      const { identified, result } = await withQueue(queueOptions(flags, makeLogger({ quiet: flags.quiet || flags.json })), async (queue) => {
        const identified = await identifyImages((await readDataset(flags.data)).records);
        const items = identified.ok.map((i) => ({ id: i.record.id, path: i.record.path, contentHash: i.contentHash }));
        return { identified, result: await (queue ? queue.extractTraces(items, options, extract) : extractTraceFeatures(items, options, extract)) };
      });
      const skipped = [...identified.skipped, ...result.failures];
      const done = identified.ok.filter((i) => result.store.has(i.contentHash, 0));
      const iterCols = iterationColumns(options);
      const iterations = done.flatMap((i) => iterCols.map((c) => result.store.get(i.contentHash, 0)![c]));
      const converged = iterations.filter((it) => it < options.maxIterations).length;
      const summary = {
        images: done.length,
        skipped: skipped.length,
        computed: result.computed,
        fromCache: result.reused,
        seconds: result.seconds,
        meanIterations: iterations.reduce((a, b) => a + b, 0) / Math.max(1, iterations.length),
        maxIterations: Math.max(0, ...iterations),
        convergedChannels: converged / Math.max(1, iterations.length),
        features: result.names.length,
      };
      if (flags.csv) {
        const lines = [['id', 'label', ...result.names].join(',')];
        for (const i of done) lines.push([JSON.stringify(i.record.id), i.record.label ?? '', ...Array.from(result.features.get(i.contentHash, 0)!, (v) => v.toPrecision(7))].join(','));
        writeFileSync(flags.csv, lines.join('\n') + '\n');
      }
      if (flags.json) {
        process.stdout.write(JSON.stringify({ ...summary, skippedImages: skipped }, null, 2) + '\n');
        return;
      }
      if (skipped.length) process.stderr.write(formatSkipped(skipped) + '\n');
      process.stdout.write(
        `EM traces N=${options.kernelSizes.join('+')}: ${summary.images} images (${summary.computed} computed, ${summary.fromCache} from cache) in ${summary.seconds.toFixed(1)} s\n` +
          `  ${summary.features} features per image; mean ${summary.meanIterations.toFixed(1)} EM iterations per channel (max ${summary.maxIterations}), ` +
          `${pct(summary.convergedChannels, 1)} of channels converged before ${options.maxIterations}\n` +
          (flags.csv ? `  written to ${flags.csv}\n` : ''),
      );
    });

  addTraceOptions(
    traces
      .command('train')
      .description('Train trace classifiers (Random Forest, SVM, kNN, LDA) on a real/fake dataset with the honest group-aware split, report them side by side, and save a bundle that `predict` and `traces explain` use.')
      .requiredOption('-d, --data <path>', 'dataset with real and fake classes (image folder, CSV list, …)')
      .requiredOption('-o, --out <dir>', 'run folder for the model bundle and reports')
      .option('-c, --classifier <kind>', `${classifiers.join(' | ')} | all (all four, averaged into an ensemble)`, 'random-forest')
      .option('--cv <k>', 'also report group-aware k-fold cross-validation accuracy', parseNumberOption('--cv', { integer: true, min: 2, max: 20 }))
      .option('--valid-pct <fraction>', 'validation fraction', parseNumberOption('--valid-pct', { min: 0.01, max: 0.9 }), 0.2)
      .option('--seed <n>', 'seed of the split and the classifiers', parseNumberOption('--seed', { integer: true, min: 0 }), 42),
  )
    .option('--json', 'print the result as JSON')
    .option('-q, --quiet', 'no progress bars or log lines')
    .action(async (flags: TraceFlags & { data: string; out: string; classifier: string; cv?: number; validPct: number; seed: number }) => {
      const kinds = flags.classifier === 'all' ? [...classifiers] : [parseChoice('--classifier', classifiers)(flags.classifier)];
      const members = kinds.map((head) => parseMemberSpec({ backbone: TRACES_REFERENCE, head, ...traceMemberFields(flags) }));
      const result = await train({
        data: flags.data,
        out: flags.out,
        members,
        cv: flags.cv,
        validPct: flags.validPct,
        seed: flags.seed,
        cacheDir: flags.cacheDir,
        progress: progressFor(flags),
        log: makeLogger({ quiet: flags.quiet || flags.json }),
        queue: queueOptions(flags, makeLogger({ quiet: flags.quiet || flags.json })),
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ model: result.outDir, ...result.evaluation, members: result.rows, crossValidation: result.members.map((m) => ({ name: m.name, ...m.crossValidation })) }, null, 2) + '\n');
        return;
      }
      process.stdout.write(formatResultsText(result.rows) + '\n\n');
      for (const m of result.members) if (m.crossValidation) process.stdout.write(`${m.name}: ${m.crossValidation.folds}-fold CV accuracy ${pct(m.crossValidation.mean)} ± ${pct(m.crossValidation.std)}\n`);
      process.stdout.write(formatEvaluationText(result.evaluation, 'Validation') + `\n\nModel saved to ${result.outDir}.\n`);
    });

  traces
    .command('explain')
    .description('Explain a traces model\'s decision on one image: its EM kernels next to each class\'s mean kernels, and the kernel positions that pushed the decision (drawn as heat maps).')
    .argument('<image>', 'image file')
    .requiredOption('-m, --model <dir>', 'bundle with a traces member (from `lensemble traces train` or an ensemble with a traces member)')
    .option('-o, --out <path>', 'picture path without extension (writes .svg and .png)', 'explain')
    .option('--top <k>', 'kernel positions listed', parseNumberOption('--top', { integer: true, min: 1 }), 8)
    .option('--json', 'print the explanation as JSON')
    .action(async (image: string, flags: { model: string; out: string; top: number; json?: boolean }) => {
      const bundle = loadBundle(flags.model);
      const loaded = tracesMemberOf(bundle);
      if (!loaded) throw new LensembleError('this model has no traces member to explain', bundle.dir);
      const explanation = await explainTraceDecision(image, loaded.entry, loaded.head, bundle.manifest.labels);
      const n = loaded.entry.traces.kernelSizes.join('+');
      const probs = Object.entries(explanation.probabilities).map(([l, p]) => `${l} ${pct(p, 1)}`).join(', ');
      const picture = await renderPlot(kernelHeatmapSpec(explanation.cells, `EM kernels (N=${n}) of ${image.split('/').pop()}`, `${loaded.member.name}: ${explanation.label} (${probs})`), flags.out);
      if (flags.json) {
        process.stdout.write(JSON.stringify({ ...explanation, cells: undefined, picture }, null, 2) + '\n');
        return;
      }
      const rows = explanation.contributions.slice(0, flags.top).map((c) => [
        c.feature,
        c.value.toFixed(4),
        c.mean.toFixed(4),
        `${c.push >= 0 ? '+' : ''}${(100 * c.push).toFixed(1)} pts`,
        c.importance === undefined ? '-' : c.importance.toFixed(3),
      ]);
      process.stdout.write(
        `${image}: ${explanation.label} (${probs}) by ${loaded.member.name}\n` +
          `EM iterations per channel: ${explanation.iterations.join(', ')}${explanation.converged.every(Boolean) ? '' : ' (not all converged)'}\n\n` +
          `Kernel positions that pushed the decision (push = drop in P(${explanation.label}) when the value is replaced by the training mean):\n` +
          formatTable(['feature', 'value', 'train mean', 'push', 'RF importance'], rows, ['left', 'right', 'right', 'right', 'right']) +
          `\n\nPicture: ${picture.png} (and .svg)\n`,
      );
    });
}
