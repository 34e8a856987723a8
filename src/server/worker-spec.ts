import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * How to start a worker module that sits next to this file (`name` without extension). Compiled (.js) it
 * is started directly. From TypeScript source (tsx, vitest) a tiny bootstrap registers tsx's ESM loader in
 * the worker first, then imports the module — the approach src/forensics/trace-pool.ts takes.
 */
export function workerSpec(name: string): { entry: string | URL; eval: boolean } {
  const ext = extname(fileURLToPath(import.meta.url));
  const url = new URL(`./${name}${ext}`, import.meta.url);
  if (ext !== '.ts') return { entry: url, eval: false };
  const api = tsxEsmApiUrl();
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return { entry: bootstrap, eval: true };
}

function tsxEsmApiUrl(): string {
  const resolveImport = (import.meta as { resolve?: (specifier: string) => string }).resolve;
  try {
    if (resolveImport) return resolveImport('tsx/esm/api');
  } catch {
    // not resolvable this way here (e.g. under vitest); use require's resolution below
  }
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  return pathToFileURL(cjs.replace(/\.cjs$/, '.mjs')).href;
}
