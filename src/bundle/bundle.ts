import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Classifier, NamedTensor } from '../heads/classifier.js';
import { classifierFromJSON } from '../heads/registry.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { BUNDLE_MANIFEST, BUNDLE_WEIGHTS, manifestSchema, upgradeManifest, type BundleManifest, type BundleMember, type ManifestInput } from './manifest.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

/** A member's fitted heads: the main target's, and one per extra target. */
export interface MemberHeads {
  head: Classifier;
  extra?: Record<string, Classifier>;
}

export interface LoadedMember extends MemberHeads {
  member: BundleMember;
}

export interface LoadedBundle {
  dir: string;
  manifest: BundleManifest;
  members: LoadedMember[];
}

const tensorPrefix = (member: string, target?: string): string => (target ? `${member}/${target}/` : `${member}/`);

function storeHead(head: Classifier, prefix: string, tensors: Record<string, NamedTensor>) {
  const serialized = head.toJSON();
  const names = Object.keys(serialized.tensors);
  for (const name of names) tensors[prefix + name] = serialized.tensors[name];
  return { kind: serialized.kind, config: serialized.config, tensors: names };
}

/** Files member sources keep inside the bundle (e.g. a fine-tuned backbone), by path relative to its folder. */
export function writeBundleFiles(dir: string, files: Record<string, Uint8Array>): void {
  for (const [name, bytes] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), bytes);
  }
}

/**
 * Writes a model bundle: the manifest (JSON) and every head's tensors (one safetensors file), the manifest last so
 * a half-written bundle is not one. Source files (`writeBundleFiles`) go in first.
 */
export function saveBundle(dir: string, manifest: ManifestInput, heads: MemberHeads[]): void {
  if (heads.length !== manifest.members.length) throw new Error('one set of heads per member is required');
  mkdirSync(dir, { recursive: true });
  const tensors: Record<string, NamedTensor> = {};
  const members = manifest.members.map((member, i) => {
    const { head, extra } = heads[i];
    const extraHeads = extra ? Object.fromEntries(Object.entries(extra).map(([t, h]) => [t, storeHead(h, tensorPrefix(member.name, t), tensors)])) : undefined;
    return { ...member, head: storeHead(head, tensorPrefix(member.name), tensors), extraHeads };
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
    manifest = manifestSchema.parse(upgradeManifest(JSON.parse(readFileSync(manifestPath, 'utf8'))));
  } catch (err) {
    throw new LensembleError(`invalid model manifest (${errorMessage(err).split('\n')[0]})`, manifestPath);
  }
  const tensors = readSafetensors(join(dir, BUNDLE_WEIGHTS));
  const restore = (record: BundleMember['head'], prefix: string): Classifier => {
    const own: Record<string, NamedTensor> = {};
    for (const name of record.tensors) {
      const t = tensors[prefix + name];
      if (!t) throw new LensembleError(`tensor ${prefix + name} missing from ${BUNDLE_WEIGHTS}`, dir);
      own[name] = t;
    }
    return classifierFromJSON({ kind: record.kind, config: record.config, tensors: own });
  };
  const members = manifest.members.map((member) => ({
    member,
    head: restore(member.head, tensorPrefix(member.name)),
    extra: member.extraHeads
      ? Object.fromEntries(Object.entries(member.extraHeads).map(([t, rec]) => [t, restore(rec, tensorPrefix(member.name, t))]))
      : undefined,
  }));
  return { dir, manifest, members };
}
