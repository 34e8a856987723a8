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

/**
 * Exporters deduplicate initializers that happen to hold equal values (zero biases, unit norm scales) and alias
 * the copies with `Identity(initializer)` nodes, which would tie independent parameters together in training.
 * This gives every alias its own initializer (named as the Identity output, the original parameter's name) and
 * drops those Identity nodes; the graph computes the same, and each parameter trains on its own.
 */
export function untieInitializerAliases(model: Model): Model {
  const graph = graphOf(model);
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const outputs = new Set((graph.output ?? []).map((o) => o.name!));
  const aliases = (graph.node ?? []).filter((n) => n.opType === 'Identity' && !n.domain && inits.has(n.input![0]) && !outputs.has(n.output![0]));
  if (!aliases.length) return model;
  const dropped = new Set(aliases);
  const copies = aliases.map((n) => ({ ...inits.get(n.input![0])!, name: n.output![0] }));
  return { ...model, graph: { ...graph, node: (graph.node ?? []).filter((n) => !dropped.has(n)), initializer: [...(graph.initializer ?? []), ...copies] } };
}
