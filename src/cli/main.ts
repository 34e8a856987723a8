import { Command, CommanderError } from 'commander';
import { LensembleError } from '../util/errors.js';
import { LENSEMBLE_VERSION } from '../version.js';
import { registerDemo } from './commands/demo.js';
import { registerEvaluate } from './commands/evaluate.js';
import { registerModels } from './commands/models.js';
import { registerPredict } from './commands/predict.js';
import { registerServe } from './commands/serve.js';
import { registerSubmit } from './commands/submit.js';
import { registerTrain } from './commands/train.js';
import { registerTraces } from './commands/traces.js';

export function buildProgram(): Command {
  const program = new Command('lensemble')
    .description('Train, evaluate and serve image classifiers by transfer learning on ONNX backbones.')
    .version(LENSEMBLE_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerTrain(program);
  registerEvaluate(program);
  registerPredict(program);
  registerSubmit(program);
  registerServe(program);
  registerTraces(program);
  registerModels(program);
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
