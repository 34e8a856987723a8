import { attributes, floatTensor, int64Tensor, type AttributeValue, type NodeProto, type TensorProto } from './onnx-io.js';

/** Collects the nodes and initializers of one ONNX graph, handing out names that do not collide. */
export interface GraphBuilder {
  nodes: NodeProto[];
  initializers: TensorProto[];
  /** A fresh value name starting with `hint`. */
  name(hint: string): string;
  /** Adds a node with one output (named from `hint`) and returns that output's name. */
  op(opType: string, inputs: string[], attrs?: Record<string, AttributeValue>, hint?: string): string;
  float(hint: string, dims: number[], data: ArrayLike<number>): string;
  int64(hint: string, dims: number[], values: number[]): string;
  /** Adds a node as it is (e.g. copied from another graph, already renamed). */
  add(node: NodeProto): void;
  /** Adds an initializer under its own name, once per name. */
  addInitializer(tensor: TensorProto): void;
}

export function createGraphBuilder(): GraphBuilder {
  const used = new Set<string>();
  const initializerNames = new Set<string>();
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const name = (hint: string): string => {
    let candidate = hint;
    for (let k = 1; used.has(candidate); k++) candidate = `${hint}_${k}`;
    used.add(candidate);
    return candidate;
  };
  const builder: GraphBuilder = {
    nodes,
    initializers,
    name,
    op(opType, inputs, attrs = {}, hint = opType.toLowerCase()) {
      const output = name(hint);
      nodes.push({ opType, name: name(`${hint}/${opType}`), input: inputs, output: [output], attribute: attributes(attrs) });
      return output;
    },
    float(hint, dims, data) {
      const n = name(hint);
      initializers.push(floatTensor(n, dims, data));
      return n;
    },
    int64(hint, dims, values) {
      const n = name(hint);
      initializers.push(int64Tensor(n, dims, values));
      return n;
    },
    add(node) {
      for (const n of [node.name ?? '', ...(node.output ?? [])]) if (n) used.add(n);
      nodes.push(node);
    },
    addInitializer(tensor) {
      if (initializerNames.has(tensor.name!)) return;
      initializerNames.add(tensor.name!);
      used.add(tensor.name!);
      initializers.push(tensor);
    },
  };
  return builder;
}
