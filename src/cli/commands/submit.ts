import type { Command } from 'commander';
import { writeSubmission } from '../../pipeline/submit.js';
import { parseChoice, parseNumberOption, progressFor, type OutputFlags } from '../options.js';

interface SubmitFlags extends OutputFlags {
  model: string;
  data: string;
  out: string;
  device: 'cpu' | 'cuda';
  cacheDir?: string;
  batchSize: number;
  tta: boolean;
}

export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .description('Write a Kaggle submission.csv (image_id,label for every test image, in sample_submission.csv order); refuses, writing nothing, if any test image is missing or unreadable.')
    .requiredOption('-m, --model <dir>', 'model bundle folder written by `lensemble train`')
    .requiredOption('-d, --data <dir>', 'Kaggle competition folder (train.csv, test_images/, sample_submission.csv)')
    .option('-o, --out <file>', 'where to write the submission', 'submission.csv')
    .option('--device <device>', 'cpu | cuda', parseChoice('--device', ['cpu', 'cuda'] as const), 'cpu')
    .option('--batch-size <n>', 'images per backbone batch', parseNumberOption('--batch-size', { integer: true, min: 1 }), 32)
    .option('--cache-dir <dir>', 'feature cache folder (default: $LENSEMBLE_CACHE or ~/.cache/lensemble)')
    .option('--no-tta', "skip the members' test-time augmentation")
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no progress bars')
    .action(async (flags: SubmitFlags) => {
      const result = await writeSubmission(flags.model, flags.data, flags.out, { device: flags.device, cacheDir: flags.cacheDir, batchSize: flags.batchSize, tta: flags.tta, progress: progressFor(flags) });
      if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      else process.stdout.write(`Wrote ${result.rows} predictions to ${result.path} (${Object.entries(result.labelCounts).map(([l, n]) => `${l} ${n}`).join(', ')})\n`);
    });
}
