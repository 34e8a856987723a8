import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hubCachePath } from '../../backbone/hub.js';
import { backboneRegistry } from '../../backbone/registry.js';
import { resolveBackbone } from '../../backbone/resolve.js';
import type { BackboneSpec } from '../../backbone/spec.js';
import { formatTable } from '../../evaluate/table.js';
import { describePreprocess } from '../../images/preprocess-spec.js';
import { defaultCacheDir, findSharedDir } from '../../util/paths.js';
import { createProgress } from '../../util/progress.js';

interface ModelStatus {
  name: string;
  source: string;
  input: string;
  featureDim?: number;
  available: boolean;
  location?: string;
  description: string;
}

export function backboneStatus(spec: BackboneSpec, cacheDir: string): ModelStatus {
  const { source } = spec;
  let location: string | undefined;
  let sourceText: string;
  if (source.kind === 'shared') {
    const shared = findSharedDir();
    location = shared ? join(shared, source.path) : undefined;
    sourceText = `shared:${source.path}`;
  } else if (source.kind === 'hub') {
    location = hubCachePath(cacheDir, source);
    sourceText = `hf:${source.repo}/${source.file}@${source.revision}`;
  } else {
    location = source.path;
    sourceText = source.path;
  }
  const available = location !== undefined && existsSync(location);
  return { name: spec.name, source: sourceText, input: describePreprocess(spec.preprocess), featureDim: spec.featureDim, available, location: available ? location : undefined, description: spec.description };
}

export function registerModels(program: Command): void {
  const models = program.command('models').description('Backbones lensemble knows, and whether each is on this machine.');
  models
    .command('list', { isDefault: true })
    .description('List registered backbones: source, input size, feature size, and whether the ONNX file is available (shared folder or download cache).')
    .option('--cache-dir <dir>', 'download cache (default: $LENSEMBLE_CACHE or ~/.cache/lensemble)')
    .option('--json', 'print as JSON')
    .action((flags: { cacheDir?: string; json?: boolean }) => {
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const rows = backboneRegistry.map((spec) => backboneStatus(spec, cacheDir));
      if (flags.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      process.stdout.write(
        formatTable(
          ['name', 'features', 'input', 'status', 'source'],
          rows.map((r) => [r.name, String(r.featureDim ?? '?'), r.input, r.available ? 'available' : 'not downloaded', r.source]),
          ['left', 'right', 'left', 'left', 'left'],
        ) + '\n',
      );
      process.stdout.write('\nAny .onnx file also works: --backbone path/to/model.onnx, or --backbone hf:org/repo/file.onnx\n');
    });
  models
    .command('download')
    .description('Download a hub backbone into the cache now (checksum-verified, resumable), e.g. before going offline.')
    .argument('<name>', 'registered name or hf:org/repo/file.onnx')
    .option('--cache-dir <dir>', 'download cache (default: $LENSEMBLE_CACHE or ~/.cache/lensemble)')
    .action(async (name: string, flags: { cacheDir?: string }) => {
      let bar: ReturnType<typeof createProgress> | undefined;
      let last = 0;
      const resolved = await resolveBackbone(name, {
        cacheDir: flags.cacheDir ?? defaultCacheDir(),
        onDownloadProgress: (done, total) => {
          bar ??= createProgress('Downloading', total ?? 0, { unit: 'B' });
          bar.tick(done - last);
          last = done;
        },
      });
      bar?.stop();
      process.stdout.write(`${resolved.spec.name}: ${resolved.modelPath}\nsha256 ${resolved.sha256}\n`);
    });
}
