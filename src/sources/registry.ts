import { LensembleError } from '../util/errors.js';
import { backboneSource } from './backbone-source.js';
import { finetuneSource } from './finetune-source.js';
import type { SourceKind } from './source-kind.js';
import { tracesSource } from './traces-source.js';

/**
 * Every kind of member source, most specific first: the first that claims a member takes it. A new kind is
 * one module plus one line here (or a `registerSourceKind` call from a program that adds its own).
 */
const kinds: SourceKind[] = [tracesSource, finetuneSource, backboneSource];

export function registerSourceKind(kind: SourceKind): void {
  if (kinds.some((k) => k.kind === kind.kind)) throw new Error(`source kind "${kind.kind}" is already registered`);
  kinds.unshift(kind);
}

export function sourceKinds(): readonly SourceKind[] {
  return kinds;
}

export function findSourceKind(kind: string): SourceKind {
  const found = kinds.find((k) => k.kind === kind);
  if (!found) throw new LensembleError(`unknown member source kind "${kind}" (known: ${kinds.map((k) => k.kind).join(', ')})`);
  return found;
}

/** The kind that takes a member written `reference[,key=value…]`. */
export function sourceKindFor(reference: string, keys: ReadonlySet<string>): SourceKind {
  const found = kinds.find((k) => k.claims(reference, keys));
  if (!found) throw new LensembleError(`no member kind takes "${reference}"`);
  return found;
}
