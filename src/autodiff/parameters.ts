// Which initializers of a graph can be trained: float tensors that feed a slot a gradient rule differentiates.
import { DataType, graphOf, type Model } from './onnx-io.js';
import { gradientRules } from './rules/index.js';
import { differentiableSlots } from './rules/rule.js';

/** Float initializers used in a differentiable slot of some op (weights, biases, scales — not clip bounds or shapes), in graph order. */
export function trainableInitializers(model: Model): string[] {
  const graph = graphOf(model);
  const floats = new Set((graph.initializer ?? []).filter((t) => t.dataType === DataType.FLOAT).map((t) => t.name!));
  const used = new Set<string>();
  for (const node of graph.node ?? []) {
    const rule = node.domain ? undefined : gradientRules[node.opType!];
    if (!rule) continue;
    for (const i of differentiableSlots(rule, node)) {
      const input = node.input![i];
      if (input && floats.has(input)) used.add(input);
    }
  }
  return (graph.initializer ?? []).map((t) => t.name!).filter((n) => used.has(n));
}
