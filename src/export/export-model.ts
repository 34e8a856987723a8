import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { loadModel, type LoadModelOptions } from '../bundle/load-model.js';
import { checkExportedModel } from './check-onnx.js';
import { ensembleToOnnx, type ExportMetadata } from './ensemble-onnx.js';
import { writeExportSite } from './static-site.js';

export interface ExportOptions extends Pick<LoadModelOptions, 'cacheDir' | 'device'> {
  /** 'site' (default): the static folder; 'onnx': just the model (`out` is the .onnx file, or a folder for model.onnx). */
  format?: 'site' | 'onnx';
  dropUnexportable?: boolean;
  /** The page's title (default: the bundle folder's name). */
  title?: string;
}

export interface ExportResult {
  /** Files written, absolute. */
  files: string[];
  metadata: ExportMetadata;
  bytes: number;
}

/**
 * `lensemble export`: the bundle as one ONNX model, checked in ONNX Runtime, written alone or as a static web
 * folder that classifies in the browser.
 */
export async function exportModel(modelDir: string, out: string, options: ExportOptions = {}): Promise<ExportResult> {
  const model = await loadModel(modelDir, { cacheDir: options.cacheDir, device: options.device, progress: false });
  try {
    const exported = await ensembleToOnnx(model.ensemble, { dropUnexportable: options.dropUnexportable });
    await checkExportedModel(exported.bytes, exported.metadata);
    const target = resolve(out);
    if (options.format === 'onnx') {
      const file = target.endsWith('.onnx') ? target : join(target, 'model.onnx');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, exported.bytes);
      return { files: [file], metadata: exported.metadata, bytes: exported.bytes.length };
    }
    const title = options.title ?? basename(model.dir);
    const validation = model.manifest.validation;
    const about =
      `${exported.metadata.labels.length} classes: ${exported.metadata.labels.join(', ')}.` +
      (validation ? ` Validation accuracy ${(validation.accuracy * 100).toFixed(1)}% on ${validation.n} images (lensemble, with its TTA).` : '') +
      ` ${exported.metadata.members.length === 1 ? 'One member' : `${exported.metadata.members.length} members`}: ${exported.metadata.members.map((m) => `${m.backbone} + ${m.head}`).join(', ')}.`;
    const files = writeExportSite(target, exported, { title, about });
    return { files: files.map((f) => join(target, f)), metadata: exported.metadata, bytes: exported.bytes.length };
  } finally {
    await model.close();
  }
}
