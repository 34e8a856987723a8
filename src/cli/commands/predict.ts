import type { Command } from 'commander';
import { formatSkipped } from '../../dataset/summary.js';
import { formatTable, pct } from '../../evaluate/table.js';
import { loadModel, type LoadModelOptions } from '../../bundle/load-model.js';
import { describeHeatmapMembers, writeExplanationImages } from '../../explain/write-explanations.js';
import type { Predictions } from '../../ensemble/predictions.js';
import { predict } from '../../pipeline/predict.js';
import { LensembleError } from '../../util/errors.js';
import { addInferenceOptions, addQueueOptions, inferenceOptions, makeLogger, queueOptions, type QueueFlags, parseNumberOption, type InferenceFlags, type OutputFlags } from '../options.js';

interface PredictFlags extends OutputFlags, InferenceFlags, QueueFlags {
  model: string;
  top: number;
  explain?: string;
}

/** Predictions with heatmaps, their PNGs written into `dir`. */
async function predictExplained(modelDir: string, images: string[], dir: string, options: LoadModelOptions, log: (line: string) => void): Promise<Predictions> {
  const model = await loadModel(modelDir, options);
  try {
    const explanations = await model.explain(images);
    log(`lensemble: ${describeHeatmapMembers(explanations)}`);
    const files = await writeExplanationImages(dir, explanations);
    log(`lensemble: wrote ${files.length} heatmap image${files.length === 1 ? '' : 's'} to ${dir}`);
    return explanations;
  } finally {
    await model.close();
  }
}

export function registerPredict(program: Command): void {
  const command = program
    .command('predict')
    .description('Predict labels for images (files or folders) with a saved model.')
    .argument('<images...>', 'image files or folders (searched recursively)')
    .requiredOption('-m, --model <dir>', 'model bundle folder written by `lensemble train`');
  addQueueOptions(addInferenceOptions(command))
    .option('--top <k>', 'probabilities shown per image in the table', parseNumberOption('--top', { integer: true, min: 1 }), 3)
    .option('--json', 'print { predictions: [{ name, label, confidence, probabilities, targets? }], skipped: [{ name, reason }] } (the HTTP API\'s shape)')
    .option('--explain <dir>', "write, per image, a PNG of the photo beside its Grad-CAM heatmap (where the model looked for its label) into <dir>; --json adds each one's file and heatmap grid")
    .option('-q, --quiet', 'no progress bars or log lines')
    .action(async (images: string[], flags: PredictFlags) => {
      const log = makeLogger({ quiet: flags.quiet || flags.json });
      const options = { ...inferenceOptions(flags), queue: queueOptions(flags, log) };
      const result = flags.explain ? await predictExplained(flags.model, images, flags.explain, options, log) : await predict(flags.model, images, options);
      if (result.skipped.length) log(formatSkipped(result.skipped.map((s) => ({ path: s.name, reason: s.reason }))));
      if (flags.json) {
        process.stdout.write(JSON.stringify({ predictions: result.predictions, skipped: result.skipped }, null, 2) + '\n');
      } else if (result.predictions.length) {
        const rows = result.predictions.map((p) => {
          const top = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]).slice(0, flags.top);
          const extra = Object.entries(p.targets ?? {}).map(([t, v]) => `${t}: ${v.label} ${pct(v.confidence, 1)}`);
          const note = p.unfamiliar ? '⚠ unfamiliar' : p.lowConfidence ? '⚠ low confidence' : '';
          return [p.name, p.label, pct(p.confidence, 1), [top.map(([l, v]) => `${l} ${pct(v, 1)}`).join(', '), ...extra].join(' | '), note];
        });
        const flagged = result.predictions.filter((p) => p.warning);
        process.stdout.write(formatTable(['image', 'label', 'confidence', `top ${flags.top}`, flagged.length ? 'note' : ''], rows, ['left', 'left', 'right', 'left', 'left']) + '\n');
        for (const p of flagged.slice(0, 20)) log(`${p.name}: ${p.warning}`);
      }
      if (result.predictions.length === 0) throw new LensembleError('no readable images to predict');
      if (result.skipped.length) {
        log(`lensemble: ${result.skipped.length} of ${result.skipped.length + result.predictions.length} inputs skipped (listed above)`);
        process.exitCode = 1;
      }
    });
}
