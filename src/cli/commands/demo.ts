import type { Command } from 'commander';
import { join } from 'node:path';
import { train } from '../../pipeline/train.js';
import { parseMemberSpec } from '../../ensemble/member-spec.js';
import { LensembleError } from '../../util/errors.js';
import { findSharedDir } from '../../util/paths.js';
import { makeLogger, type OutputFlags } from '../options.js';
import { printTrainResult } from './train.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('The main job on the shipped example: on ../shared/data/rice-leaf (4 rice diseases), extract MobileNetV2 features of every photo and of 4 fastai-augmented views, train an MLP head, evaluate it with TTA on an honest near-duplicate-aware split, save the model and print the report.')
    .option('-o, --out <dir>', 'run folder', 'runs/demo')
    .option('-q, --quiet', 'no progress bars or log lines')
    .action(async (flags: OutputFlags & { out: string }) => {
      const shared = findSharedDir();
      if (!shared) throw new LensembleError('the shared data folder was not found: place it at ../shared beside the project, or set LENSEMBLE_SHARED');
      const data = join(shared, 'data', 'rice-leaf');
      const log = makeLogger(flags);
      log(`Training on ${data} → ${flags.out}`);
      const members = [parseMemberSpec({ backbone: 'mobilenetv2_100' })];
      const result = await train({ data, members, out: flags.out, log, progress: flags.quiet ? false : undefined });
      printTrainResult(result);
      process.stdout.write(`Try:\n  npx lensemble predict --model ${flags.out} ${join(data, 'blast')}\n`);
    });
}
