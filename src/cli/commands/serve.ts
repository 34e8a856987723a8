import { rmSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_CACHE_ROWS, startServer } from '../../server/server.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_REQUEST_PIXELS, formatMegapixels } from '../../server/upload-limits.js';
import { makeLogger, parseNumberOption, addInferenceOptions, type InferenceFlags } from '../options.js';
import { launchedByNpm, untilStopRequested } from '../stop-request.js';

interface ServeFlags extends InferenceFlags {
  cacheRows: number;
  model: string;
  port: number;
  host: string;
  maxBytes: number;
  maxFiles: number;
  maxPixels: number;
  maxRequestPixels?: number;
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

const PIXEL_UNITS: Record<string, number> = { '': 1, k: 1e3, kp: 1e3, m: 1e6, mp: 1e6 };

/** "64MP", "40M", "12.5mp", "16000000" → pixels (megapixels are decimal). */
export function parsePixelCount(flag: string) {
  return (text: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
    const unit = m ? PIXEL_UNITS[m[2].toLowerCase()] : undefined;
    if (!m || unit === undefined) throw new InvalidArgumentError(`${flag} must be a pixel count such as 64MP, 40M or 16000000, got "${text}"`);
    const pixels = Math.round(Number(m[1]) * unit);
    if (pixels < 1) throw new InvalidArgumentError(`${flag} must be at least 1 pixel, got "${text}"`);
    return pixels;
  };
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
    .option('--max-files <n>', 'most files in one request', parseNumberOption('--max-files', { integer: true, min: 1 }), DEFAULT_MAX_FILES)
    .addOption(
      new Option('--max-pixels <n>', 'largest image (width × height, read from its header before decoding; a larger one is skipped), e.g. 64MP or 16000000')
        .argParser(parsePixelCount('--max-pixels'))
        .default(DEFAULT_MAX_PIXELS, formatMegapixels(DEFAULT_MAX_PIXELS).replace(' ', '')),
    )
    .addOption(
      new Option('--max-request-pixels <n>', `most pixels of all images in one request; the rest are skipped, to send again (default: ${formatMegapixels(DEFAULT_MAX_REQUEST_PIXELS).replace(' ', '')}, or --max-pixels if larger)`).argParser(
        parsePixelCount('--max-request-pixels'),
      ),
    )
    .option('--cache-rows <n>', `feature rows kept of the images served, in a least-recently-used memory of the server's own (0 = the shared disk cache, which grows with every unique upload)`, parseNumberOption('--cache-rows', { integer: true, min: 0 }), DEFAULT_CACHE_ROWS)
    .option('-q, --quiet', 'no request log on stderr')
    .action(async (flags: ServeFlags) => {
      const log = makeLogger({ quiet: flags.quiet });
      const server = await startServer({
        model: flags.model,
        port: flags.port,
        host: flags.host,
        device: flags.device,
        cacheDir: flags.cacheDir,
        cacheRows: flags.cacheRows,
        tta: flags.tta,
        maxBytes: flags.maxBytes,
        maxFiles: flags.maxFiles,
        maxPixels: flags.maxPixels,
        maxRequestPixels: flags.maxRequestPixels,
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
