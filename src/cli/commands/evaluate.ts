import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { formatSkipped } from '../../dataset/summary.js';
import { formatEvaluationMarkdown, formatEvaluationText } from '../../evaluate/report.js';
import { evaluateModel } from '../../pipeline/evaluate.js';
import { addInferenceOptions, addQueueOptions, inferenceOptions, makeLogger, queueOptions, type QueueFlags, type InferenceFlags, type OutputFlags } from '../options.js';

interface EvaluateFlags extends OutputFlags, InferenceFlags, QueueFlags {
  model: string;
  data: string;
  report?: string;
}

export function registerEvaluate(program: Command): void {
  const command = program
    .command('evaluate')
    .description('Evaluate a saved model on a labelled dataset: accuracy, error rate, per-class precision/recall/F1, confusion matrix, log loss.')
    .requiredOption('-m, --model <dir>', 'model bundle folder written by `lensemble train`')
    .requiredOption('-d, --data <path>', 'labelled dataset: image folder, CSV list or Kaggle folder');
  addQueueOptions(addInferenceOptions(command))
    .option('--report <file.md>', 'also write a markdown report to this file')
    .option('--json', 'print metrics as JSON (accuracy, errorRate, n, logLoss, perClass, confusion, …)')
    .option('-q, --quiet', 'no progress bars or log lines')
    .action(async (flags: EvaluateFlags) => {
      const log = makeLogger({ quiet: flags.quiet || flags.json });
      const result = await evaluateModel(flags.model, flags.data, { ...inferenceOptions(flags), queue: queueOptions(flags, log) });
      if (result.skipped.length) log(formatSkipped(result.skipped));
      if (flags.report) writeFileSync(flags.report, formatEvaluationMarkdown(result.evaluation, `Evaluation on ${flags.data}`) + '\n');
      if (flags.json) {
        const members = result.members.length > 1 ? { members: result.members.map((m) => ({ name: m.name, accuracy: m.evaluation.accuracy, errorRate: m.evaluation.errorRate })) } : {};
        process.stdout.write(JSON.stringify({ ...result.evaluation, ...members, skipped: result.skipped }, null, 2) + '\n');
      } else {
        process.stdout.write(formatEvaluationText(result.evaluation, `Evaluation on ${flags.data}`) + '\n');
      }
    });
}
