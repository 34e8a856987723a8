import { readFileSync } from 'node:fs';
import type { BackboneSpec } from '../backbone/spec.js';
import { LensembleError } from '../util/errors.js';
import type { GraphBuilder } from './graph-builder.js';
import { AttributeType, decodeModel, onnx, toNumber, type GraphProto, type ModelProto, type NodeProto } from './onnx-io.js';

/** A backbone's ONNX graph, read once per file. */
export interface BackboneGraph {
  path: string;
  model: ModelProto;
  graph: GraphProto;
}

export function readBackboneGraph(path: string): BackboneGraph {
  const model = decodeModel(readFileSync(path), path);
  if (!model.graph) throw new LensembleError('ONNX model has no graph', path);
  return { path, model, graph: model.graph };
}

/** The nodes `output` depends on, in the graph's (topological) order. */
function nodesFor(graph: GraphProto, output: string, path: string): NodeProto[] {
  const producer = new Map<string, number>();
  (graph.node ?? []).forEach((n, i) => (n.output ?? []).forEach((o) => producer.set(o, i)));
  const keep = new Set<number>();
  const stack = [output];
  const seen = new Set<string>();
  while (stack.length) {
    const value = stack.pop()!;
    if (seen.has(value)) continue;
    seen.add(value);
    const i = producer.get(value);
    if (i === undefined) continue;
    keep.add(i);
    for (const input of graph.node![i].input ?? []) if (input) stack.push(input);
  }
  if (!producer.has(output)) throw new LensembleError(`no node computes the output "${output}"`, path);
  return (graph.node ?? []).filter((_, i) => keep.has(i));
}

/**
 * Appends the part of a backbone graph that computes `spec.featureOutput` from `spec.inputName`, fed from the
 * builder's value `input`. Values are renamed under `prefix` (one per member), weights under `weightsPrefix`
 * (one per backbone file, so members sharing a backbone share its weights). Returns the output's new name.
 */
export function appendBackbone(builder: GraphBuilder, backbone: BackboneGraph, spec: BackboneSpec, input: string, prefix: string, weightsPrefix: string): string {
  const { graph, path } = backbone;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const graphInputs = new Set((graph.input ?? []).map((i) => i.name!));
  if (!graphInputs.has(spec.inputName)) throw new LensembleError(`the model has no input "${spec.inputName}"`, path);
  const rename = (value: string): string => {
    if (!value) return value;
    if (value === spec.inputName) return input;
    if (initializers.has(value)) return weightsPrefix + value;
    if (graphInputs.has(value)) throw new LensembleError(`the graph input "${value}" is needed for the features but lensemble feeds only "${spec.inputName}"`, path);
    return prefix + value;
  };
  const used = new Set<string>();
  for (const node of nodesFor(graph, spec.featureOutput, path)) {
    for (const a of node.attribute ?? []) {
      if (a.type === AttributeType.GRAPH || a.type === AttributeType.GRAPHS) {
        throw new LensembleError(`node ${node.name || node.opType} has a subgraph (${node.opType}), which export cannot rename`, path);
      }
    }
    for (const value of node.input ?? []) if (initializers.has(value)) used.add(value);
    builder.add({ ...node, name: prefix + (node.name || `${node.opType}_${builder.nodes.length}`), input: (node.input ?? []).map(rename), output: (node.output ?? []).map(rename) });
  }
  for (const name of used) {
    const tensor = initializers.get(name)!;
    if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      throw new LensembleError(`initializer ${name} keeps its data in an external file; export needs a self-contained model`, path);
    }
    builder.addInitializer({ ...tensor, name: weightsPrefix + name });
  }
  return rename(spec.featureOutput);
}

/** The ai.onnx opset a graph was written for. */
export function defaultOpset(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return toNumber(entry?.version ?? 0);
}

/**
 * Pools the backbone output into one feature row per image, as `poolOutput` does by the output's rank: [N, D] as
 * is, [N, C, H, W] by global average pooling, [N, T, D] by the CLS token (or the token mean: 'mean-tokens').
 */
export function appendPooling(builder: GraphBuilder, output: string, rank: number, spec: BackboneSpec, opset: number, prefix: string): string {
  if (rank === 2) return output;
  if (rank === 4) return builder.op('Flatten', [builder.op('GlobalAveragePool', [output], {}, `${prefix}pool`)], { axis: 1 }, `${prefix}features`);
  if (rank !== 3) throw new LensembleError(`cannot pool a backbone output of rank ${rank}`, spec.name);
  if (spec.pooling !== 'mean-tokens') return builder.op('Gather', [output, builder.int64(`${prefix}cls_index`, [], [0])], { axis: 1 }, `${prefix}features`);
  return opset >= 18
    ? builder.op('ReduceMean', [output, builder.int64(`${prefix}token_axis`, [1], [1])], { keepdims: 0 }, `${prefix}features`)
    : builder.op('ReduceMean', [output], { axes: [1], keepdims: 0 }, `${prefix}features`);
}
