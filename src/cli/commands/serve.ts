import { rmSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_MAX_BYTES, startServer } from '../../server/server.js';
import { makeLogger, parseNumberOption, addInferenceOptions, type InferenceFlags } from '../options.js';
import { launchedByNpm, untilStopRequested } from '../stop-request.js';

interface ServeFlags extends InferenceFlags {
  model: string;
  port: number;
  host: string;
  maxBytes: number;
  quiet?: boolean;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** "20MB", "512k", "1048576" → bytes (binary units). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`--max-bytes must be a size such as 20MB, 512KB or 1048576, got "${text}"`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw new InvalidArgumentError(`--max-bytes must be at least 1 byte, got "${text}"`);
  return bytes;
}

export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('Serve a saved model over HTTP: a web page to classify images, and a JSON API (POST /api/predict, GET /api/model, GET /healthz).')
    .requiredOption('-m, --model <dir>', 'model bundle folder written by `lensemble train`');
  addInferenceOptions(command)
    .option('-p, --port <n>', 'port to listen on (0 = any free port)', parseNumberOption('--port', { integer: true, min: 0, max: 65535 }), 8080)
    .option('--host <host>', 'interface to listen on (0.0.0.0 or :: to accept other machines)', '127.0.0.1')
    .addOption(new Option('--max-bytes <size>', 'largest request body accepted, e.g. 20MB, 512KB or a number of bytes').argParser(parseByteSize).default(DEFAULT_MAX_BYTES, '20MB'))
    .option('-q, --quiet', 'no request log on stderr')
    .action(async (flags: ServeFlags) => {
      const log = makeLogger({ quiet: flags.quiet });
      const server = await startServer({
        model: flags.model,
        port: flags.port,
        host: flags.host,
        device: flags.device,
        cacheDir: flags.cacheDir,
        tta: flags.tta,
        maxBytes: flags.maxBytes,
        batchSize: flags.batchSize,
        log,
      });
      const { manifest } = server.bundle;
      const members = manifest.members.length;
      process.stdout.write(`lensemble: serving ${server.bundle.dir} (${manifest.labels.length} classes, ${members} member${members === 1 ? '' : 's'}) at ${server.url}\n`);
      log('press Ctrl+C to stop');
      const reason = await untilStopRequested({
        watchParent: launchedByNpm(),
        onSecondSignal: () => {
          rmSync(server.tempDir, { recursive: true, force: true });
          process.exit(130);
        },
      });
      log(`${reason}: finishing requests in progress, then stopping`);
      await server.close();
      log('stopped');
    });
}
