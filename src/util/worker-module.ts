import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread from a module given by URL (usually `new URL('./x-worker.js', import.meta.url)`
 * with the caller's own extension). Compiled (.js) it is started directly. From TypeScript source (tsx,
 * vitest) a tiny bootstrap registers tsx's ESM loader in the worker first — `--import tsx` only registers
 * itself on the main thread — then imports the module.
 */
export function startModuleWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (extname(fileURLToPath(moduleUrl)) !== '.ts') return new Worker(moduleUrl, options);
  const bootstrap = `import(${JSON.stringify(tsxEsmApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(moduleUrl.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** `./<name>.ts` or `./<name>.js` beside the calling module, matching how the caller itself was loaded. */
export function siblingModule(callerUrl: string, name: string): URL {
  return new URL(`./${name}${extname(fileURLToPath(callerUrl))}`, callerUrl);
}

function tsxEsmApiUrl(): string {
  const resolveImport = (import.meta as { resolve?: (specifier: string) => string }).resolve;
  try {
    if (resolveImport) return resolveImport('tsx/esm/api');
  } catch {
    // not resolvable this way here (e.g. under vitest); use require's resolution below
  }
  // require resolves the package's CommonJS build; the ESM build sits beside it.
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  return pathToFileURL(cjs.replace(/\.cjs$/, '.mjs')).href;
}
