import type { Command } from 'commander';
import { exportModel } from '../../export/export-model.js';
import { makeLogger, parseChoice } from '../options.js';

interface ExportFlags {
  model: string;
  out: string;
  format: 'site' | 'onnx';
  dropUnexportable?: boolean;
  title?: string;
  cacheDir?: string;
  quiet?: boolean;
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export a saved model to run without lensemble: one ONNX file, or a static web page that classifies in the browser (onnxruntime-web, offline).')
    .requiredOption('-m, --model <dir>', 'model bundle folder written by `lensemble train`')
    .requiredOption('-o, --out <path>', 'folder to write (site), or the .onnx file (--format onnx)')
    .option('--format <format>', 'site: index.html + model.onnx + onnxruntime-web files; onnx: just model.onnx', parseChoice('--format', ['site', 'onnx'] as const), 'site')
    .option('--drop-unexportable', 'leave out members with no ONNX form (EM traces; random-forest, svm, knn heads) and renormalise the weights of the others, instead of refusing')
    .option('--title <text>', "the page's title (default: the model folder's name)")
    .option('--cache-dir <dir>', 'cache folder (for hub backbones; default: $LENSEMBLE_CACHE or ~/.cache/lensemble)')
    .option('-q, --quiet', 'no summary lines')
    .action(async (flags: ExportFlags) => {
      const log = makeLogger({ quiet: flags.quiet });
      const result = await exportModel(flags.model, flags.out, { format: flags.format, dropUnexportable: flags.dropUnexportable, title: flags.title, cacheDir: flags.cacheDir });
      const { metadata } = result;
      for (const d of metadata.dropped) log(`lensemble: warning: member ${d.name} left out: ${d.reason}`);
      if (metadata.dropped.length) log(`lensemble: weights of the members kept, renormalised: ${metadata.members.map((m) => `${m.name} ${m.weight.toFixed(3)}`).join(', ')}`);
      log(`model.onnx: ${mb(result.bytes)}, ${metadata.labels.length} classes, inputs ${metadata.inputs.map((i) => `${i.name} [N,${i.height},${i.width},3] uint8 (${i.resize})`).join(', ')} → probabilities [N,${metadata.labels.length}]`);
      if (flags.format === 'site') {
        log(`wrote ${result.files.length} files to ${flags.out}; serve the folder with any static file server and open it, e.g.`);
        log(`  python3 -m http.server -d ${flags.out} 8000   # then http://localhost:8000`);
      } else {
        log(`wrote ${result.files[0]}`);
      }
    });
}
