import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_HEAD, findHead, parseHeadParams } from '../heads/registry.js';
import { findSourceKind, sourceKindFor } from '../sources/registry.js';
import type { SourceDescription, SourceKind } from '../sources/source-kind.js';
import { LensembleError, errorMessage } from '../util/errors.js';
import { findPreset, presetNames } from './presets.js';
import { ttaKinds, ttaSettingsSchema, type TtaSettings } from './tta.js';

/**
 * One ensemble member: where its features come from (`source`, a kind with its settings), the head trained on
 * them, how many augmented views of each training image it sees, its test-time augmentation and its weight.
 */
export interface MemberSpec {
  name?: string;
  source: { kind: string } & Record<string, unknown>;
  head: { kind: string } & Record<string, unknown>;
  /** Augmented views per training image, besides the plain view. */
  views: number;
  tta: TtaSettings;
  /** Weight in a plain average (`--weights mean`). */
  weight: number;
  /** Seed of this member's augmentation and head (default: the run's). */
  seed?: number;
  /** The preset that filled in some of the settings above (kept for the record; the settings are what count). */
  preset?: string;
}

/** Keys that belong to the member itself, whatever its source and head. */
const memberFields = {
  name: z.string().regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits, _ . @ - only').optional().describe('name in tables and the bundle'),
  views: z.number().int().min(0).max(64).default(4).describe('augmented views per training image (fastai aug_transforms), besides the plain view'),
  tta: z.enum(ttaKinds).default('fastai').describe('test-time augmentation: fastai | flip | none'),
  ttaViews: ttaSettingsSchema.shape.views.describe('augmented passes averaged by fastai TTA'),
  ttaBeta: ttaSettingsSchema.shape.beta.describe('fastai TTA mix: (1 − beta)·mean(augmented) + beta·plain'),
  weight: z.number().positive().default(1).describe('weight in a plain average (--weights mean)'),
  seed: z.number().int().min(0).optional().describe("seed of the member's augmentation and head (default: the run's)"),
  preset: z.enum(presetNames).optional().describe(`settings for a task, under the member's own and the run's: ${presetNames.join(' | ')} (README)`),
};
export const memberFieldsSchema = z.strictObject(memberFields);
const MEMBER_KEYS = new Set(Object.keys(memberFields));
/** Keys that name the source or the head rather than set one of their parameters. */
const REFERENCE_KEYS = new Set(['backbone', 'source', 'head']);
/** Member keys about augmented pixels, which sources that read untouched pixels refuse. */
const AUGMENTATION_KEYS = new Set(['views', 'tta', 'ttaViews', 'ttaBeta', 'preset']);

type Fields = Record<string, unknown>;

function formatZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => (i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}` : `${i.path.join('.') || '(member)'}: ${i.message}`))
    .join('; ');
}

function keysOf(schema: z.ZodObject): Set<string> {
  return new Set(Object.keys(schema.shape));
}

interface Routed {
  member: Fields;
  source: Fields;
  head: Fields;
}

/**
 * Sends each flat key to the member, its source or its head. Explicit keys that none of them takes are an error
 * naming what each takes; defaults (flags outside --member, a config's "defaults") that do not apply are dropped.
 */
function route(explicit: Fields, defaults: Fields, kind: SourceKind, headKind: string): Routed {
  const sourceKeys = keysOf(kind.settings);
  const headKeys = keysOf(findHead(headKind).params);
  const routed: Routed = { member: {}, source: {}, head: {} };
  const place = (key: string, value: unknown, strict: boolean) => {
    if (MEMBER_KEYS.has(key)) {
      if (!kind.augmentable && AUGMENTATION_KEYS.has(key)) {
        const neutral = key === 'views' ? value === 0 : key === 'tta' ? value === 'none' : key !== 'preset';
        if (strict && !neutral) throw new LensembleError(`${kind.kind} members read the untouched pixels: "${key}" does not apply (${key}=${String(value)})`);
        return;
      }
      routed.member[key] = value;
    } else if (sourceKeys.has(key)) routed.source[key] = value;
    else if (headKeys.has(key)) routed.head[key] = value;
    else if (strict) {
      throw new LensembleError(
        `unknown key "${key}" (member keys: ${[...MEMBER_KEYS].join(', ')}; ${kind.kind} source keys: ${[...sourceKeys].join(', ')}; ${headKind} head keys: ${[...headKeys].join(', ')})`,
      );
    }
  };
  for (const [key, value] of Object.entries(defaults)) if (!(key in explicit) && !REFERENCE_KEYS.has(key) && value !== undefined) place(key, value, false);
  for (const [key, value] of Object.entries(explicit)) if (!REFERENCE_KEYS.has(key) && value !== undefined) place(key, value, true);
  return routed;
}

/**
 * A member from its flat form (`{ backbone: 'mobilenetv2_100', size: 320, head: 'svm', C: 10 }`, as the command
 * line and config files write it) or its nested form (`{ source: { kind, … }, head: { kind, … }, views, … }`),
 * over defaults that apply where they fit.
 */
export function parseMemberSpec(input: Fields, defaults: Fields = {}, where = 'member'): MemberSpec {
  try {
    defaults = withPreset(input, defaults);
    input = withMergedAugment(defaults, input);
    const nestedSource = typeof input.source === 'object' && input.source !== null ? (input.source as Fields) : undefined;
    const nestedHead = typeof input.head === 'object' && input.head !== null ? (input.head as Fields) : undefined;
    const reference = nestedSource ? undefined : ((input.backbone ?? input.source ?? defaults.backbone) as string | undefined);
    if (!nestedSource && (typeof reference !== 'string' || reference === '')) throw new LensembleError('no source: give a backbone (or "traces")');
    const allKeys = new Set([...Object.keys(defaults), ...Object.keys(input), ...Object.keys(nestedSource ?? {})]);
    const kind = nestedSource ? findSourceKind(String(nestedSource.kind ?? 'backbone')) : sourceKindFor(reference!, allKeys);
    const headKind = String(nestedHead?.kind ?? input.head ?? (typeof defaults.head === 'string' ? defaults.head : undefined) ?? kind.defaultHead ?? DEFAULT_HEAD);
    findHead(headKind);
    const routed = route(input, defaults, kind, headKind);

    const { kind: _sourceKind, ...nestedSettings } = nestedSource ?? {};
    const sourceResult = kind.settings.strict().safeParse(withMergedAugment(routed.source, { ...(reference ? kind.fromReference(reference) : {}), ...routed.source, ...nestedSettings }));
    if (!sourceResult.success) throw new LensembleError(`${kind.kind} source: ${formatZodError(sourceResult.error)}`);
    const { kind: _headKind, ...nestedParams } = nestedHead ?? {};
    const head = { kind: headKind, ...parseHeadParams(headKind, { ...routed.head, ...nestedParams }) };

    const nestedTta = typeof routed.member.tta === 'object' ? (routed.member.tta as Fields) : undefined;
    const memberResult = memberFieldsSchema.safeParse({ ...routed.member, ...(nestedTta ? { tta: nestedTta.kind } : {}) });
    if (!memberResult.success) throw new LensembleError(formatZodError(memberResult.error));
    const m = memberResult.data;
    const tta: TtaSettings = kind.augmentable
      ? ttaSettingsSchema.parse({ kind: m.tta, views: nestedTta?.views ?? m.ttaViews, beta: nestedTta?.beta ?? m.ttaBeta })
      : { kind: 'none', views: m.ttaViews, beta: m.ttaBeta };
    return {
      ...(m.name ? { name: m.name } : {}),
      source: { kind: kind.kind, ...(sourceResult.data as Fields) },
      head,
      views: kind.augmentable ? m.views : 0,
      tta,
      weight: m.weight,
      ...(m.seed !== undefined ? { seed: m.seed } : {}),
      ...(m.preset !== undefined ? { preset: m.preset } : {}),
    };
  } catch (err) {
    throw new LensembleError(`invalid ${where}: ${errorMessage(err)}`);
  }
}

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `fields` with its `augment` laid over the one `under` has (key by key), so layers add augment keys rather than replace them all. */
function withMergedAugment(under: Fields, fields: Fields): Fields {
  return isObject(under.augment) && isObject(fields.augment) ? { ...fields, augment: { ...under.augment, ...fields.augment } } : fields;
}

/** The run's defaults with the preset (the member's own, else the run's) laid under them. */
function withPreset(input: Fields, defaults: Fields): Fields {
  const name = input.preset ?? defaults.preset;
  if (name === undefined) return defaults;
  if (typeof name !== 'string') throw new LensembleError(`preset must be a name (${presetNames.join(', ')}), got ${JSON.stringify(name)}`);
  const preset = findPreset(name).settings;
  return { ...withMergedAugment(preset, { ...preset, ...defaults }), preset: name };
}

/** "320" → 320, "true" → true, "none" → "none". */
function coerce(value: string): unknown {
  if (value === 'true' || value === 'false') return value === 'true';
  if (value !== '' && Number.isFinite(Number(value))) return Number(value);
  return value;
}

/**
 * Parses the command-line form `source[,key=value...]`, e.g.
 * `mobilenetv2_100,size=320,resize=squish,head=svm,C=10,views=4,tta=flip` or `traces,kernelSize=5`.
 */
export function parseMemberString(text: string, defaults: Fields = {}): MemberSpec {
  const [reference, ...pairs] = text.split(',').map((s) => s.trim());
  const fields: Fields = { backbone: reference };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new LensembleError(`invalid member "${text}": "${pair}" is not key=value`);
    fields[pair.slice(0, eq)] = coerce(pair.slice(eq + 1));
  }
  return parseMemberSpec(fields, defaults, `member "${text}"`);
}

export const ensembleConfigSchema = z.strictObject({
  /** Settings every member inherits where they apply, unless it sets its own. */
  defaults: z.record(z.string(), z.unknown()).optional(),
  members: z.array(z.record(z.string(), z.unknown())).min(1),
});

/** Reads and validates an ensemble config file (JSON). */
export function readEnsembleConfig(path: string, defaults: Fields = {}): MemberSpec[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LensembleError(`cannot read ensemble config (${errorMessage(err)})`, path);
  }
  const parsed = ensembleConfigSchema.safeParse(raw);
  if (!parsed.success) throw new LensembleError(`invalid ensemble config: ${formatZodError(parsed.error)}`, path);
  const merged = { ...defaults, ...parsed.data.defaults };
  return parsed.data.members.map((m, i) => {
    try {
      return parseMemberSpec(m, merged, `members[${i}]`);
    } catch (err) {
      throw new LensembleError(errorMessage(err), path);
    }
  });
}

/** A readable, unique-ish member name, e.g. mobilenetv2_100-224-crop-mlp or traces-n3-random-forest. */
export function defaultMemberName(spec: MemberSpec, description: SourceDescription): string {
  const parts = [...findSourceKind(spec.source.kind).nameParts(spec.source, description), spec.head.kind];
  return parts.join('-').replace(/[^A-Za-z0-9_.@-]+/g, '_');
}

/** The head's parameters without its kind. */
export function headParams(spec: MemberSpec): Record<string, unknown> {
  const { kind: _kind, ...params } = spec.head;
  return params;
}
