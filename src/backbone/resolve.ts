import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { defaultPreprocess, type PreprocessSpec } from '../images/preprocess-spec.js';
import { LensembleError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import { defaultCacheDir, findSharedDir } from '../util/paths.js';
import { downloadHubFile, hubCachePath } from './hub.js';
import { backboneRegistry, findRegisteredBackbone } from './registry.js';
import type { BackboneSpec, Pooling } from './spec.js';

/** Flags that override a backbone's defaults (mainly for a bare `.onnx` file). */
export interface BackboneOverrides {
  inputName?: string;
  featureOutput?: string;
  pooling?: Pooling;
  mean?: [number, number, number];
  std?: [number, number, number];
}

export interface ResolvedBackbone {
  spec: BackboneSpec;
  /** Absolute path of the ONNX file on this machine. */
  modelPath: string;
  sha256: string;
}

export interface ResolveOptions {
  cacheDir?: string;
  overrides?: BackboneOverrides;
  onDownloadProgress?: (done: number, total: number | undefined) => void;
}

const HUB_PREFIX = /^(hf|hub):/i;

/**
 * Turns what a user typed (a registry name, a path to an .onnx file, or `hf:org/repo/path/file.onnx[@rev]`)
 * into a spec plus a local file, downloading from the hub once if needed.
 */
export async function resolveBackbone(reference: string, options: ResolveOptions = {}): Promise<ResolvedBackbone> {
  return resolveBackboneSpec(applyOverrides(specFor(reference), options.overrides), options);
}

/**
 * Finds (or downloads) the ONNX file for a spec and checks its sha256 against `expectedSha256` (e.g. the one a
 * model bundle was trained with) or the spec's own.
 */
export async function resolveBackboneSpec(spec: BackboneSpec, options: ResolveOptions & { expectedSha256?: string } = {}): Promise<ResolvedBackbone> {
  const expectedSha = options.expectedSha256 ?? spec.sha256;
  if (spec.source.kind === 'file' && !existsSync(spec.source.path) && expectedSha) {
    // A bundle moved to another machine: the same weights may sit elsewhere (shared folder, hub cache).
    const found = await findKnownModelBySha(expectedSha, options.cacheDir ?? defaultCacheDir());
    if (found) return { spec, modelPath: found, sha256: expectedSha };
    throw new LensembleError(`backbone ONNX file not found (and no known model has its sha256 ${expectedSha.slice(0, 16)}…); put the file back or give its path`, spec.source.path);
  }
  const modelPath = await locateModelFile(spec, options);
  const sha256 = await cachedSha256(modelPath);
  const expected = options.expectedSha256 ?? spec.sha256;
  if (expected && expected !== sha256) {
    throw new LensembleError(`backbone ${spec.name} has sha256 ${sha256}, but ${expected} was expected (a different model file)`, modelPath);
  }
  return { spec, modelPath, sha256 };
}

export function specFor(reference: string): BackboneSpec {
  if (HUB_PREFIX.test(reference)) return hubFileSpec(reference.replace(HUB_PREFIX, ''));
  const registered = findRegisteredBackbone(reference);
  if (registered) return registered;
  if (reference.endsWith('.onnx') || existsSync(reference)) return localFileSpec(reference);
  throw new LensembleError(`unknown backbone "${reference}": give a registered name (see \`lensemble models list\`), a path to an .onnx file, or hf:org/repo/file.onnx`);
}

function localFileSpec(path: string): BackboneSpec {
  // "models/mobilenetv2/model.onnx" is better named by its folder.
  const stem = basename(path, '.onnx');
  return {
    name: stem === 'model' ? basename(dirname(resolve(path))) : stem,
    description: `ONNX file ${path}`,
    source: { kind: 'file', path: resolve(path) },
    inputName: '',
    featureOutput: '',
    pooling: 'none',
    sizeMultiple: 1,
    preprocess: defaultPreprocess,
  };
}

function hubFileSpec(text: string): BackboneSpec {
  const [location, revision = 'main'] = text.split('@');
  const parts = location.split('/');
  if (parts.length < 3) throw new LensembleError(`hub backbone "hf:${text}" must look like hf:org/repo/path/to/model.onnx[@revision]`);
  const repo = parts.slice(0, 2).join('/');
  const file = parts.slice(2).join('/');
  return {
    name: `${repo}/${file}`,
    description: `Hugging Face hub file ${repo}/${file}@${revision}`,
    source: { kind: 'hub', repo, file, revision },
    inputName: '',
    featureOutput: '',
    pooling: 'none',
    sizeMultiple: 1,
    preprocess: defaultPreprocess,
  };
}

function applyOverrides(spec: BackboneSpec, overrides: BackboneOverrides = {}): BackboneSpec {
  const preprocess: PreprocessSpec = {
    ...spec.preprocess,
    ...(overrides.mean ? { mean: overrides.mean } : {}),
    ...(overrides.std ? { std: overrides.std } : {}),
  };
  return {
    ...spec,
    inputName: overrides.inputName ?? spec.inputName,
    featureOutput: overrides.featureOutput ?? spec.featureOutput,
    pooling: overrides.pooling ?? spec.pooling,
    preprocess,
  };
}

async function locateModelFile(spec: BackboneSpec, options: ResolveOptions): Promise<string> {
  const source = spec.source;
  switch (source.kind) {
    case 'file':
      if (!existsSync(source.path)) throw new LensembleError('backbone ONNX file not found', source.path);
      return source.path;
    case 'shared': {
      const shared = findSharedDir();
      if (!shared) {
        throw new LensembleError(`backbone ${spec.name} ships in the shared models folder, which was not found (set LENSEMBLE_SHARED or place it at ../shared)`);
      }
      const path = join(shared, source.path);
      if (!existsSync(path)) throw new LensembleError(`backbone ${spec.name} not found in the shared models folder`, path);
      return path;
    }
    case 'hub': {
      const result = await downloadHubFile({
        repo: source.repo,
        file: source.file,
        revision: source.revision,
        sha256: spec.sha256,
        cacheDir: options.cacheDir ?? defaultCacheDir(),
        onProgress: options.onDownloadProgress,
      });
      return result.path;
    }
  }
}

/** A registered model already on this machine (shared folder or hub cache) whose file has this sha256. */
async function findKnownModelBySha(sha256: string, cacheDir: string): Promise<string | undefined> {
  const shared = findSharedDir();
  for (const spec of backboneRegistry) {
    const { source } = spec;
    const path = source.kind === 'shared' ? (shared ? join(shared, source.path) : undefined) : source.kind === 'hub' ? hubCachePath(cacheDir, source) : source.path;
    if (path && existsSync(path) && (await cachedSha256(path)) === sha256) return path;
  }
  return undefined;
}

const hashMemo = new Map<string, string>();

/** sha256 of a model file, remembered per (path, size, mtime) for the life of the process. */
export async function cachedSha256(path: string): Promise<string> {
  const st = statSync(path);
  const key = `${path}\u0000${st.size}\u0000${st.mtimeMs}`;
  let hash = hashMemo.get(key);
  if (!hash) {
    hash = await sha256File(path);
    hashMemo.set(key, hash);
  }
  return hash;
}
