// Pieces shared by the models this library builds: value infos, constants of a graph, the opset they run at.
import { LensembleError } from '../util/errors.js';
import { int64TensorProto, toNumber, type Graph, type Model, type NodeProto, type TensorProto, type ValueInfo } from './onnx-io.js';
import type { ShapeMap } from './static-shapes.js';

/** Gradient graphs use ScatterElements(reduction=add) and LayerNormalization: opset 17 (18 changed the Reduce ops, Pad and Split). */
export const TRAINING_OPSET = 17;

const ELEM_TYPES: Record<string, number> = { float32: 1, int64: 7, float64: 11 };

export function valueInfo(name: string, dims: readonly number[] | undefined, type: keyof typeof ELEM_TYPES | string = 'float32'): ValueInfo {
  const elemType = ELEM_TYPES[type] ?? 1;
  return { name, type: { tensorType: { elemType, shape: dims ? { dim: dims.map((d) => ({ dimValue: d })) } : undefined } } };
}

/**
 * Initializers, Constant-node outputs and (given shapes) int64 values that the shape probe found fixed, by value
 * name.
 */
export function graphConstants(graph: Graph, shapes?: ShapeMap): Map<string, TensorProto> {
  const out = new Map<string, TensorProto>();
  for (const [name, shape] of shapes ?? []) if (shape.int64Value) out.set(name, int64TensorProto(name, shape.dims, shape.int64Value));
  for (const t of graph.initializer ?? []) out.set(t.name!, t);
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Constant' || node.domain) continue;
    const value = node.attribute?.find((a) => a.name === 'value')?.t;
    if (value) out.set(node.output![0], value);
  }
  return out;
}

/** The model's opsets with the default domain raised to {@link TRAINING_OPSET} (same semantics for opsets 13–17). */
export function trainingOpsets(model: Model, source = 'model'): Model['opsetImport'] {
  const imports = model.opsetImport ?? [];
  const main = imports.find((o) => !o.domain);
  const version = main ? toNumber(main.version) : 0;
  if (version < 13) throw new LensembleError(`ONNX opset ${version}: training graphs need opset 13 or later (re-export the model)`, source);
  if (version > TRAINING_OPSET) throw new LensembleError(`ONNX opset ${version}: training graphs support opsets 13–${TRAINING_OPSET}`, source);
  return [...imports.filter((o) => o.domain), { domain: '', version: TRAINING_OPSET }];
}

/** Copies of the graph's nodes (their output lists may grow when a rule asks for an extra forward output). */
export const cloneNodes = (graph: Graph): NodeProto[] => (graph.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])], output: [...(n.output ?? [])] }));

/** Every name a graph uses (values and nodes), so that builders pick fresh ones. */
export function namesIn(graph: Graph): Set<string> {
  const names = new Set<string>();
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) names.add(v.name!);
  for (const t of graph.initializer ?? []) names.add(t.name!);
  for (const n of graph.node ?? []) {
    if (n.name) names.add(n.name);
    for (const v of [...(n.input ?? []), ...(n.output ?? [])]) names.add(v);
  }
  return names;
}

/** The graph's inputs that are not initializers (the data it is fed). */
export function dataInputs(graph: Graph): ValueInfo[] {
  const inits = new Set((graph.initializer ?? []).map((t) => t.name!));
  return (graph.input ?? []).filter((i) => !inits.has(i.name!));
}

/** The nodes some output depends on (dead forward branches — an unused head, extra outputs — are dropped). */
export function liveNodes(nodes: readonly NodeProto[], outputs: readonly string[]): NodeProto[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => o && producer.set(o, i)));
  const live = new Set<number>();
  const stack = [...outputs];
  while (stack.length) {
    const i = producer.get(stack.pop()!);
    if (i === undefined || live.has(i)) continue;
    live.add(i);
    for (const input of nodes[i].input ?? []) if (input) stack.push(input);
  }
  return nodes.filter((_, i) => live.has(i));
}

/** Initializers some kept node reads. */
export function usedInitializers(initializers: readonly TensorProto[], nodes: readonly NodeProto[]): TensorProto[] {
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  return initializers.filter((t) => used.has(t.name!));
}
