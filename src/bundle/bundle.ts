import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Classifier, NamedTensor } from '../heads/classifier.js';
import { classifierFromJSON } from '../heads/registry.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { BUNDLE_MANIFEST, BUNDLE_WEIGHTS, manifestSchema, type BundleManifest, type BundleMember } from './manifest.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export interface LoadedMember {
  member: BundleMember;
  head: Classifier;
}

export interface LoadedBundle {
  dir: string;
  manifest: BundleManifest;
  members: LoadedMember[];
}

/** Writes a model bundle: the manifest (JSON) and all heads' tensors (one safetensors file). */
export function saveBundle(dir: string, manifest: BundleManifest, heads: Classifier[]): void {
  if (heads.length !== manifest.members.length) throw new Error('one head per member is required');
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, NamedTensor> = {};
  const members = manifest.members.map((member, i) => {
    const serialized = heads[i].toJSON();
    const names = Object.keys(serialized.tensors);
    for (const name of names) tensors[`${member.name}/${name}`] = serialized.tensors[name];
    return { ...member, head: { kind: serialized.kind, config: serialized.config, tensors: names } };
  });
  const full = manifestSchema.parse({ ...manifest, members });
  writeSafetensors(join(dir, BUNDLE_WEIGHTS), tensors, { format: 'lensemble-bundle' });
  writeFileSync(join(dir, BUNDLE_MANIFEST), JSON.stringify(full, null, 2) + '\n');
}

export function loadBundle(path: string): LoadedBundle {
  const dir = resolve(path);
  const manifestPath = join(dir, BUNDLE_MANIFEST);
  if (!existsSync(manifestPath)) throw new LensembleError(`not a lensemble model (no ${BUNDLE_MANIFEST}); give the folder that \`lensemble train --out\` wrote`, dir);
  let manifest: BundleManifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
  } catch (err) {
    throw new LensembleError(`invalid model manifest (${errorMessage(err).split('\n')[0]})`, manifestPath);
  }
  const tensors = readSafetensors(join(dir, BUNDLE_WEIGHTS));
  const members = manifest.members.map((member) => {
    const own: Record<string, NamedTensor> = {};
    for (const name of member.head.tensors) {
      const t = tensors[`${member.name}/${name}`];
      if (!t) throw new LensembleError(`tensor ${member.name}/${name} missing from ${BUNDLE_WEIGHTS}`, dir);
      own[name] = t;
    }
    return { member, head: classifierFromJSON({ kind: member.head.kind, config: member.head.config, tensors: own }) };
  });
  return { dir, manifest, members };
}
