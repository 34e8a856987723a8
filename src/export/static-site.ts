import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LensembleError } from '../util/errors.js';
import type { OnnxExport } from './ensemble-onnx.js';
import { renderExportPage } from './export-page.js';

/**
 * The onnxruntime-web files the page loads, copied from the npm package: the WebAssembly build (every browser)
 * and the WebGPU build (with its own WebAssembly, for the operators WebGPU does not run).
 */
export const ORT_WEB_FILES = [
  'ort.wasm.min.mjs',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
  'ort.webgpu.min.mjs',
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
];

function ortWebDist(): string {
  const require = createRequire(import.meta.url);
  // The package exports no package.json; its main entry (dist/ort.node.min.js) sits beside the browser files.
  return dirname(require.resolve('onnxruntime-web'));
}

export const EXPORT_FILES = ['index.html', 'model.onnx', 'model.json', 'ort'];

/** An existing folder may be written into only when it is empty or holds a previous export. */
function checkOutFolder(dir: string): void {
  if (!existsSync(dir)) return;
  const foreign = readdirSync(dir).filter((f) => !EXPORT_FILES.includes(f));
  if (foreign.length) throw new LensembleError(`the folder is not empty and not a lensemble export (it holds ${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); choose another --out`, dir);
}

/** Writes the static folder: index.html, model.onnx, model.json (the metadata, for scripts) and ort/. */
export function writeExportSite(dir: string, exported: OnnxExport, page: { title: string; about: string }): string[] {
  checkOutFolder(dir);
  mkdirSync(join(dir, 'ort'), { recursive: true });
  const dist = ortWebDist();
  for (const file of ORT_WEB_FILES) {
    if (!existsSync(join(dist, file))) throw new LensembleError(`onnxruntime-web has no ${file}: reinstall the package (npm ci)`, dist);
    copyFileSync(join(dist, file), join(dir, 'ort', file));
  }
  writeFileSync(join(dir, 'model.onnx'), exported.bytes);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(exported.metadata, null, 2) + '\n');
  writeFileSync(join(dir, 'index.html'), renderExportPage(page.title, exported.metadata, page.about));
  return ['index.html', 'model.onnx', 'model.json', ...ORT_WEB_FILES.map((f) => `ort/${f}`)];
}
