import { createEnsemble, type Ensemble } from '../ensemble/ensemble.js';
import { findSourceKind } from '../sources/registry.js';
import type { SourceContext } from '../sources/source-kind.js';
import type { MemberHeads } from './bundle.js';
import type { BundleManifest } from './manifest.js';

/** The in-memory ensemble a manifest and its fitted heads describe (member sources loaded by their kinds). */
export async function ensembleFromManifest(manifest: BundleManifest, heads: MemberHeads[], context: SourceContext & { bundleDir: string }): Promise<Ensemble> {
  const members = [];
  for (const [k, member] of manifest.members.entries()) {
    const source = await findSourceKind(member.source.kind).load(member.source, context);
    members.push({ name: member.name, source, tta: member.tta, head: heads[k].head, extraHeads: heads[k].extra ?? {} });
  }
  return createEnsemble({ labels: manifest.labels, extraTargets: manifest.extraTargets, members, weights: manifest.ensemble.weights, calibration: manifest.calibration });
}
