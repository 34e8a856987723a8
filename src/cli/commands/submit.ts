import type { Command } from 'commander';
import { writeSubmission } from '../../pipeline/submit.js';
import { addInferenceOptions, addQueueOptions, inferenceOptions, makeLogger, queueOptions, type InferenceFlags, type OutputFlags, type QueueFlags } from '../options.js';

interface SubmitFlags extends OutputFlags, InferenceFlags, QueueFlags {
  model: string;
  data: string;
  out: string;
}

export function registerSubmit(program: Command): void {
  const command = program
    .command('submit')
    .description('Write a Kaggle submission.csv (image_id,label for every test image, in sample_submission.csv order); refuses, writing nothing, if any test image is missing or unreadable.')
    .requiredOption('-m, --model <dir>', 'model bundle folder written by `lensemble train`')
    .requiredOption('-d, --data <dir>', 'Kaggle competition folder (train.csv, test_images/, sample_submission.csv)');
  addQueueOptions(addInferenceOptions(command))
    .option('-o, --out <file>', 'where to write the submission', 'submission.csv')
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no progress bars')
    .action(async (flags: SubmitFlags) => {
      const result = await writeSubmission(flags.model, flags.data, flags.out, { ...inferenceOptions(flags), queue: queueOptions(flags, makeLogger({ quiet: flags.quiet || flags.json })) });
      if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(`Wrote ${result.rows} predictions to ${result.path} (${Object.entries(result.labelCounts).map(([l, n]) => `${l} ${n}`).join(', ')})\n`);
    });
}
