import { z } from 'zod';
import type { Classifier, SerializedClassifier } from './classifier.js';

/** What every head gets besides its own parameters. */
export interface HeadContext {
  nClasses: number;
  seed: number;
}

/**
 * A head kind declared once (in the spirit of scikit-learn's `_parameter_constraints`): its parameters as a
 * strict zod object whose every field has a default and a description, how to create one, how to restore one.
 */
export interface HeadDefinition<P extends Record<string, unknown> = Record<string, unknown>> {
  kind: string;
  description: string;
  params: z.ZodObject;
  create(params: P, context: HeadContext): Classifier;
  fromJSON(serialized: SerializedClassifier): Classifier;
}

export function defineClassifier<S extends z.ZodObject>(definition: {
  kind: string;
  description: string;
  params: S;
  create(params: z.output<S>, context: HeadContext): Classifier;
  fromJSON(serialized: SerializedClassifier): Classifier;
}): HeadDefinition {
  return { ...definition, params: definition.params.strict() } as unknown as HeadDefinition;
}

export interface ParamDoc {
  name: string;
  type: string;
  default: unknown;
  description: string;
}

function typeName(schema: z.ZodType): string {
  const def = (schema as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; options?: z.ZodType[]; values?: unknown[]; entries?: Record<string, unknown>; element?: z.ZodType } } })._zod.def;
  switch (def.type) {
    case 'default':
    case 'optional':
    case 'nullable':
      return typeName(def.innerType!) + (def.type === 'nullable' ? ' | null' : '');
    case 'union':
      return def.options!.map(typeName).join(' | ');
    case 'enum':
      return Object.values(def.entries ?? {}).join(' | ');
    case 'literal':
      return (def.values ?? []).map((v) => JSON.stringify(v)).join(' | ');
    case 'array':
      return `${typeName(def.element!)}[]`;
    case 'tuple':
      return 'list';
    default:
      return def.type;
  }
}

/** Name, type, default and description of every parameter of a schema (for `lensemble heads` and --help). */
export function describeParams(params: z.ZodObject): ParamDoc[] {
  return Object.entries(params.shape).map(([name, field]) => {
    const schema = field as z.ZodType;
    const def = (schema as unknown as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
    return { name, type: typeName(schema), default: def.type === 'default' ? def.defaultValue : undefined, description: schema.description ?? '' };
  });
}
