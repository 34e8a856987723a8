import { Command, CommanderError } from 'commander';
import { LensembleError } from '../util/errors.js';
import { LENSEMBLE_VERSION } from '../version.js';
import { registerDemo } from './commands/demo.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerExport } from './commands/export.js';
import { registerListings } from './commands/listings.js';
import { registerModels } from './commands/models.js';
import { registerPredict } from './commands/predict.js';
import { registerServe } from './commands/serve.js';
import { registerSubmit } from './commands/submit.js';
import { registerTrain } from './commands/train.js';
import { registerTraces } from './commands/traces.js';
import { registerQueue } from './commands/queue.js';
import { registerWorker } from './commands/worker.js';

export function buildProgram(): Command {
  const program = new Command('lensemble')
    .description('Train, evaluate and serve image classifiers by transfer learning on ONNX backbones.')
    .version(LENSEMBLE_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      [
        '',
        'Environment:',
        '  LENSEMBLE_CACHE           feature and download cache (default ~/.cache/lensemble)',
        '  LENSEMBLE_SHARED          the shared example data for `lensemble demo` (default ../shared)',
        '  LENSEMBLE_SESSIONS        ONNX Runtime sessions per backbone (default: 2 on the CPU, 1 on CUDA)',
        '  LENSEMBLE_RENDER_THREADS  threads that decode images (default: none below 8 cores on the CPU)',
        '  LENSEMBLE_DEBUG=1         print stack traces of unexpected errors',
      ].join('\n'),
    )
    .exitOverride();
  registerTrain(program);
  registerEvaluate(program);
  registerPredict(program);
  registerSubmit(program);
  registerServe(program);
  registerExport(program);
  registerTraces(program);
  registerWorker(program);
  registerQueue(program);
  registerModels(program);
  registerListings(program);
  registerDemo(program);
  return program;
}

/** Runs the CLI; failures end with a one-line reason and a non-zero exit code. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`lensemble: ${message.split('\n')[0]}\n`);
    if (!(err instanceof LensembleError) && process.env.LENSEMBLE_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    else if (!(err instanceof LensembleError)) process.stderr.write('(set LENSEMBLE_DEBUG=1 for the stack trace)\n');
    process.exitCode = 1;
  }
}
